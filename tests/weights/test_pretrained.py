"""The pretrained weight registry: every entry's metadata checked against the variant, the
publisher's own metadata and the publisher's architecture; the matching eval transforms."""

import functools
import re

import numpy as np
import pytest
import timm
import torch
import torchvision.models as tvm

import effnet
from effnet.data.preprocess import INTERPOLATIONS
from effnet.models import EfficientNet
from effnet.variants_v2 import V2_PAPER
from effnet.weights import WEIGHTS, default_weights, list_weights
from effnet.weights.convert import peer_spec, shapes_only, to_effnet_state
from effnet.weights.local import is_local
from effnet.weights.peers import PEERS

HOSTS = ("https://download.pytorch.org/models/", "https://github.com/")


def publisher_model(entry):
    """The publisher's own architecture for an entry, on the meta device (shapes only)."""
    with shapes_only():
        if entry.peer == "torchvision":
            return tvm.get_model(entry.peer_model)
        return timm.create_model(entry.peer_model)


def publisher_metadata(entry) -> dict:
    """What torchvision / timm themselves publish for this file."""
    if entry.peer == "torchvision":
        enum = tvm.get_model_weights(entry.peer_model)
        weights = next(w for w in enum if w.url == entry.url)
        t = weights.transforms()
        return {
            "resolution": t.crop_size[0],
            "resize": t.resize_size[0],
            "interpolation": t.interpolation.value,
            "mean": tuple(t.mean),
            "std": tuple(t.std),
            "top1": weights.meta["_metrics"]["ImageNet-1K"]["acc@1"],
            "top5": weights.meta["_metrics"]["ImageNet-1K"]["acc@5"],
            "classes": len(weights.meta["categories"]),
        }
    cfg = timm.models.get_pretrained_cfg(f"{entry.peer_model}.{entry.tag.removeprefix('tf_')}")
    size = (cfg.test_input_size or cfg.input_size)[-1]
    # timm's resolve_data_config: the test size's own crop where given, else the training crop
    crop = (cfg.test_crop_pct or cfg.crop_pct) if cfg.test_input_size else cfg.crop_pct
    return {
        "url": cfg.url,
        "resolution": size,
        "resize": int(size / crop),
        "interpolation": cfg.interpolation,
        "mean": tuple(cfg.mean),
        "std": tuple(cfg.std),
        "classes": cfg.num_classes,
    }


#: Every (layout, model) pair the registry holds a published file for: one architecture check each.
ARCHITECTURES = sorted({(w.peer, w.model) for w in WEIGHTS.values() if not is_local(w.url)})
#: EfficientNetV2-M/L/XL take seconds each to build even on the meta device; their conversions
#: are also checked (with logits) by the slow tests of tests/weights/test_convert_v2.py.
LARGE_V2 = ("efficientnetv2_m", "efficientnetv2_l", "efficientnetv2_xl")


def test_every_registered_weight_set_is_consistent():
    for name, w in WEIGHTS.items():
        pre = w.preprocess
        assert name == f"{w.model}.{w.tag}" and w.model in effnet.list_models(), name
        assert w.model in PEERS[w.peer].models, name
        # resolution matches the variant, or the entry says why the publisher evaluates elsewhere
        assert pre.resolution == effnet.get_spec(w.model).resolution or w.resolution_note, name
        assert 0 < pre.crop_pct <= 1 and pre.interpolation in INTERPOLATIONS, name
        assert len(pre.mean) == len(pre.std) == 3 and min(pre.std) > 0, name
        if is_local(w.url):  # a package's file: full digest, converted for real in test_real_lite0
            assert re.fullmatch(r"[0-9a-f]{64}", w.sha256) and w.install_hint, name
            continue
        assert w.url.startswith(HOSTS) and w.file_name.endswith(".pth"), name
        # sha256: all 64 hex digits or torch.hub's 8-digit prefix, agreeing with the file name
        assert re.fullmatch(r"[0-9a-f]{64}|[0-9a-f]{8}", w.sha256), name
        assert w.sha256.startswith(re.search(r"-([0-9a-f]{8})\.pth$", w.url).group(1)), name
        assert 50 < w.top1 < w.top5 < 100, name
        assert len(w.class_names) == len(set(w.class_names)) == w.num_classes == 1000, name

        published = publisher_metadata(w)
        assert (pre.resolution, pre.resize_size) == (
            published["resolution"],
            published["resize"],
        ), name
        assert pre.interpolation == published["interpolation"], name
        assert np.allclose(pre.mean, published["mean"]) and np.allclose(pre.std, published["std"])
        assert published.get("url", w.url) == w.url, name
        assert published["classes"] == w.num_classes, name
        if "top1" in published:
            assert (w.top1, w.top5) == (published["top1"], published["top5"]), name
    # torchvision B0-B7, V2-S/M/L; timm B0-B4, Lite0, ES/EM/EL; timm-tf B0-B8, L2, Lite0-4,
    # ES/EM/EL, V2-B0-B3/S/M/L/XL
    assert len(ARCHITECTURES) == 35 + 3 + 8


