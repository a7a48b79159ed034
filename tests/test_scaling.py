"""Rounding rules and compound scaling (docs/paper.md section 1)."""

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from effnet import flops
from effnet.baselines import MOBILENET_V2, RESNET_50
from effnet.scaling import compound, round_filters, round_repeats, scale, scale_to_flops
from effnet.spec import EFFICIENTNET_B0


@pytest.mark.parametrize(
    ("channels", "width", "expected"),
    [
        (32, 1.0, 32),
        (32, 1.1, 32),  # 35.2 -> nearest multiple of 8 is 32, which keeps > 90%
        (16, 1.4, 24),  # 22.4 -> 24
        (27, 1.0, 32),  # nearest multiple is 24 = 88.9% of 27 < 90%: step up to 32
        (26, 1.0, 24),  # 24 = 92.3% of 26: keep
        (3, 1.0, 8),  # never below the divisor
        (1280, 2.0, 2560),
    ],
)
def test_round_filters(channels, width, expected):
    assert round_filters(channels, width) == expected


def test_round_repeats_rounds_up():
    assert [round_repeats(n, 1.1) for n in (1, 2, 3, 4)] == [2, 3, 4, 5]
    assert round_repeats(3, 1.0) == 3


def test_compound_multipliers_and_constraint():
    c = compound(1.0)
    assert (c.depth, c.width, c.resolution) == pytest.approx((1.2, 1.1, 1.15))
    # alpha * beta^2 * gamma^2 ~= 2 (paper equation 3): 1.92 for the B0 grid-search result.
    assert c.flops_factor == pytest.approx(1.2 * 1.1**2 * 1.15**2)
    assert 1.8 < c.flops_factor < 2.1
    assert compound(2.0).width == pytest.approx(1.21)


@pytest.mark.parametrize("phi", [0, -1, -0.5])
def test_non_positive_phi_is_rejected(phi):
    with pytest.raises(ValueError, match="phi must be positive"):
        compound(phi)


def test_coefficients_below_one_are_rejected():
    with pytest.raises(ValueError, match="beta must be >= 1"):
        compound(1, beta=0.9)


def test_width_that_rounds_to_zero_is_rejected():
    with pytest.raises(ValueError, match=r"width 0.001 rounds \d+ channels to zero"):
        scale(EFFICIENTNET_B0, width=0.001)
    with pytest.raises(ValueError, match="width multiplier must be positive"):
        round_filters(32, 0)


def test_scale_applies_to_any_network_spec():
    wide = scale(RESNET_50, width=2)
    assert [s.out_channels for s in wide.stages] == [512, 1024, 2048, 4096]
    assert wide.stem.channels == 128
    deep = scale(RESNET_50, depth=4)
    assert [s.repeats for s in deep.stages] == [12, 16, 24, 12]
    big = scale(RESNET_50, resolution=2)
    assert big.resolution == 448 and big.stages == RESNET_50.stages
    # MobileNetV2's head is widened above width 1 but never narrowed (its paper, section 5.1).
    assert scale(MOBILENET_V2, width=0.5).head_channels == 1280
    assert scale(MOBILENET_V2, width=2).head_channels == 2560


def test_scale_by_phi_equals_scale_by_multipliers():
    by_phi = scale(EFFICIENTNET_B0, phi=2)
    c = compound(2)
    assert by_phi == scale(EFFICIENTNET_B0, c.width, c.depth, c.resolution, name=by_phi.name)
    with pytest.raises(ValueError, match="not both"):
        scale(EFFICIENTNET_B0, width=2, phi=1)


def test_each_phi_step_roughly_doubles_flops():
    """The paper: FLOPs grow by (alpha*beta^2*gamma^2)^phi ~ 2^phi. Rounding makes it uneven: the
    first step rounds B0's single-block stages up to two blocks (ceil(1.2) = 2) and jumps 2.6x."""
    macs = [flops.count(EFFICIENTNET_B0).macs] + [
        flops.count(scale(EFFICIENTNET_B0, phi=phi)).macs for phi in range(1, 8)
    ]
    ratios = [b / a for a, b in itertools.pairwise(macs)]
    assert 2.4 < ratios[0] < 2.8, ratios
    assert all(1.6 < r < 2.1 for r in ratios[1:]), ratios
    overall = (macs[-1] / macs[0]) ** (1 / 7)
    assert overall == pytest.approx(1.92, rel=0.05)


def test_scale_to_flops_hits_the_budget():
    target = 4 * flops.count(EFFICIENTNET_B0).macs
    fit = scale_to_flops(EFFICIENTNET_B0, target)
    assert abs(fit.relative_error) < 0.05
    # Below log(4)/log(1.92): the rounding jump of the first phi step (see above) arrives early.
    assert 1.0 < fit.phi < math.log(4) / math.log(1.92)
    with pytest.raises(ValueError, match="only grows"):
        scale_to_flops(EFFICIENTNET_B0, 1e8)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(phi=1000), r"phi=1000 .* gives a resolution of 1\.12e\+63 \(at most 8192\)"),
        (dict(phi=1e6), "phi=1000000.0 gives infinite multipliers"),
        (dict(phi=float("inf")), "gives infinite multipliers"),
        (dict(width=float("nan")), "a stage width of nan"),
        (dict(depth=1e4), r"a stage depth of 4e\+04 \(at most 1000\)"),
        (dict(image_size=10**9), r"a resolution of 1e\+09"),
    ],
)
def test_scaling_beyond_any_buildable_network_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        scale(EFFICIENTNET_B0, **kwargs)


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=0, max_value=1e4, allow_nan=False, exclude_min=True))
def test_any_phi_scales_to_a_valid_spec_or_one_valueerror(phi):
    try:
        spec = scale(EFFICIENTNET_B0, phi=phi)
    except ValueError as err:
        assert "no such network can be built" in str(err) or "infinite" in str(err)
        return
    assert 224 <= spec.resolution <= 8192 and spec.num_blocks >= 16
