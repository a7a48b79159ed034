"""``effnet cam``: the Figure 7 picture of a real photograph, one panel per model."""

import numpy as np
import pytest
import torch
from PIL import Image

import effnet
from effnet.cli import main
from effnet.cli.cam import _class_index
from effnet.data import Preprocess
from effnet.use.cam import TITLE_BAND_PX, crop_box, crop_note, model_view
from effnet.weights import save_model
from effnet.weights.imagenet_classes import IMAGENET1K_CLASSES
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


# ------------------------------------------------------------------------------------------------
# --class that is not a class: the close names, or how to list them
# ------------------------------------------------------------------------------------------------
def test_a_misspelt_imagenet_class_lists_the_close_names():
    names = list(IMAGENET1K_CLASSES)
    with pytest.raises(ValueError) as caught:
        _class_index("coffe", names, "b0.safetensors")
    message = str(caught.value)
    assert "--class 'coffe' is not a class of the model; close: " in message
    assert "'coffee mug'" in message and "'coffeepot'" in message
    assert "tench" not in message and "\n" not in message  # not the first classes of the list
    for typed, meant in [
        ("Coffee Mug", "coffee mug"),
        ("espreso", "espresso"),
        ("dog", "Maltese dog"),
    ]:
        with pytest.raises(ValueError, match=f"close: .*'{meant}'"):
            _class_index(typed, names)
    with pytest.raises(ValueError, match=r"close: .*'sports car'"):
        _class_index("car", names)


def test_a_class_name_like_none_says_how_to_list_the_classes():
    with pytest.raises(ValueError) as caught:
        _class_index("xyzzy", list(IMAGENET1K_CLASSES), "b0.safetensors")
    message = str(caught.value)
    assert "no name is close; give an index 0-999, or list the names with: python -c" in message
    command = message.split("python -c ", 1)[1].strip('"')
    assert "effnet.load('b0.safetensors').class_names" in command
    with pytest.raises(
        ValueError, match="'xyzzy' is not a class of the model; its classes: cat, dog"
    ):
        _class_index("xyzzy", CLASSES)  # a few classes are simply listed


def test_cam_command_names_the_close_class(checkpoint, chelsea_png, tmp_path, capsys):
    argv = ["cam", str(chelsea_png), "--weights", str(checkpoint), "--class", "Dgo"]
    assert main([*argv, "--out", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "effnet cam: error: --class 'Dgo' is not a class of the model; close: 'dog'"
    assert not (tmp_path / "c.png").exists()


# ------------------------------------------------------------------------------------------------
# A map covers the centre crop the model saw, which a wide image's figure outlines
# ------------------------------------------------------------------------------------------------
def test_crop_box_is_the_region_the_model_sees(chelsea_png):
    photo = Image.open(chelsea_png)
    left, top, right, bottom = crop_box(photo.size, PRE)
    assert photo.size == (451, 300) and right - left == pytest.approx(bottom - top)
    seen = np.asarray(model_view(photo, PRE)).astype(float)

    def distance(dx: float = 0, dy: float = 0) -> float:
        """Mean pixel difference between the view and the box moved by (dx, dy), resampled."""
        moved = (left + dx, top + dy, right + dx, bottom + dy)
        region = photo.crop(moved).resize(seen.shape[:2], Image.BICUBIC)
        return float(np.abs(np.asarray(region).astype(float) - seen).mean())

    # The box matches the view better than the same box 5 px off in any direction (resampling
    # paths differ, so not to the pixel value), and far better than the whole photo.
    assert distance() < 10
    assert all(distance(dx, dy) > distance() + 3 for dx, dy in [(-5, 0), (5, 0), (0, -5), (0, 5)])
    whole = photo.resize(seen.shape[:2], Image.BICUBIC)
    assert np.abs(np.asarray(whole).astype(float) - seen).mean() > 3 * distance()
    assert crop_note((96, 96), Preprocess(96, 1.0)) is None  # the crop is the image
    assert crop_note(photo.size, PRE) == (
        f"the map covers the centre crop the model saw, {right - left:.0f}x{bottom - top:.0f} px "
        "of the 451x300 image"
    )


def yellow_columns(panel: np.ndarray) -> list[int]:
    yellow = (panel[..., 0] > 200) & (panel[..., 1] > 200) & (panel[..., 2] < 90)
    return [int(x) for x in np.flatnonzero(yellow.sum(axis=0) > 0.5 * panel.shape[0] * 0.6)]


def test_cam_of_a_wide_image_says_so_and_outlines_the_crop(
    checkpoint, chelsea_png, tmp_path, capsys
):
    out, size = tmp_path / "wide.png", 160
    argv = ["cam", str(chelsea_png), "--weights", str(checkpoint), "--out", str(out)]
    assert main([*argv, "--size", str(size)]) == 0
    printed = capsys.readouterr().out
    assert (
        "; the map covers the centre crop the model saw, 264x264 px of the 451x300 image\n"
        in printed
    )
    assert f"wrote {out} (the yellow box is the crop the maps cover)" in printed
    picture = np.asarray(Image.open(out).convert("RGB")).astype(float)
    image_panel = picture[TITLE_BAND_PX:, :size]
    # The whole photo, letterboxed: 160 x 106 px in the middle of the panel, white above and below.
    assert image_panel[:20].min() > 250 and image_panel[-20:].min() > 250
    assert image_panel[size // 2].std() > 5
    # Its crop outlined: two yellow edges near x = 93 and 358 of the 451 px photo.
    left, _, right, _ = crop_box((451, 300), PRE)
    columns = yellow_columns(image_panel)
    assert columns and min(columns) == pytest.approx(left * size / 451, abs=2.5)
    assert max(columns) == pytest.approx(right * size / 451, abs=2.5)
    assert all(abs(x - left * size / 451) < 3 or abs(x - right * size / 451) < 3 for x in columns)
