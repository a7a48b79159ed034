"""effnet weights out to torchvision and timm: the peer computes the same logits, or is refused."""

from functools import partial

import pytest
import torch
import torchvision.models as tvm

from effnet.data import Preprocess
from effnet.models import EfficientNet
from effnet.weights import convert_checkpoint, export_state_dict
from effnet.weights.convert import peer_spec
from effnet.weights.peers import PEERS

# _one_thread: autouse, keeps small batches single-threaded
from tests.weights.test_convert import (
    DEFAULT,
    SIZE,
    TOLERANCE,
    _one_thread,  # noqa: F401
    build_peer,
    logits,
    normalise,
    photo_batch,
    randomize_bn,
)


@pytest.mark.parametrize("peer", ["torchvision", "timm", "timm-tf"])
@pytest.mark.parametrize("variant", DEFAULT)
def test_effnet_weights_go_back_to_torchvision_and_timm(peer, variant):
    info = PEERS[peer]
    name = f"efficientnet_{variant}"
    model = randomize_bn(EfficientNet(peer_spec(info, name), padding=info.padding), seed=1)
    state = export_state_dict(model, peer)
    target = build_peer(peer, variant)
    target.load_state_dict(state, strict=True)
    x = normalise(photo_batch(), Preprocess(SIZE))
    diff = (logits(target, x) - logits(model, x)).abs().max().item()
    print(f"max abs diff effnet -> {peer} {variant}: {diff:.3g}")
    assert diff <= TOLERANCE
    back = convert_checkpoint(state, peer, name).state_dict()
    assert all(torch.equal(back[k], v) for k, v in model.state_dict().items())


def test_export_refuses_numerics_the_peer_would_not_reproduce_and_says_how():
    model = randomize_bn(EfficientNet(peer_spec(PEERS["timm-tf"], "efficientnet_b0")))
    # effnet's default (BN eps 1e-3, symmetric padding) is not torchvision's B0 (eps 1e-5)
    with pytest.raises(ValueError, match=r"norm_layer=functools\.partial.*eps=0\.001"):
        export_state_dict(model, "torchvision")
    same = EfficientNet(model.spec, padding="same")
    with pytest.raises(ValueError, match="torchvision has no TensorFlow SAME padding"):
        export_state_dict(same, "torchvision")
    # Following the hint gives a torchvision model that matches.
    target = tvm.efficientnet_b0(norm_layer=partial(torch.nn.BatchNorm2d, eps=1e-3))
    target.load_state_dict(export_state_dict(model, "torchvision", strict=False))
    x = normalise(photo_batch(), Preprocess(SIZE))
    assert (logits(target, x) - logits(model, x)).abs().max() <= TOLERANCE
