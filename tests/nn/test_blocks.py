"""The four block kinds: MBConv (EfficientNet), fused MBConv (EdgeTPU, V2), separable (MobileNetV1),
bottleneck (ResNet)."""

import pytest
import torch

from effnet.nn import Bottleneck, FusedMBConv, MBConv, SeparableConv, make_block
from effnet.spec import BlockSpec


def mbconv(expand: float = 6, stride: int = 1, cin: int = 16, cout: int = 16, se: float = 0.25):
    return BlockSpec("mbconv", 3, stride, expand, cin, cout, se)


def test_mbconv_layers_follow_the_spec():
    block = MBConv(mbconv(expand=6, cin=16, cout=24, stride=2), "silu", 0.0)
    assert block.expand.conv.out_channels == 96  # expands the input 6x
    assert block.depthwise.conv.groups == 96 and block.depthwise.conv.stride == (2, 2)
    assert block.se.reduce.out_channels == 4  # SE squeezes to 0.25 of the block *input* width
    assert block.project.conv.out_channels == 24 and isinstance(
        block.project.act, torch.nn.Identity
    )
    assert not block.has_skip and block.drop_path is None
    assert block(torch.randn(2, 16, 8, 8)).shape == (2, 24, 4, 4)


def test_mbconv_expand_one_has_no_expansion_conv():
    block = MBConv(mbconv(expand=1, cin=32, cout=16), "silu", 0.0)
    assert block.expand is None and block.depthwise.conv.in_channels == 32


def test_identity_skip_adds_the_input_and_drop_path_only_acts_in_training():
    block = MBConv(mbconv(), "silu", drop_path=0.5).eval()
    x = torch.randn(4, 16, 8, 8)
    with torch.no_grad():
        for p in block.project.bn.parameters():
            p.zero_()  # the residual branch now outputs exactly zero
        assert torch.equal(block(x), x)
    block.train()
    torch.manual_seed(0)
    with torch.no_grad():
        out = block(torch.ones(64, 16, 4, 4))
    # Training-mode BN of a zero branch is still zero, so the output is the input, untouched:
    # stochastic depth only scales the branch, never the skip.
    assert torch.equal(out, torch.ones(64, 16, 4, 4))


def test_separable_and_bottleneck_shapes():
    sep = SeparableConv(BlockSpec("separable", 3, 2, 1.0, 32, 64), "relu", 0.0)
    assert sep(torch.randn(1, 32, 8, 8)).shape == (1, 64, 4, 4)
    neck = Bottleneck(BlockSpec("bottleneck", 3, 2, 4.0, 64, 256), "relu", 0.0)
    assert neck.reduce.conv.out_channels == 64  # narrows the *output* by the expansion 4
    assert neck.shortcut is not None  # stride and width change: projected shortcut
    assert neck(torch.randn(1, 64, 8, 8)).shape == (1, 256, 4, 4)
    same = Bottleneck(BlockSpec("bottleneck", 3, 1, 4.0, 256, 256), "relu", 0.0)
    assert same.shortcut is None


def test_make_block_dispatches_on_kind():
    assert isinstance(make_block(mbconv(), "silu"), MBConv)
    assert isinstance(make_block(BlockSpec("fused", 3, 1, 4.0, 8, 8), "silu"), FusedMBConv)
    with pytest.raises(KeyError):
        make_block(BlockSpec("unknown", 3, 1, 4.0, 8, 8), "silu")


def test_fused_block_expands_with_one_full_conv():
    block = FusedMBConv(BlockSpec("fused", 3, 2, 4.0, 32, 24, expand_from=24), "relu", 0.0)
    # The expansion is a dense 3x3 conv from 32 to 24 * 4 channels: no depthwise conv at all.
    assert block.expand.conv.weight.shape == (96, 32, 3, 3)
    assert block.project.conv.weight.shape == (24, 96, 1, 1)
    assert not block.has_skip
    assert block(torch.randn(2, 32, 8, 8)).shape == (2, 24, 4, 4)


def test_fused_block_without_expansion_is_one_activated_conv_with_skip():
    block = FusedMBConv(BlockSpec("fused", 3, 1, 1.0, 24, 24), "relu", 0.0).eval()
    assert block.project is None and block.has_skip
    x = torch.randn(1, 24, 6, 6)
    with torch.no_grad():
        branch = block.conv(x)
        assert (branch >= 0).all()  # activated: nothing to project after it
        assert torch.equal(block(x), branch + x)
