"""``effnet cam``: the Figure 7 picture of a real photograph, one panel per model."""

import numpy as np
import pytest
import torch
from PIL import Image

import effnet
from effnet.cli import main
from effnet.cli.cam import _class_index
from effnet.data import Preprocess
from effnet.use.cam import TITLE_BAND_PX
from effnet.weights import save_model
from tests.use.checkpoints import with_bn_from
from tests.use.test_cam import CLASSES, PRE


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    net = with_bn_from(effnet.create_model("efficientnet_b0", num_classes=len(CLASSES)), PRE)
    return save_model(tmp_path_factory.mktemp("ckpt") / "cam.safetensors", net, CLASSES, PRE)


def test_cam_command_writes_a_figure_of_the_expected_size(
    checkpoint, chelsea_png, tmp_path, capsys
):
    out = tmp_path / "cam.png"
    size = 160
    argv = ["cam", str(chelsea_png), "--weights", str(checkpoint), "--out", str(out)]
    assert main([*argv, "--size", str(size)]) == 0
    printed, warned = capsys.readouterr()
    assert f"wrote {out}" in printed and "cam of class" in printed
    assert "warning" not in warned  # a 3x3 map at 96 px is a map
    picture = np.asarray(Image.open(out).convert("RGB")).astype(float)
    assert picture.shape == (size + TITLE_BAND_PX, 2 * size, 3)
    image_panel = picture[TITLE_BAND_PX:, :size]
    overlay = picture[TITLE_BAND_PX:, size:]
    tint = overlay - image_panel  # the heat map's contribution
    assert tint.std() > 5  # the overlay varies across the image: the map is not constant
    assert image_panel.std() > 5  # the photo is drawn too


def test_cam_command_compares_models_side_by_side_with_grad_cam(checkpoint, chelsea_png, tmp_path):
    out = tmp_path / "two.png"
    argv = [
        "cam",
        str(chelsea_png),
        "--weights",
        str(checkpoint),
        str(checkpoint),
        "--out",
        str(out),
    ]
    assert main([*argv, "--size", "64", "--method", "gradcam", "--class", "dog"]) == 0
    assert Image.open(out).size == (3 * 64, 64 + TITLE_BAND_PX)


def test_default_output_is_named_after_the_image(
    checkpoint, chelsea_png, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    assert main(["cam", str(chelsea_png), "--weights", str(checkpoint), "--class", "2"]) == 0
    assert "of class 'cup' (index 2" in capsys.readouterr().out
    assert Image.open(tmp_path / "chelsea_cam.png").size == (2 * 320, 320 + TITLE_BAND_PX)


def test_class_is_a_name_or_an_index():
    assert _class_index(None, CLASSES) is None
    assert _class_index("cup", CLASSES) == 2 and _class_index("3", CLASSES) == 3
    with pytest.raises(ValueError, match="--class 4 is out of range for 4 classes"):
        _class_index("4", CLASSES)
    with pytest.raises(ValueError, match="'zebra' is not a class of the model"):
        _class_index("zebra", CLASSES)


def test_cam_of_a_model_run_at_24_px_warns_that_the_map_is_flat(chelsea_png, tmp_path, capsys):
    tiny = Preprocess(24, 1.0)
    net = effnet.create_model("efficientnet_b0", num_classes=len(CLASSES))
    weights = save_model(tmp_path / "digits.safetensors", net, CLASSES, tiny)
    argv = ["cam", str(chelsea_png), "--weights", str(weights), "--out", str(tmp_path / "c.png")]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "1x1" in err and "flat colour" in err