@functools.cache
def effnet_shapes(model: str, num_classes: int) -> dict:
    """effnet's state dict shapes for a model (they do not depend on epsilon or padding)."""
    with shapes_only():
        net = EfficientNet(effnet.get_spec(model), num_classes)
        return {k: v.shape for k, v in net.state_dict().items()}


@pytest.mark.parametrize(
    ("peer", "model"),
    [
        pytest.param(*pair, marks=pytest.mark.slow) if pair[1] in LARGE_V2 else pair
        for pair in ARCHITECTURES
    ],
)
def test_the_publishers_network_converts_tensor_for_tensor(peer, model):
    """The publisher's network converts tensor for tensor, with its own eps and padding, and its
    classifier has as many outputs as the entry has class names."""
    w = next(w for w in WEIGHTS.values() if (w.peer, w.model) == (peer, model))
    published = publisher_model(w)
    eps = {m.eps for m in published.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert eps == {w.bn_eps}
    spec = peer_spec(PEERS[peer], model)
    state, _ = to_effnet_state(published.state_dict(), PEERS[peer], spec, w.num_classes)
    expected = effnet_shapes(model, w.num_classes)
    assert {k: v.shape for k, v in state.items()} == expected
    assert state["classifier.weight"].shape[0] == len(w.class_names)


def test_pretrained_true_gives_the_papers_own_weights():
    # docs/paper.md Table 2 top-1, B0..B7; the TensorFlow AutoAugment release reproduces it
    # within 0.3
    paper = [77.1, 79.1, 80.1, 81.6, 82.9, 83.6, 84.0, 84.3]
    for i, top1 in enumerate(paper):
        w = default_weights(f"efficientnet_b{i}")
        assert w.tag == "tf_aa_in1k" and (w.padding, w.bn_eps) == ("same", 1e-3)
        assert abs(w.top1 - top1) < 0.3, w.name
    assert default_weights("efficientnet_l2").tag == "tf_ns_jft_in1k"
    # Lite and EdgeTPU: the one TensorFlow release of each
    assert default_weights("efficientnet_lite3").name == "efficientnet_lite3.tf_in1k"
    assert default_weights("efficientnet_el").peer == "timm-tf"
    assert list_weights("efficientnet_b1")[:2] == [
        "efficientnet_b1.tv_in1k",
        "efficientnet_b1.tv2_in1k",
    ]
    with pytest.raises(ValueError, match="no pretrained weights are registered for 'resnet50'"):
        default_weights("resnet50")


def test_efficientnetv2_has_torchvisions_and_timms_weights():
    names = effnet.list_models("efficientnetv2*", pretrained=True)
    for size in ("s", "m", "l"):
        assert {f"efficientnetv2_{size}.{tag}" for tag in ("tv_in1k", "tf_in1k")} <= set(names)
        assert f"efficientnetv2_{size}.tf_in21k_ft_in1k" in names
    assert {f"efficientnetv2_b{i}.tf_in1k" for i in range(4)} <= set(names)
    assert effnet.list_models("efficientnetv2*", pretrained=True, include_tags=False) == sorted(
        V2_PAPER
    )  # every V2 model of the registry has weights
    # pretrained=True: the TensorFlow release, whose accuracy is the V2 paper's (Table 7)
    for size in ("s", "m", "l"):
        w = default_weights(f"efficientnetv2_{size}")
        assert w.tag == "tf_in1k" and (w.padding, w.bn_eps) == ("same", 1e-3)
        assert abs(w.top1 - V2_PAPER[w.model].top1) < 0.3, w.name
    # XL was released only pretrained on ImageNet-21k
    assert default_weights("efficientnetv2_xl").tag == "tf_in21k_ft_in1k"
