"""Conv-BN-activation and squeeze-excitation."""

import pytest
import torch
from torch import nn

from effnet.nn import ConvBNAct, SqueezeExcite, activation_layer


def test_conv_bn_act_names_its_children_for_stable_state_dicts():
    layer = ConvBNAct(3, 8, 3, 2, bn_eps=1e-3, bn_momentum=0.01)
    assert [name for name, _ in layer.named_children()] == ["conv", "bn", "act"]
    assert layer.bn.eps == 1e-3 and layer.bn.momentum == 0.01
    assert isinstance(layer.act, nn.SiLU)
    assert layer(torch.randn(1, 3, 16, 16)).shape == (1, 8, 8, 8)
    assert isinstance(ConvBNAct(8, 8, act=None).act, nn.Identity)


def test_activation_names_and_a_clear_error():
    assert isinstance(activation_layer("relu6"), nn.ReLU6)
    assert isinstance(activation_layer(None), nn.Identity)
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        activation_layer("gelu")


def test_squeeze_excite_gates_each_channel_by_its_global_context():
    se = SqueezeExcite(4, 2)
    with torch.no_grad():
        se.reduce.weight.zero_()
        se.reduce.bias.zero_()
        se.expand.weight.zero_()
        se.expand.bias.copy_(torch.tensor([0.0, 100.0, -100.0, 0.0]))
    x = torch.ones(1, 4, 3, 3)
    out = se(x)
    # Gates: sigmoid(0) = 0.5, sigmoid(100) = 1, sigmoid(-100) = 0.
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([0.5, 1.0, 0.0, 0.5]))
