"""D0-D7 as the paper's table, and how closely the table follows the scaling rule."""

import math

import pytest

from effnet.detection.spec import DET_SPECS, PAPER_COST, DetSpec, get_det_spec, scaling_rule


def test_the_table_is_the_papers():
    rows = [
        (s.image_size, s.backbone[-2:], s.fpn_channels, s.fpn_repeats, s.head_repeats)
        for s in DET_SPECS.values()
    ]
    assert rows == [
        (512, "b0", 64, 3, 3),
        (640, "b1", 88, 4, 3),
        (768, "b2", 112, 5, 3),
        (896, "b3", 160, 6, 4),
        (1024, "b4", 224, 7, 4),
        (1280, "b5", 288, 7, 4),
        (1280, "b6", 384, 8, 5),
        (1536, "b6", 384, 8, 5),
    ]
    assert [s.fusion for s in DET_SPECS.values()] == ["fast"] * 6 + ["sum"] * 2
    assert DET_SPECS["efficientdet_d7"].anchor_scale == 5.0
    assert set(PAPER_COST) == set(DET_SPECS)


@pytest.mark.parametrize("phi", range(8))
def test_the_table_follows_the_scaling_rule_where_the_paper_says_so(phi):
    spec, rule = DET_SPECS[f"efficientdet_d{phi}"], scaling_rule(phi)
    assert spec.head_repeats == rule["head_repeats"]  # 3 + floor(phi / 3), exactly
    if phi <= 4:  # D0-D4 follow the rule; D5-D7 cap the depth and D7 grows the input
        assert spec.fpn_repeats == rule["fpn_repeats"]
        assert spec.image_size == rule["image_size"]
    # widths are 64 * 1.35^phi rounded to a multiple of 8 (within 6%: D4 is 224 for 212.6);
    # D7 keeps D6's network and only grows the input
    assert spec.fpn_channels % 8 == 0
    if phi <= 6:
        assert math.isclose(spec.fpn_channels, rule["fpn_channels"], rel_tol=0.06)
    else:
        assert spec.fpn_channels == DET_SPECS["efficientdet_d6"].fpn_channels


def test_names_json_and_validation():
    d0 = get_det_spec("d0")
    assert d0 is get_det_spec("efficientdet_d0") is get_det_spec(d0)
    assert d0.num_levels == 5 and d0.num_anchors == 9
    assert DetSpec.from_json(d0.replace(image_size=64).to_json()) == d0.replace(image_size=64)
    with pytest.raises(ValueError, match="unknown detector 'd9'"):
        get_det_spec("d9")
    with pytest.raises(ValueError, match="unknown fusion"):
        d0.replace(fusion="attn")
    with pytest.raises(ValueError, match="at least 32"):
        d0.replace(image_size=16)
