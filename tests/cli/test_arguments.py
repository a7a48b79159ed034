"""Bad numbers and types given to commands and to the Python API: a usage error naming the option
(argparse, exit 2) or one line naming the field (exit 2); never a traceback, a silently changed
value, or an allocation of gigabytes."""

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

import effnet
from effnet.cli import main
from effnet.data import Preprocess
from effnet.spec import EFFICIENTNET_B0
from effnet.train import TrainConfig
from effnet.train.config import apply_overrides
from effnet.weights import save_model
from tests.cli.test_errors import fails_with
from tests.data.test_images import png_header

B0 = ["--model", "efficientnet_b0"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("arguments")
    model = effnet.create_model("efficientnet_b0", num_classes=3)
    return save_model(root / "b0.safetensors", model, ["a", "b", "c"], Preprocess(32))


def usage_error(capsys, argv, fragment):
    """argparse's refusal: exit 2, one line naming the option and the reason."""
    assert main(argv) == 2
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert err.startswith(f"effnet {argv[0]}: error: argument "), err
    assert fragment in err, err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["quantize", *B0, "--calibration-size", "0"], "--calibration-size: must be at least 1"),
        (["export", *B0, "--resolution", "100000"], "--resolution: must be in [1, 8192], got 1"),
        (["export", *B0, "--resolution", "0"], "--resolution: must be in [1, 8192], got 0"),
        (["export", *B0, "--tolerance", "nan"], "--tolerance: must be a finite number at least 0"),
        (["export", *B0, "--threads", "-2"], "--threads: must be in [1, 1024], got -2"),
        (["predict", "x.png", "--weights", "w", "--threads", "100000"], "must be in [1, 1024]"),
        (["eval", "data", "--weights", "w", "--threads", "100000"], "must be in [1, 1024]"),
        (["serve", "--weights", "w", "--threads", "0"], "--threads: must be in [1, 1024], got 0"),
        (["pick", "--threads", "-1"], "--threads: must be in [1, 1024], got -1"),
        (["bench", "efficientnet_b0", "--threads", "5000"], "--threads: must be in [1, 1024]"),
        (["bench", "efficientnet_b0", "--runs", "0"], "--runs: must be at least 1, got 0"),
        (["bench", "efficientnet_b0", "--batch-size", "1e9"], "expected an integer, got '1e9'"),
        (["bench", "efficientnet_b0", "--warmup", "-1"], "--warmup: must be at least 0"),
        (["predict", "x.png", "--weights", "w", "--top-k", "0"], "--top-k: must be at least 1"),
        (["predict", "x.png", "--weights", "w", "--workers", "100000"], "must be in [0, 64]"),
        (["cam", "x.png", "--weights", "w", "--size", "0"], "--size: must be in [16, 4096]"),
        (["detect", "x.png", "--weights", "w", "--threshold", "nan"], "finite number"),
        (["profile", "efficientnet_b0", "--resolution", "-5"], "must be in [1, 8192], got -5"),
        (["scale", "--phi", "nan"], "--phi: must be a finite number, got nan"),
        (["scale", "--alpha", "0", "--phi", "1"], "--alpha: must be a finite number above 0"),
        (["scale", "--width", "inf"], "--width: must be a finite number above 0, got inf"),
        (["scale", "--phi", "1", "--image-size", "40000"], "--image-size: must be in [1, 8192]"),
    ],
)
def test_numbers_out_of_range_are_a_usage_error_naming_the_option(capsys, argv, fragment):
    usage_error(capsys, argv, fragment)


def test_an_opset_the_exporter_cannot_write_is_one_line(capsys, tmp_path):
    out = str(tmp_path / "b0.onnx")
    for exporter, opset, range_ in (("legacy", "3", "7 to 20"), ("dynamo", "12", "18 to 23")):
        argv = ["export", *B0, "--exporter", exporter, "--opset", opset, "--out", out]
        fails_with(capsys, argv, f"--opset {opset}", f"writes opsets {range_}")
    assert not list(tmp_path.iterdir())


def test_an_export_too_big_to_run_is_refused_before_it_is_traced(capsys, checkpoint, tmp_path):
    """8192 px passes the option's own range; B0 at 8192 px makes 1.6G-value feature maps."""
    argv = ["export", "--weights", str(checkpoint), "--format", "torchscript", "--no-check",
            "--resolution", "8192", "--out", str(tmp_path / "b0.pt")]  # fmt: skip
    fails_with(capsys, argv, "feature map of 1,610,612,736 values", "stages[1]")
    assert not list(tmp_path.iterdir())


def test_bench_bounds_the_batch_it_would_feed(capsys):
    """100000 B0 inputs at 224 px: 60 GB for the input alone, refused before a model is built."""
    argv = ["bench", "efficientnet_b0", "--backend", "eager", "--batch-size", "100000"]
    fails_with(capsys, argv, "a batch of 100000 images", "feature maps of 120,422,400,000 values")
    argv = ["bench", "efficientnet_b0", "--backend", "eager", "--resolution", "8000"]
    fails_with(capsys, argv, "at 8000 px makes a feature map of")


def test_profile_bounds_the_network_it_would_build(capsys, tmp_path):
    fails_with(capsys, ["profile", "efficientnet_b0", "--resolution", "8192"], "feature map")
    spec = EFFICIENTNET_B0.to_dict()
    for stage in spec["stages"]:
        stage.update(out_channels=65536, repeats=1000)  # each within its bound, 10^13 in all
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(spec))
    argv = ["profile", str(path), "--no-cross-check"]
    fails_with(capsys, argv, "huge.json is not a valid spec", "parameters", "the limit is")


