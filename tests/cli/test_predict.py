"""``effnet predict`` on real photographs: JSON and text output, folders with unreadable files."""

import json

import pytest
import torch
from PIL import Image
from skimage import data as skdata

from effnet.cli import main
from tests.use.checkpoints import biased, photo_folder, truncated_jpeg


@pytest.fixture(scope="module")
def always_coffee(tmp_path_factory):
    return str(biased(tmp_path_factory.mktemp("biased") / "b0.safetensors"))


def test_predict_command_prints_json_with_checkpoint_class_names(always_coffee, tmp_path, capsys):
    Image.fromarray(skdata.coffee()).save(tmp_path / "cup.png")
    argv = ["predict", "--weights", always_coffee, str(tmp_path / "*.png"), "--json"]
    assert main([*argv, "--top-k", "2"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert [t["label"] for t in entry["top"]] == ["coffee", "cat"]
    expected = torch.tensor([0.0, 1.0, 5.0]).softmax(0)
    assert entry["top"][0]["probability"] == pytest.approx(float(expected[2]), rel=1e-5)


def test_text_output_is_one_line_per_image_in_the_order_typed(always_coffee, tmp_path, capsys):
    root = photo_folder(tmp_path, {"cat": 2})
    single = root / "cat" / "1.png"
    argv = ["predict", "--weights", always_coffee, str(single), str(root)]
    assert main([*argv, "--top-k", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{single}: coffee 97.6%", f"{root / 'cat' / '0.png'}: coffee 97.6%"]


def test_an_unreadable_file_in_a_folder_is_skipped_with_a_warning(always_coffee, tmp_path, capsys):
    root = photo_folder(tmp_path, {"cat": 2})
    broken = truncated_jpeg(root / "cat" / "broken.jpg")
    assert main(["predict", "--weights", always_coffee, str(root), "--json"]) == 0
    captured = capsys.readouterr()
    assert [entry["path"] for entry in json.loads(captured.out)] == [
        str(root / "cat" / "0.png"),
        str(root / "cat" / "1.png"),
    ]
    warning, count = captured.err.splitlines()
    assert warning.startswith(f"warning: skipping unreadable image {broken} (OSError: ")
    assert count == "skipped 1 unreadable images"
    # Named on the command line, the same file is an error (tests/cli/test_errors.py).
    assert main(["predict", "--weights", always_coffee, str(root), str(broken)]) == 2
    assert f"{broken} is not a readable image" in capsys.readouterr().err
