"""Class activation maps (paper Figure 7) on a real photograph: the math, the view, the PNG."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import effnet
from effnet.data import Preprocess, eval_transform
from effnet.use.cam import (
    TITLE_BAND_PX,
    cam_for_image,
    class_activation_map,
    degenerate,
    grad_cam,
    model_view,
    render_cam_figure,
)
from effnet.weights import save_model
from tests.use.checkpoints import with_bn_from

PRE = Preprocess(resolution=96, crop_pct=0.875, interpolation="bicubic")
CLASSES = ["cat", "dog", "cup", "person"]


@pytest.fixture(scope="module")
def photo(chelsea_png):
    return chelsea_png


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = effnet.create_model("efficientnet_b0", num_classes=len(CLASSES))
    # Batch-norm statistics from a real photo, so the features have a realistic scale.
    return with_bn_from(net, PRE)


@pytest.fixture(scope="module")
def checkpoint(model, tmp_path_factory):
    return save_model(tmp_path_factory.mktemp("ckpt") / "cam.safetensors", model, CLASSES, PRE)


def image_tensor(photo):
    return eval_transform(PRE)(Image.open(photo))[None]


def test_cam_is_the_classifier_weighted_sum_of_the_last_feature_maps(model, photo):
    x = image_tensor(photo)
    result = class_activation_map(model, x)

    with torch.no_grad():
        features = model.forward_features(x)[0]  # (1280, 3, 3) for 96 px
        logits = model(x)[0]
    top = int(logits.argmax())
    weights = model.classifier.weight[top].detach()
    expected = (weights[:, None, None] * features).sum(dim=0)
    assert result.class_index == top
    assert result.probability == pytest.approx(float(logits.softmax(0)[top]), rel=1e-5)
    assert features.shape == (1280, 3, 3) and result.raw.shape == (3, 3)
    torch.testing.assert_close(result.raw, expected, rtol=1e-4, atol=1e-5)
    # The defining property of CAM: its spatial mean plus the bias is the class logit.
    assert float(expected.mean() + model.classifier.bias[top].detach()) == pytest.approx(
        float(logits[top]), abs=1e-4
    )


def test_heatmap_is_relu_upsampled_and_normalised(model, photo):
    x = image_tensor(photo)
    result = class_activation_map(model, x, class_index=2)
    assert result.class_index == 2
    assert result.heatmap.shape == (96, 96)
    assert result.heatmap.min() >= 0 and result.heatmap.max() == pytest.approx(1.0)
    positive = result.raw.clamp(min=0)[None, None]
    up = F.interpolate(positive, size=(96, 96), mode="bilinear", align_corners=False)[0, 0]
    np.testing.assert_allclose(result.heatmap, (up / up.max()).numpy(), atol=1e-6)
    assert result.heatmap.std() > 0.05  # not constant


def test_grad_cam_agrees_with_cam_on_a_linear_head(model, photo):
    x = image_tensor(photo)
    cam = class_activation_map(model, x)
    grad = grad_cam(model, x)
    h, w = cam.raw.shape
    # d logit / d feature(k, y, x) = w_k / (h * w) through global average pooling.
    torch.testing.assert_close(grad.raw * (h * w), cam.raw, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad.heatmap, cam.heatmap, atol=1e-5)
    assert all(p.grad is None for p in model.parameters())  # no gradients left behind


def test_grad_cam_works_where_cam_cannot(model, photo):
    """A two-layer head is not 'pooling + one linear layer': CAM refuses, Grad-CAM maps it."""
    import copy

    net = copy.deepcopy(model)
    net.classifier = nn.Sequential(nn.Linear(1280, 64), nn.ReLU(), nn.Linear(64, len(CLASSES)))
    x = image_tensor(photo)
    with pytest.raises(ValueError, match="gradcam"):
        class_activation_map(net, x)
    result = grad_cam(net, x)
    assert result.heatmap.shape == (96, 96) and result.heatmap.std() > 0.01
    with torch.no_grad():
        assert result.class_index == int(net(x).argmax())


def test_cam_for_an_image_file_is_the_map_of_its_preprocessed_pixels(checkpoint, photo):
    loaded = effnet.load(checkpoint)
    view, result = cam_for_image(loaded, photo, "cam", class_index=1)
    direct = class_activation_map(loaded, image_tensor(photo), class_index=1)
    assert view.shape == (96, 96, 3) and view.dtype == np.uint8
    torch.testing.assert_close(result.raw, direct.raw)
    assert result.class_index == 1 and result.method == "cam"
    with pytest.raises(ValueError, match="unknown CAM method 'saliency'"):
        cam_for_image(loaded, photo, "saliency")


def test_the_view_is_what_the_model_sees_with_transparency_on_white():
    rgba = np.zeros((120, 80, 4), np.uint8)
    rgba[..., 1] = 255  # green, fully transparent
    rgba[40:80, :, 3] = 255  # an opaque green band across the middle
    view = model_view(Image.fromarray(rgba, "RGBA"), PRE)
    assert view.shape == (96, 96, 3)  # resized to 109 on the short side, centre-cropped to 96
    assert view[0, 48].tolist() == [255, 255, 255]  # transparent: white, as the model saw it
    assert view[48, 48].tolist() == [0, 255, 0]


def test_figure_is_one_panel_per_model_plus_the_image(model, photo, tmp_path):
    x = image_tensor(photo)
    view = model_view(Image.open(photo), PRE)
    maps = [("a", view, class_activation_map(model, x)), ("b", view, grad_cam(model, x))]
    path = render_cam_figure(view, maps, tmp_path / "sub" / "fig.png", panel_size=64)
    assert Image.open(path).size == (3 * 64, 64 + TITLE_BAND_PX)
    with pytest.raises(ValueError, match="at least 32 pixels"):
        render_cam_figure(view, maps, tmp_path / "small.png", panel_size=16)


def test_a_map_that_cannot_show_anything_says_so(model, photo):
    assert degenerate(class_activation_map(model, image_tensor(photo))) is None  # 3x3 at 96 px
    tiny = eval_transform(Preprocess(24, 1.0))(Image.open(photo))[None]
    flat = class_activation_map(model, tiny)
    assert flat.raw.shape == (1, 1)
    assert "1x1" in degenerate(flat) and "flat" in degenerate(flat)
    negative = class_activation_map(model, image_tensor(photo))
    negative.raw = -negative.raw.abs() - 1
    assert "empty" in degenerate(negative)