def test_detect_calls_a_decompression_bomb_unreadable(capsys, tmp_path):
    bomb = png_header(tmp_path / "bomb.png", 100_000, 100_000)
    argv = ["detect", str(bomb), "--weights", str(tmp_path / "det.safetensors")]
    fails_with(capsys, argv, "bomb.png is not a readable image")


# ---- the Python API ------------------------------------------------------------------------
def test_predict_takes_images_in_memory_as_it_takes_files(checkpoint, chelsea_png):
    """A PIL image, a uint8 HWC array and CHW / NCHW uint8 tensors of a real photograph get the
    answer its file gets (before, each was taken for a file name that does not exist)."""
    model, _ = effnet.weights.load_model(checkpoint)
    expected = effnet.predict(model, chelsea_png, top_k=3)[0]
    image = Image.open(chelsea_png).convert("RGB")
    pixels = np.array(image)
    chw = torch.from_numpy(pixels).permute(2, 0, 1)
    for given in (image, pixels, chw, chw[None].repeat(2, 1, 1, 1), [image, pixels]):
        found = effnet.predict(model, given, top_k=3)
        assert len(found) == (2 if getattr(given, "ndim", 0) == 4 or isinstance(given, list) else 1)
        for i, prediction in enumerate(found):
            assert str(prediction.path) == f"image[{i}]"
            assert prediction.indices == expected.indices
            assert prediction.probabilities == pytest.approx(expected.probabilities, abs=1e-6)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (42, "cannot predict on a int"),
        (np.zeros((8, 8, 3), np.float32), "ndarray of shape (8, 8, 3) and dtype float32"),
        (torch.zeros(5), "Tensor of shape (5,)"),
        (torch.full((3, 8, 8), 2.0), "a float image tensor must hold pixels in [0, 1]"),
    ],
)
def test_predict_refuses_what_is_no_image_naming_its_type(checkpoint, given, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        effnet.predict(str(checkpoint), given)


# ---- training configs: nothing given is silently ignored --------------------------------------
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["epochs=3", "epochs=5"], "override key 'epochs' is given twice (epochs=3 and epochs=5)"),
        (["dataset=digits", "minival_size=100000"], "minival_size does nothing on digits"),
        (["output_dir="], "output_dir must name a folder, got ''"),
        (["lr_per_256=nan"], "override lr_per_256='nan': expected a finite float"),
        (["image_size=100000"], "image_size must be in [8, 8192], got 100000"),
    ],
)
def test_overrides_that_would_be_ignored_or_misread_are_refused(overrides, message):
    with pytest.raises(ValueError) as caught:
        apply_overrides(TrainConfig(), overrides)
    assert message in str(caught.value)


def test_train_refuses_a_repeated_override_in_one_line(capsys):
    argv = ["train", "--config", "configs/b0_digits.py", "--override", "schedule.epochs=1",
            "schedule.epochs=2"]  # fmt: skip
    fails_with(capsys, argv, "override key 'schedule.epochs' is given twice")


# ---- checkpoint headers: bounded before the model is built -------------------------------------
def rewrite_spec(checkpoint, path, spec):
    """``checkpoint``'s weights under a header whose spec is ``spec``."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(checkpoint), framework="pt") as f:
        meta = {**f.metadata(), "spec": json.dumps(spec)}
    save_file(load_file(str(checkpoint)), str(path), metadata=meta)
    return str(path)


def test_a_header_spec_huge_in_total_is_one_line_naming_field_and_count(
    capsys, checkpoint, tmp_path
):
    spec = EFFICIENTNET_B0.to_dict()
    for stage in spec["stages"]:
        stage.update(out_channels=65536, repeats=1000)  # the old bounds allowed it: 10^14 weights
    weights = rewrite_spec(checkpoint, tmp_path / "huge.safetensors", spec)
    argv = ["predict", "--weights", weights, str(tmp_path / "x.png")]
    (tmp_path / "x.png").write_bytes(b"never read")
    fails_with(capsys, argv, "header field 'spec' is invalid", "393,036,873,457,707 parameters")


def test_a_header_describing_a_model_larger_than_its_weights_is_refused(
    capsys, checkpoint, tmp_path
):
    """B7's spec over B0's 4M weights: refused before B7 (64M parameters) is built."""
    b7 = effnet.registry.get_spec("efficientnet_b7").to_dict()
    weights = rewrite_spec(checkpoint, tmp_path / "b7.safetensors", b7)
    (tmp_path / "x.png").write_bytes(b"never read")
    argv = ["predict", "--weights", weights, str(tmp_path / "x.png")]
    fails_with(capsys, argv, "describes a model of 63,", "parameters but the file holds 4,")


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ([3, 100_000, 100_000], "holds over 268,435,456 values per image"),
        ([3, True, 224], "is not (channels, height, width)"),
        ([3, 224.5, 224], "is not (channels, height, width)"),
    ],
)
def test_a_deployed_files_input_shape_is_bounded(shape, message):
    """What a reader of an exported file allocates comes from its metadata: bounded like a
    feature map (an input is one)."""
    from effnet.deploy.metadata import ArtifactError, ArtifactInfo

    info = ArtifactInfo("b0", ("a",), Preprocess(224), "fp32", "onnx", (3, 224, 224)).to_dict()
    info["input"]["shape"] = shape
    with pytest.raises(ArtifactError, match=re.escape(message)):
        ArtifactInfo.from_dict(info, "b0.onnx")
    info["input"]["shape"], info["preprocess"]["std"] = [3, 224, 224], [0.2, 0.0, 0.2]
    with pytest.raises(ArtifactError, match="std must be positive"):
        ArtifactInfo.from_dict(info, "b0.onnx")
