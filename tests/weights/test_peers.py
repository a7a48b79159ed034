"""Each peer's numerics and names."""

import pytest

from effnet.weights.peers import PEERS, get_peer


def test_numerics_per_peer_and_variant():
    tv = get_peer("torchvision")
    assert (tv.padding, tv.eps_for("efficientnet_b0"), tv.eps_for("efficientnet_b7")) == (
        "symmetric",
        1e-5,
        1e-3,
    )
    assert (get_peer("timm-tf").padding, get_peer("timm-tf").eps_for("efficientnet_b0")) == (
        "same",
        1e-3,
    )


def test_peer_model_names():
    assert get_peer("timm-tf").peer_model_name("efficientnet_b3") == "tf_efficientnet_b3"
    assert get_peer("keras").peer_model_name("efficientnet_b3") == "EfficientNetB3"
    assert get_peer("lukemelas").peer_model_name("efficientnet_b3") == "efficientnet-b3"


def test_unknown_peer_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown checkpoint source 'tf'.*timm-tf"):
        get_peer("tf")
    assert set(PEERS) == {
        "torchvision",
        "timm",
        "timm-tf",
        "lukemelas",
        "lite-pytorch",
        "keras",
        "keras-v2",
    }
