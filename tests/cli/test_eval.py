"""``effnet eval`` on folders of real photographs: summary, JSON, confusion PNG, skipped files."""

import json

import pytest
from PIL import Image
from skimage import data as skdata

from effnet.cli import main
from tests.use.checkpoints import biased, photo_folder, truncated_jpeg


@pytest.fixture(scope="module")
def always_coffee(tmp_path_factory):
    return str(biased(tmp_path_factory.mktemp("biased") / "b0.safetensors"))


def eval_argv(weights, data, *more):
    return ["eval", "--weights", weights, str(data), "--no-progress", *more]


def test_eval_command_writes_json_and_confusion_png(always_coffee, tmp_path, capsys):
    for name, photo in (("cat", skdata.chelsea()), ("coffee", skdata.coffee())):
        (tmp_path / "data" / name).mkdir(parents=True)
        Image.fromarray(photo).save(tmp_path / "data" / name / "x.png")
    out_json, out_png = tmp_path / "r.json", tmp_path / "cm.png"
    argv = eval_argv(always_coffee, tmp_path / "data", "--json", str(out_json))
    assert main([*argv, "--confusion", str(out_png)]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "top-1 50.00%" in printed and "top-3 100.00%" in printed
    assert printed.splitlines()[0] == f"efficientnet_b0 from {always_coffee}"
    assert f"results: {out_json}" in printed and f"confusion matrix: {out_png}" in printed
    assert "skipped" not in printed and captured.err == ""
    report = json.loads(out_json.read_text())
    assert report["top1"] == 0.5 and report["top3"] == 1.0
    assert report["per_class"]["cat"]["accuracy"] == 0.0
    assert report["per_class"]["coffee"]["accuracy"] == 1.0
    assert report["skipped_images"] == 0 and report["skipped_files"] == []
    assert Image.open(out_png).size[0] >= 400


def test_unreadable_images_are_skipped_named_and_counted(always_coffee, tmp_path, capsys):
    root = photo_folder(tmp_path / "data", {"cat": 2, "coffee": 3})
    broken = truncated_jpeg(root / "coffee" / "broken.jpg")
    out_json = tmp_path / "r.json"
    argv = eval_argv(always_coffee, root, "--json", str(out_json), "--confusion", "none")
    assert main(argv) == 0
    captured = capsys.readouterr()
    (warning,) = captured.err.splitlines()
    assert warning.startswith(f"warning: skipping unreadable image {broken} (OSError: ")
    assert "Traceback" not in captured.err
    assert "5 images from" in captured.out and "top-1 60.00%" in captured.out
    assert "skipped 1 unreadable images" in captured.out
    report = json.loads(out_json.read_text())
    assert report["num_images"] == 5 and report["skipped_images"] == 1
    assert report["skipped_files"] == [str(broken)]
    assert not (tmp_path / "confusion_matrix.png").exists()


def test_json_to_stdout_is_only_json(always_coffee, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = photo_folder(tmp_path / "data", {"coffee": 2})
    assert main(eval_argv(always_coffee, root, "--json", "-")) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_images"] == 2 and report["per_class"] == {
        "coffee": {"accuracy": 1.0, "correct": 2, "total": 2}
    }  # fmt: skip
    assert list(tmp_path.glob("*.png")) == []  # no picture dropped in the working folder


def test_the_confusion_matrix_goes_beside_the_json_report(always_coffee, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = photo_folder(tmp_path / "data", {"coffee": 2})
    report = tmp_path / "out" / "eval.json"
    assert main(eval_argv(always_coffee, root, "--json", str(report))) == 0
    assert (tmp_path / "out" / "eval_confusion.png").is_file()
    assert list(tmp_path.glob("*.png")) == []


def test_workers_and_batch_size_are_checked(always_coffee, tmp_path, capsys):
    root = photo_folder(tmp_path / "data", {"coffee": 1})
    assert main(eval_argv(always_coffee, root, "--workers", "-1")) == 2
    assert "argument --workers: must be at least 0, got -1" in capsys.readouterr().err
    assert main(eval_argv(always_coffee, root, "--batch-size", "0")) == 2
    assert "batch size must be >= 1" in capsys.readouterr().err
