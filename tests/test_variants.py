"""Every variant against docs/paper.md section 1: parameters, blocks, head width, multiply-adds."""

import pytest
import torch

import effnet
from effnet import flops
from effnet.profile import measure_macs
from effnet.variants import VARIANTS

# docs/paper.md section 1: exact parameter counts (1000 classes) shared by the main PyTorch
# implementations, multiply-adds from torch.utils.flop_counter, blocks and head widths.
PAPER = {
    "efficientnet_b0": (5_288_548, 0.386, 16, 1280, 224),
    "efficientnet_b1": (7_794_184, 0.687, 23, 1280, 240),
    "efficientnet_b2": (9_109_994, 0.994, 23, 1408, 260),
    "efficientnet_b3": (12_233_232, 1.827, 26, 1536, 300),
    "efficientnet_b4": (19_341_616, 4.394, 32, 1792, 380),
    "efficientnet_b5": (30_389_784, 10.266, 39, 2048, 456),
    "efficientnet_b6": (43_040_704, 19.068, 45, 2304, 528),
    "efficientnet_b7": (66_347_960, 37.746, 55, 2560, 600),
}
DEFAULT_RUN = ["efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3"]


def test_registry_lists_every_variant():
    names = effnet.list_models("efficientnet_b*") + effnet.list_models("efficientnet_l2")
    assert names == [f"efficientnet_b{i}" for i in range(9)] + ["efficientnet_l2"]
    lite = [f"efficientnet_lite{i}" for i in range(5)]
    assert effnet.list_models("efficientnet_lite*") == lite
    assert effnet.list_models("efficientnet_e?") == [
        "efficientnet_el",
        "efficientnet_em",
        "efficientnet_es",
    ]
    assert "resnet50" in effnet.list_models()


@pytest.mark.parametrize("name", list(PAPER))
def test_spec_counts_match_the_paper(name):
    params, gmacs, blocks, head, res = PAPER[name]
    spec = effnet.get_spec(name)
    cost = flops.count(spec)
    assert cost.params == params
    assert cost.macs / 1e9 == pytest.approx(gmacs, rel=0.02)
    assert (spec.num_blocks, spec.head_channels, spec.resolution) == (blocks, head, res)


@pytest.mark.parametrize("name", list(PAPER))
def test_built_model_has_the_papers_parameter_count(name):
    model = effnet.create_model(name)
    assert sum(p.numel() for p in model.parameters()) == PAPER[name][0]
    assert len([m for stage in model.blocks for m in stage]) == PAPER[name][2]


@pytest.mark.parametrize("name", DEFAULT_RUN)
def test_forward_at_own_resolution_and_flop_counter_agrees(name):
    model = effnet.create_model(name).eval()
    res = PAPER[name][4]
    with torch.no_grad():
        out = model(torch.randn(2, 3, res, res))
    assert out.shape == (2, 1000) and torch.isfinite(out).all()
    assert measure_macs(model, res) / 1e9 == pytest.approx(PAPER[name][1], rel=0.02)


@pytest.mark.parametrize(
    "name", ["efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7"]
)
def test_large_variants_forward_at_reduced_resolution(name):
    model = effnet.create_model(name).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 128, 128))
    assert out.shape == (1, 1000) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["efficientnet_b8", "efficientnet_l2"])
def test_b8_and_l2_follow_their_coefficients(name):
    v = VARIANTS[name]
    spec = effnet.get_spec(name)
    assert spec.resolution == v.resolution and spec.dropout == v.dropout
    assert spec.head_channels == effnet.round_filters(1280, v.width)
    assert spec.stages[2].repeats == effnet.round_repeats(2, v.depth)
    model = effnet.create_model(name).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7"]
)
def test_large_variants_at_own_resolution(name):
    model = effnet.create_model(name).eval()
    res = PAPER[name][4]
    assert measure_macs(model, res) / 1e9 == pytest.approx(PAPER[name][1], rel=0.02)


def test_dropout_follows_the_variant():
    assert [effnet.get_spec(f"efficientnet_b{i}").dropout for i in range(8)] == [
        0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.5, 0.5
    ]  # fmt: skip
