"""Class activation maps (paper Figure 7) on a real photograph: the math, and the PNG."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data as skdata
from torch import nn

import effnet
from effnet.cli import main
from effnet.data import Preprocess, eval_transform
from effnet.use.cam import TITLE_BAND_PX, class_activation_map, grad_cam
from effnet.weights import save_model

PRE = Preprocess(resolution=96, crop_pct=0.875, interpolation="bicubic")
CLASSES = ["cat", "dog", "cup", "person"]


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "chelsea.png"
    Image.fromarray(skdata.chelsea()).save(path)
    return path


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = effnet.create_model("efficientnet_b0", num_classes=len(CLASSES))
    # Batch-norm statistics from a real photo, so the features have a realistic scale.
    x = eval_transform(PRE)(Image.fromarray(skdata.astronaut()))[None]
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    net.train()
    with torch.no_grad():
        net(torch.cat([x, x.flip(-1)]))
    return net.eval()


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


def test_cam_command_writes_a_figure_of_the_expected_size(checkpoint, photo, tmp_path, capsys):
    out = tmp_path / "cam.png"
    size = 160
    assert (
        main(
            [
                "cam",
                str(photo),
                "--weights",
                str(checkpoint),
                "--out",
                str(out),
                "--size",
                str(size),
            ]
        )
        == 0
    )
    assert f"wrote {out}" in capsys.readouterr().out
    picture = np.asarray(Image.open(out).convert("RGB")).astype(float)
    assert picture.shape == (size + TITLE_BAND_PX, 2 * size, 3)
    image_panel = picture[TITLE_BAND_PX:, :size]
    overlay = picture[TITLE_BAND_PX:, size:]
    tint = overlay - image_panel  # the heat map's contribution
    assert tint.std() > 5  # the overlay varies across the image: the map is not constant
    assert image_panel.std() > 5  # the photo is drawn too


def test_cam_command_compares_models_side_by_side_with_grad_cam(checkpoint, photo, tmp_path):
    out = tmp_path / "two.png"
    args = [
        "cam",
        str(photo),
        "--weights",
        str(checkpoint),
        str(checkpoint),
        "--out",
        str(out),
        "--size",
        "64",
        "--method",
        "gradcam",
        "--class",
        "dog",
    ]
    assert main(args) == 0
    assert Image.open(out).size == (3 * 64, 64 + TITLE_BAND_PX)
