"""EfficientNetV2 checkpoints of torchvision, timm and timm's tf_ ports load exactly, and go back.

The V1 checks of :mod:`tests.weights.test_convert` for V2's layouts: fused blocks (torchvision's
FusedMBConv, timm's EdgeResidual and ConvBnAct for expansion 1), V2's BN epsilon per peer, and
SAME padding for the tf_ ports. 72 px inputs; S/B0/B3 by default, the large ones marked slow.
"""

import pytest
import timm
import torch
import torchvision.models as tvm

from effnet.data import Preprocess
from effnet.weights import convert_checkpoint, export_state_dict, infer_model
from effnet.weights.convert import peer_spec, shapes_only
from effnet.weights.peers import PEERS

# _one_thread: autouse, keeps small batches single-threaded
from tests.weights.test_convert import (
    TOLERANCE,
    _one_thread,  # noqa: F401
    logits,
    normalise,
    photo_batch,
    randomize_bn,
)

DEFAULT = [
    ("torchvision", "efficientnetv2_s"),
    ("timm", "efficientnetv2_s"),
    ("timm-tf", "efficientnetv2_s"),
    ("timm-tf", "efficientnetv2_b0"),
    ("timm-tf", "efficientnetv2_b3"),
]
LARGE = [
    pytest.param(peer, name, marks=pytest.mark.slow)
    for peer, name in (
        ("torchvision", "efficientnetv2_m"),
        ("torchvision", "efficientnetv2_l"),
        ("timm", "efficientnetv2_m"),
        ("timm", "efficientnetv2_l"),
        ("timm", "efficientnetv2_xl"),
        ("timm-tf", "efficientnetv2_b1"),
        ("timm-tf", "efficientnetv2_b2"),
        ("timm-tf", "efficientnetv2_m"),
        ("timm-tf", "efficientnetv2_l"),
        ("timm-tf", "efficientnetv2_xl"),
    )
]


def build_v2_peer(peer: str, name: str) -> torch.nn.Module:
    peer_name = PEERS[peer].peer_model_name(name)
    if peer == "torchvision":
        return tvm.get_model(peer_name)
    return timm.create_model(peer_name)


@pytest.mark.parametrize(("peer", "name"), DEFAULT + LARGE)
def test_v2_checkpoint_gives_the_peers_logits_and_goes_back(peer, name):
    reference = randomize_bn(build_v2_peer(peer, name))
    model = convert_checkpoint(reference.state_dict(), peer, name)
    info = PEERS[peer]
    assert (model.padding, model.spec.bn_eps) == (info.padding, info.eps_for(name))
    x = normalise(photo_batch(), Preprocess(72))
    expected = logits(reference, x)
    assert (expected[0] - expected[1]).abs().max() > 0.1  # logits depend on the photo
    diff = (logits(model, x) - expected).abs().max().item()
    print(f"max abs diff {peer} {name}: {diff:.3g}")
    assert diff <= TOLERANCE

    # round trip: effnet's weights load strictly into a fresh peer model and compute the same
    target = build_v2_peer(peer, name)
    target.load_state_dict(export_state_dict(model, peer), strict=True)
    assert (logits(target, x) - logits(model, x)).abs().max().item() <= TOLERANCE


def test_v2_numerics_are_what_each_library_builds():
    for peer in ("torchvision", "timm", "timm-tf"):
        with torch.device("meta"):
            net = build_v2_peer(peer, "efficientnetv2_s")
        eps = {m.eps for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)}
        assert eps == {PEERS[peer].eps_for("efficientnetv2_s")}, peer
    # torchvision builds V2 with TensorFlow's epsilon although its B0-B4 use PyTorch's
    assert PEERS["torchvision"].eps_for("efficientnetv2_s") == 1e-3
    assert PEERS["torchvision"].eps_for("efficientnet_b0") == 1e-5


def test_v2_peer_names():
    assert PEERS["torchvision"].peer_model_name("efficientnetv2_m") == "efficientnet_v2_m"
    assert PEERS["timm"].peer_model_name("efficientnetv2_xl") == "efficientnetv2_xl"
    assert PEERS["timm-tf"].peer_model_name("efficientnetv2_b2") == "tf_efficientnetv2_b2"
    assert PEERS["timm-tf"].peer_model_name("efficientnet_b2") == "tf_efficientnet_b2"


def test_v2_variant_is_told_from_the_checkpoint():
    for name in ("efficientnetv2_b1", "efficientnetv2_b2"):  # B1 is B0 deeper; B2 wider
        with shapes_only():
            state = timm.create_model(f"tf_{name}").state_dict()
        assert infer_model(state, "timm-tf") == name
    with shapes_only():
        state = tvm.efficientnet_v2_s().state_dict()
    assert infer_model(state, "torchvision") == "efficientnetv2_s"


def test_v2_has_no_layout_where_the_peer_has_no_v2():
    spec = peer_spec(PEERS["timm-tf"], "efficientnetv2_b0")
    with pytest.raises(ValueError, match="lukemelas has no fused MBConv blocks"):
        convert_checkpoint({"x": torch.zeros(1)}, "lukemelas", spec)


def test_export_hint_names_the_v2_model_timm_builds():
    from effnet.models import EfficientNet

    model = EfficientNet(peer_spec(PEERS["timm-tf"], "efficientnetv2_s"))  # eps 1e-3, symmetric
    with pytest.raises(ValueError, match=r"timm\.create_model\('efficientnetv2_s', bn_eps=0\.001"):
        export_state_dict(model, "timm")
    b0 = EfficientNet(peer_spec(PEERS["timm-tf"], "efficientnetv2_b0"))  # timm has only tf_ B0
    with pytest.raises(ValueError, match=r"create_model\('tf_efficientnetv2_b0', bn_eps=0\.001, "):
        export_state_dict(b0, "timm-tf")
