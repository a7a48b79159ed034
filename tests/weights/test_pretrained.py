"""The pretrained weight registry: every entry's metadata checked against the variant, the
publisher's own metadata and the publisher's architecture; the matching eval transforms."""

import re

import numpy as np
import pytest
import timm
import torch
import torchvision.models as tvm

import effnet
from effnet.data.preprocess import INTERPOLATIONS
from effnet.models import EfficientNet
from effnet.variants import VARIANTS
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
    crop = cfg.test_crop_pct if cfg.test_input_size else cfg.crop_pct
    return {
        "url": cfg.url,
        "resolution": size,
        "resize": int(size / crop),
        "interpolation": cfg.interpolation,
        "mean": tuple(cfg.mean),
        "std": tuple(cfg.std),
        "classes": cfg.num_classes,
    }


def test_every_registered_weight_set_is_consistent():
    checked_architectures, effnet_shapes = {}, {}
    for name, w in WEIGHTS.items():
        pre = w.preprocess
        assert name == f"{w.model}.{w.tag}" and w.model in effnet.list_models(), name
        assert w.model in PEERS[w.peer].models, name
        # resolution matches the variant, or the entry says why the publisher evaluates elsewhere
        assert pre.resolution == VARIANTS[w.model].resolution or w.resolution_note, name
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

        # The publisher's network converts tensor for tensor, with its own eps and padding,
        # and its classifier has as many outputs as the entry has class names.
        key = (w.peer, w.model)
        if key not in checked_architectures:
            peer = publisher_model(w)
            eps = {m.eps for m in peer.modules() if isinstance(m, torch.nn.BatchNorm2d)}
            assert eps == {w.bn_eps}, name
            spec = peer_spec(PEERS[w.peer], w.model)
            if w.model not in effnet_shapes:  # shapes do not depend on epsilon or padding
                with shapes_only():
                    effnet_shapes[w.model] = EfficientNet(spec, w.num_classes).state_dict()
            expected = effnet_shapes[w.model]
            state, _ = to_effnet_state(peer.state_dict(), PEERS[w.peer], spec, w.num_classes)
            assert state.keys() == expected.keys(), name
            assert all(state[k].shape == v.shape for k, v in expected.items()), name
            assert state["classifier.weight"].shape[0] == len(w.class_names), name
            checked_architectures[key] = True
    # torchvision B0-B7; timm B0-B4, Lite0, ES/EM/EL; timm-tf B0-B8, L2, Lite0-4, ES/EM/EL
    assert len(checked_architectures) == 35


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
