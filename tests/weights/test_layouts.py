"""Peer layouts: every effnet tensor has exactly one name in each peer's state dict."""

import pytest
import timm
import torchvision.models as tvm

import effnet
from effnet.registry import get_spec
from effnet.weights.layouts import LAYOUTS, module_pairs, torch_key_map


@pytest.mark.parametrize("variant", ["efficientnet_b0", "efficientnet_b2"])
@pytest.mark.parametrize(
    "layout, build",
    [
        ("torchvision", lambda v: getattr(tvm, v)(weights=None)),
        ("timm", lambda v: timm.create_model(v, pretrained=False)),
    ],
)
def test_key_map_is_a_bijection_onto_the_peers_state_dict(variant, layout, build):
    spec = get_spec(variant)
    key_map = torch_key_map(LAYOUTS[layout], spec, 1000)
    assert set(key_map) == set(effnet.create_model(variant).state_dict())
    assert set(key_map.values()) == set(build(variant).state_dict())
    assert len(set(key_map.values())) == len(key_map)


def test_keras_names_follow_its_block_letters():
    pairs = {
        p.effnet: p.peer for p in module_pairs(LAYOUTS["keras"], get_spec("efficientnet_b0"), 1000)
    }
    assert pairs["blocks.1.1.depthwise.conv"].startswith("block2b")
    assert pairs["classifier"] == "predictions"


def test_only_efficientnet_specs_have_peer_layouts():
    with pytest.raises(ValueError, match="not an EfficientNet"):
        list(module_pairs(LAYOUTS["timm"], get_spec("resnet50"), 1000))
