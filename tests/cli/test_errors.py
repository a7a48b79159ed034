"""Bad input to eval / predict / cam / export / finetune: one clear line, no traceback, exit 2."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import save_file

import effnet
from effnet.cli import main
from effnet.data import Preprocess
from effnet.weights import save_model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    model = effnet.create_model("efficientnet_b0", num_classes=3)
    ckpt = save_model(root / "b0.safetensors", model, ["a", "b", "c"], Preprocess(32))
    plain_b3 = root / "b3_plain.safetensors"
    b3 = effnet.create_model("efficientnet_b3", num_classes=3)
    save_file({k: v.contiguous() for k, v in b3.state_dict().items()}, str(plain_b3))
    good = root / "good.png"
    Image.fromarray(np.full((20, 20, 3), 128, np.uint8)).save(good)
    corrupt = root / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    empty = root / "empty"
    empty.mkdir()
    no_images = root / "no_images" / "a"
    no_images.mkdir(parents=True)
    (no_images / "notes.txt").write_text("not an image")
    bad_folder = root / "with_corrupt"
    for name in ("a", "b"):
        (bad_folder / name).mkdir(parents=True)
        Image.fromarray(np.zeros((20, 20), np.uint8)).save(bad_folder / name / "ok.png")
    (bad_folder / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    all_bad = root / "all_corrupt"
    (all_bad / "a").mkdir(parents=True)
    (all_bad / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    foreign = root / "foreign_classes"
    (foreign / "zebra").mkdir(parents=True)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(foreign / "zebra" / "z.png")
    return dict(
        root=root,
        ckpt=str(ckpt),
        plain_b3=str(plain_b3),
        good=str(good),
        corrupt=str(corrupt),
        empty=str(empty),
        no_images=str(no_images.parent),
        bad_folder=str(bad_folder),
        all_bad=str(all_bad),
        foreign=str(foreign),
    )


def fails_with(capsys, argv, *fragments):
    """Exit code 2 and a single stderr line that contains every fragment."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"effnet {argv[0]}: error: "), err
    for fragment in fragments:
        assert fragment in err, err


def test_missing_files(capsys, files, tmp_path):
    missing = str(tmp_path / "nope.png")
    fails_with(
        capsys, ["predict", "--weights", files["ckpt"], missing], "nope.png", "does not exist"
    )
    fails_with(
        capsys,
        ["predict", "--weights", str(tmp_path / "w.safetensors"), files["good"]],
        "w.safetensors does not exist",
    )
    fails_with(
        capsys,
        ["eval", "--weights", files["ckpt"], str(tmp_path / "nodata")],
        "nodata does not exist",
    )
    fails_with(capsys, ["cam", missing, "--weights", files["ckpt"]], "does not exist")
    fails_with(capsys, ["export", "--weights", str(tmp_path / "gone.pt")], "gone.pt does not exist")
    fails_with(
        capsys,
        ["predict", "--weights", files["ckpt"], str(tmp_path / "*.png")],
        "no image files match",
    )


def test_corrupt_images(capsys, files):
    """A named image must be readable; eval skips an unreadable one in its folder, naming it."""
    fails_with(
        capsys,
        ["predict", "--weights", files["ckpt"], files["good"], files["corrupt"]],
        "corrupt.png is not a readable image",
    )
    fails_with(
        capsys,
        ["cam", files["corrupt"], "--weights", files["ckpt"]],
        "corrupt.png is not a readable image",
    )
    eval_argv = ["eval", "--weights", files["ckpt"], "--no-progress", "--confusion", "none"]
    assert main([*eval_argv, files["bad_folder"]]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    (warning,) = captured.err.strip().splitlines()  # one line, naming the file
    assert warning.startswith("warning: skipping unreadable image ") and "broken.jpg" in warning
    assert "2 images from" in captured.out and "skipped 1 unreadable images" in captured.out
    # Nothing readable at all: no accuracy to report, one error line after the file's warning.
    assert main([*eval_argv, files["all_bad"]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err) and len(err) == 2
    assert err[0].startswith("warning: skipping unreadable image ") and "broken.jpg" in err[0]
    assert err[1].startswith("effnet eval: error: none of the 1 images in ")
    assert "could be read (first: " in err[1] and "broken.jpg" in err[1]


def test_folders_without_images(capsys, files):
    fails_with(
        capsys, ["predict", "--weights", files["ckpt"], files["empty"]], "no images in folder"
    )
    fails_with(capsys, ["eval", "--weights", files["ckpt"], files["empty"]], "no class folders")
    fails_with(
        capsys,
        ["eval", "--weights", files["ckpt"], files["no_images"]],
        "no images in the class folders",
    )
    fails_with(
        capsys,
        ["eval", "--weights", files["ckpt"], files["foreign"]],
        "zebra",
        "not classes of the model",
    )


def test_checkpoint_for_another_model(capsys, files):
    fails_with(
        capsys,
        ["predict", "--model", "efficientnet_b1", "--weights", files["ckpt"], files["good"]],
        "checkpoint for efficientnet_b0, not efficientnet_b1",
    )
    fails_with(
        capsys,
        ["eval", "--model", "efficientnet_b2", "--weights", files["ckpt"], files["foreign"]],
        "not efficientnet_b2",
    )
    # A plain state dict of B3 loaded as B0: the first mismatching tensor is named with both
    # shapes (B0's first block works on the stem's 32 channels, paper Table 1; B3's on 40).
    fails_with(
        capsys,
        ["predict", "--model", "efficientnet_b0", "--weights", files["plain_b3"], files["good"]],
        "has shape (40,) but the model expects (32,)",
        "different model",
    )
    fails_with(
        capsys,
        ["finetune", files["bad_folder"], "--model", "efficientnet_b3", "--weights", files["ckpt"]],
        "not efficientnet_b3",
    )
    fails_with(
        capsys,
        ["export", "--model", "efficientnet_b7", "--weights", files["ckpt"]],
        "not efficientnet_b7",
    )


def test_other_wrong_arguments(capsys, files, tmp_path):
    fails_with(
        capsys,
        ["predict", "--weights", "efficientnet_b0.no_such_tag", files["good"]],
        "unknown weights 'efficientnet_b0.no_such_tag'",
        "efficientnet_b0.tv_in1k",  # the message lists the registered names
    )
    fails_with(
        capsys,
        ["predict", "--weights", files["corrupt"], files["good"]],
        "not an effnet checkpoint",
        "--model",
    )
    fails_with(
        capsys,
        ["cam", files["good"], "--weights", files["ckpt"], "--class", "zebra"],
        "'zebra' is not a class",
    )
    fails_with(
        capsys, ["finetune", str(tmp_path / "none"), "--weights", files["ckpt"]], "does not exist"
    )
    fails_with(  # argparse's own refusal, naming the option
        capsys,
        ["predict", "--weights", files["ckpt"], files["good"], "--top-k", "0"],
        "argument --top-k: must be at least 1",
    )


def test_real_console_script_prints_one_line(files):
    """The same through a subprocess: what a user at a shell sees."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "effnet.cli",
            "predict",
            "--weights",
            files["ckpt"],
            files["corrupt"],
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    message = result.stderr.strip()
    assert message.startswith(f"effnet predict: error: {files['corrupt']} is not a readable image")
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert result.stdout == ""
