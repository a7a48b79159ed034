"""Growing one dimension to a FLOP budget: the single-dimension networks of Table 7."""

import pytest

from effnet import flops
from effnet.experiments.matching import SINGLE_DIMENSIONS, match_flops, scale_one_dimension
from effnet.scaling import scale
from effnet.spec import EFFICIENTNET_B0


@pytest.mark.parametrize("dimension", SINGLE_DIMENSIONS)
def test_single_dimension_lands_near_the_compound_budget(dimension):
    target = flops.count(scale(EFFICIENTNET_B0, phi=2)).macs
    fit = match_flops(EFFICIENTNET_B0, dimension, target)
    assert fit.macs == flops.count(fit.spec).macs
    assert abs(fit.macs / target - 1) < 0.05
    assert fit.relative_error == pytest.approx(fit.macs / target - 1)
    changed = {
        "width": fit.spec.stem.channels != 32,
        "depth": fit.spec.num_blocks != 16,
        "resolution": fit.spec.resolution != 224,
    }
    assert [d for d, c in changed.items() if c] == [dimension]


def test_resolution_match_is_the_closest_whole_pixel():
    target = 1.8e9  # docs/paper.md Table 7: the single-dimension models sit at ~1.8-1.9B
    fit = match_flops(EFFICIENTNET_B0, "resolution", target)
    for px in (fit.spec.resolution - 1, fit.spec.resolution + 1):
        other = flops.count(scale(EFFICIENTNET_B0, image_size=px)).macs
        assert abs(other - target) >= abs(fit.macs - target)


def test_budget_below_the_base_or_out_of_reach_is_refused():
    with pytest.raises(ValueError, match="not above the base"):
        match_flops(EFFICIENTNET_B0, "width", 1e8)
    with pytest.raises(ValueError, match="out of reach"):
        match_flops(EFFICIENTNET_B0, "depth", 1e15, max_multiplier=2.0)


def test_one_dimension_names_its_network_and_refuses_compound():
    assert scale_one_dimension(EFFICIENTNET_B0, "resolution", 1.5).name == "efficientnet_b0_r336"
    assert scale_one_dimension(EFFICIENTNET_B0, "width", 2.0).name == "efficientnet_b0_w2"
    with pytest.raises(ValueError, match="unknown dimension"):
        scale_one_dimension(EFFICIENTNET_B0, "compound", 2.0)
