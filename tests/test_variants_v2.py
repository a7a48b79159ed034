"""EfficientNetV2's specs: exact parameter counts, multiply-adds beside the paper, V2 rounding."""

import pytest
import torch

from effnet import flops
from effnet.models import EfficientNet
from effnet.registry import get_spec, list_models
from effnet.scaling import round_filters
from effnet.variants import VARIANTS, variant_spec
from effnet.variants_v2 import EFFICIENTNETV2_S, V2_COEFFICIENTS, V2_PAPER, V2_TRAIN
from effnet.weights.convert import shapes_only

#: torchvision efficientnet_v2_s/m/l and timm (tf_)efficientnetv2_*: 1000-class parameter counts.
PEER_PARAMS = {
    "efficientnetv2_s": 21_458_488,
    "efficientnetv2_m": 54_139_356,
    "efficientnetv2_l": 118_515_272,
    "efficientnetv2_xl": 208_119_808,
    "efficientnetv2_b0": 7_139_704,
    "efficientnetv2_b1": 8_141_052,
    "efficientnetv2_b2": 10_096_086,
    "efficientnetv2_b3": 14_358_406,
}


@pytest.mark.parametrize("name", PEER_PARAMS)
def test_parameter_counts_are_the_peers_exactly(name):
    spec = variant_spec(name)
    assert flops.count(spec).params == PEER_PARAMS[name]
    with shapes_only():  # the torch model agrees with the formula
        model = EfficientNet(spec)
    assert sum(p.numel() for p in model.parameters()) == PEER_PARAMS[name]


def test_multiply_adds_are_near_the_papers_and_params_round_to_them():
    for name, row in V2_PAPER.items():
        cost = flops.count(variant_spec(name))
        assert cost.params / 1e6 == pytest.approx(row.params_m, rel=0.03), name
        # the paper rounds to 2 figures; S's 8.8B and L's 53B are 5% off effnet's exact count
        assert cost.macs / 1e9 == pytest.approx(row.flops_b, rel=0.06), name


def test_v2_rounds_channels_without_v1s_90_percent_step():
    # B3 (width 1.2): 16 * 1.2 = 19.2 rounds to 16; V1's rule would step up to 24.
    assert round_filters(16, 1.2) == 24
    assert round_filters(16, 1.2, round_limit=0.0) == 16
    b3 = variant_spec("efficientnetv2_b3")
    assert (b3.stem.channels, b3.stages[0].out_channels, b3.head_channels) == (40, 16, 1536)
    assert [s.repeats for s in b3.stages] == [2, 3, 3, 5, 7, 12]  # ceil(1.4 * repeats)


def test_s_is_the_papers_table_4():
    rows = [
        (s.kind, s.expand, s.out_channels, s.repeats, s.se_ratio) for s in EFFICIENTNETV2_S.stages
    ]
    assert rows == [
        ("fused", 1, 24, 2, 0.0),
        ("fused", 4, 48, 4, 0.0),
        ("fused", 4, 64, 4, 0.0),
        ("mbconv", 4, 128, 6, 0.25),
        ("mbconv", 6, 160, 9, 0.25),
        ("mbconv", 6, 256, 15, 0.25),
    ]
    assert {s.kernel for s in EFFICIENTNETV2_S.stages} == {3}
    first = next(EFFICIENTNETV2_S.blocks())[1]
    assert first.has_skip  # 24 -> 24 at stride 1: the expansion-1 fused block adds its input
    se = [b.se_channels for _, b in EFFICIENTNETV2_S.blocks() if b.kind == "mbconv"]
    assert se[0] == 64 // 4  # a quarter of the block input, not of the expanded width


def test_registry_lists_every_v2_variant_with_its_training_size():
    assert list_models("efficientnetv2_*") == sorted(V2_COEFFICIENTS)
    assert set(V2_TRAIN) == set(V2_COEFFICIENTS) == set(V2_PAPER)
    for name in V2_COEFFICIENTS:
        assert get_spec(name).name == name
        assert V2_TRAIN[name] < get_spec(name).resolution
        assert VARIANTS[name].paper_top1 is None  # V1's Table 2 tools stay V1's


def test_a_v2_model_runs_and_trains_at_a_small_size():
    torch.manual_seed(0)
    model = EfficientNet(variant_spec("efficientnetv2_b0"), num_classes=3)
    out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 3)
    out.sum().backward()
    assert model.blocks[0][0].conv.conv.weight.grad is not None


def test_the_fast_path_folds_every_v2_batch_norm_and_keeps_the_logits():
    from effnet.deploy.fuse import count_batchnorms
    from effnet.deploy.inference import optimize_for_inference

    torch.manual_seed(0)
    model = EfficientNet(variant_spec("efficientnetv2_b0"), num_classes=5).eval()
    for m in model.modules():  # non-trivial BN statistics, so folding them is checked
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    fast = optimize_for_inference(model, "eager", resolution=64, verbose=False)
    assert count_batchnorms(fast.module) == 0
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (fast(x) - model(x)).abs().max() < 1e-4


def test_profile_cross_checks_v2_with_torchs_flop_counter():
    from effnet.profile import profile

    result = profile("efficientnetv2_s", 1000, 64, cross_check=True)
    assert result.format().count("+0.0000% vs the table") == 1
