"""Counts from a spec alone agree with the built torch model, block by block and in total."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from effnet import flops
from effnet.models import EfficientNet
from effnet.nn import make_block
from effnet.registry import get_spec
from effnet.spec import BlockSpec


def torch_macs(module: torch.nn.Module, x: torch.Tensor) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module.eval()(x)
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("size, stride, expected", [(224, 2, 112), (7, 2, 4), (1, 2, 1), (5, 1, 5)])
def test_feature_maps_round_up_like_same_and_symmetric_padding(size, stride, expected):
    assert flops.conv_out_size(size, stride) == expected


@pytest.mark.parametrize(
    "block",
    [
        BlockSpec("mbconv", 5, 2, 6, 24, 40, 0.25),
        BlockSpec("mbconv", 3, 1, 1, 32, 16, 0.25),
        BlockSpec("separable", 3, 1, 1, 32, 64),
        BlockSpec("bottleneck", 3, 2, 4, 256, 512),
    ],
)
def test_block_cost_equals_the_built_block(block):
    module = make_block(block, "relu")
    cost = flops.block_cost(block, 14)
    assert cost.params == sum(p.numel() for p in module.parameters())
    assert cost.macs == torch_macs(module, torch.randn(1, block.in_channels, 14, 14))


@pytest.mark.parametrize("name", ["efficientnet_b0", "mobilenet_v1", "resnet50"])
def test_network_count_equals_the_model_at_a_small_resolution(name):
    spec = get_spec(name)
    cost = flops.count(spec, num_classes=10, resolution=64)
    model = EfficientNet(spec, num_classes=10)
    assert cost.params == sum(p.numel() for p in model.parameters())
    assert cost.macs == torch_macs(model, torch.randn(1, 3, 64, 64))


def test_stage_rows_are_table_1_of_the_paper():
    rows = flops.stage_costs(get_spec("efficientnet_b0"))
    # Table 1: stage input resolution, output channels and layers, stem to head.
    table1 = [
        (224, 32, 1), (112, 16, 1), (112, 24, 2), (56, 40, 2), (28, 80, 3),
        (14, 112, 3), (14, 192, 4), (7, 320, 1), (7, 1280, 1),
    ]  # fmt: skip
    assert [(r.in_resolution, r.out_channels, r.layers) for r in rows[:9]] == table1
    assert rows[-1].name == "pool + fc" and rows[-1].params == 1280 * 1000 + 1000
