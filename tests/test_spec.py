"""The spec layer: B0 as the paper's Table 1, plain data with no torch."""

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from effnet import flops
from effnet.detection.spec import DET_SPECS
from effnet.registry import get_spec, list_models
from effnet.spec import BLOCK_KINDS, EFFICIENTNET_B0, MAX_MACS, MAX_PARAMS, NetSpec, StageSpec

# docs/paper.md section 2, Table 1, rows 2-8: (kernel, stride, expand, out channels, layers).
TABLE_1 = [
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
]


def test_b0_is_table_1():
    rows = [
        (s.kernel, s.stride, s.expand, s.out_channels, s.repeats) for s in EFFICIENTNET_B0.stages
    ]
    assert rows == TABLE_1
    assert EFFICIENTNET_B0.stem.channels == 32 and EFFICIENTNET_B0.stem.stride == 2
    assert EFFICIENTNET_B0.head_channels == 1280
    assert EFFICIENTNET_B0.resolution == 224
    assert all(s.se_ratio == 0.25 for s in EFFICIENTNET_B0.stages)
    # BN momentum 0.99 in TF terms is 0.01 in PyTorch terms; epsilon 1e-3 (docs/paper.md section 2).
    assert (EFFICIENTNET_B0.bn_momentum, EFFICIENTNET_B0.bn_eps) == (0.01, 1e-3)


def test_blocks_carry_stride_and_width_change_on_the_first_block_only():
    blocks = [b for _, b in EFFICIENTNET_B0.blocks()]
    assert len(blocks) == 16
    stage3 = [b for s, b in EFFICIENTNET_B0.blocks() if s == 2]
    assert [(b.stride, b.in_channels, b.out_channels) for b in stage3] == [(2, 24, 40), (1, 40, 40)]
    assert not stage3[0].has_skip and stage3[1].has_skip
    # SE reduces to a quarter of the block *input* width, not the expanded width.
    assert stage3[1].mid_channels == 240 and stage3[1].se_channels == 10


def test_specs_are_frozen_and_round_trip_through_json():
    with pytest.raises(AttributeError):
        EFFICIENTNET_B0.resolution = 300  # type: ignore[misc]
    again = NetSpec.from_json(EFFICIENTNET_B0.to_json())
    assert again == EFFICIENTNET_B0 and hash(again) == hash(EFFICIENTNET_B0)


def test_invalid_stage_is_rejected_with_the_reason():
    with pytest.raises(ValueError, match="unknown block kind 'conv'"):
        StageSpec("conv", 3, 1, 1, 16, 1)
    with pytest.raises(ValueError, match="at least one block"):
        StageSpec("mbconv", 3, 1, 1, 16, 0)


def test_spec_scaling_and_flops_layers_do_not_import_torch():
    code = (
        "import sys, effnet.spec, effnet.scaling, effnet.variants, effnet.baselines, effnet.flops;"
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize(
    ("where", "field", "value", "message"),
    [
        ("stage", "stride", 0, r"StageSpec.stride must be in \[1, 8\], got 0"),
        ("stage", "kernel", 0, r"StageSpec.kernel must be in \[1, 31\], got 0"),
        ("stage", "kernel", "3", "StageSpec.kernel must be an integer, got '3'"),
        ("stage", "expand", 0, "StageSpec.expand must be positive"),
        ("stage", "expand", 1 / 64, "stage 2: expand 0.015625 of 16 channels leaves 0 inside"),
        ("stage", "se_ratio", 2.0, r"StageSpec.se_ratio must be in \[0, 1\]"),
        ("stage", "repeats", 10**9, r"StageSpec.repeats must be in \[1, 1000\]"),
        ("stem", "channels", -32, r"StemSpec.channels must be in \[1, 65536\], got -32"),
        ("stem", "stride", True, "StemSpec.stride must be an integer, got True"),
        ("net", "resolution", 10**9, "resolution 1000000000 is above the 8192 px"),
        ("net", "resolution", 224.5, "NetSpec.resolution must be an integer"),
        ("net", "dropout", float("nan"), r"NetSpec.dropout must be in \[0, 1\)"),
        ("net", "head_channels", 0, r"NetSpec.head_channels must be in \[1, 65536\]"),
        ("net", "bn_eps", 0.0, "NetSpec.bn_eps must be positive"),
    ],
)
def test_numbers_no_network_can_have_are_refused_naming_the_field(where, field, value, message):
    spec = EFFICIENTNET_B0.to_dict()
    target = {"stage": spec["stages"][1], "stem": spec["stem"], "net": spec}[where]
    target[field] = value
    with pytest.raises(ValueError, match=message):
        NetSpec.from_dict(spec)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["kernel", "stride", "expand", "out_channels", "repeats", "se_ratio"]),
        st.one_of(
            st.integers(-(10**12), 10**12),
            st.floats(allow_nan=True),
            st.text(max_size=3),
            st.none(),
            st.booleans(),
        ),
        min_size=1,
    )
)
def test_any_stage_either_builds_a_valid_spec_or_is_one_valueerror(changes):
    """Fuzzed stage fields: never a TypeError or a spec with a zero stride or kernel."""
    spec = EFFICIENTNET_B0.to_dict()
    spec["stages"][0].update(changes)
    try:
        built = NetSpec.from_dict(spec)
    except ValueError as err:
        assert str(err)
        return
    stage = built.stages[0]
    assert 1 <= stage.kernel <= 31 and 1 <= stage.stride <= 8 and stage.expand > 0
    assert 0 <= stage.se_ratio <= 1 and 1 <= stage.out_channels <= 65536


# ---- the network as a whole: bounded from the spec alone, before anything is built -----------
def test_every_shipped_network_is_within_the_bounds():
    """B0-B8, L2, V2-XL, Lite, EdgeTPU, the baselines, and EfficientDet's backbones at their own
    input sizes (D7: B6 at 1536 px); L2 is the largest, and stays under half of each bound."""
    for name in list_models():
        cost = flops.check_size(get_spec(name))
        assert cost.params <= MAX_PARAMS // 2 and cost.macs <= MAX_MACS // 4, name
    for det in DET_SPECS.values():
        flops.check_size(get_spec(det.backbone), resolution=det.image_size)
    flops.check_size(get_spec("efficientnet_b7"), resolution=1536)  # D7x's backbone
    assert "efficientnet_l2" in list_models() and "efficientnetv2_xl" in list_models()


def _huge(stages=7, **changes):
    spec = EFFICIENTNET_B0.to_dict()
    for stage in spec["stages"][:stages]:
        stage.update(changes)
    return NetSpec.from_dict(spec)


@pytest.mark.parametrize(
    ("spec", "kwargs", "message"),
    [
        # Each field within its own bound, the whole 10^13 weights (the 103 GB predict).
        (_huge(out_channels=65536, repeats=1000), {}, r"describes [\d,]+ parameters \(4 bytes"),
        (_huge(out_channels=65536, repeats=1000), {}, r"most of them in stages\[\d\] \(out_chan"),
        (EFFICIENTNET_B0.replace(resolution=8192), {}, "feature map of 1,610,612,736 values"),
        (EFFICIENTNET_B0, {"resolution": 8192}, r"in stages\[1\] \(out_channels=24"),
        (EFFICIENTNET_B0, {"num_classes": 10**7}, r"in the classifier \(num_classes=10000000\)"),
        (_huge(stages=2, repeats=1000), {"resolution": 2048}, "multiply-adds per image at 2048"),
    ],
)
def test_a_network_too_big_in_total_is_one_valueerror_naming_the_field(spec, kwargs, message):
    with pytest.raises(ValueError, match=message) as caught:
        flops.check_size(spec, **kwargs)
    assert "\n" not in str(caught.value) and "the limit is" in str(caught.value)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "kind": st.sampled_from(BLOCK_KINDS),
                "kernel": st.integers(1, 7),
                "stride": st.integers(1, 3),
                "expand": st.sampled_from([0.25, 1, 4, 6]),
                "out_channels": st.integers(8, 64),
                "repeats": st.integers(1, 5),
                "se_ratio": st.sampled_from([0.0, 0.25]),
            }
        ),
        min_size=1,
        max_size=4,
    )
)
def test_the_closed_form_count_is_the_sum_over_every_block(stages):
    """A stage counted as its first block plus repeats - 1 copies is the block-by-block sum."""
    spec = EFFICIENTNET_B0.to_dict()
    spec["stages"] = stages
    try:
        built = NetSpec.from_dict(spec)
    except ValueError:
        return
    hw, total = flops.conv_out_size(built.resolution, built.stem.stride), 0
    for _, block in built.blocks():
        total += flops.block_cost(block, hw).macs
        hw = flops.conv_out_size(hw, block.stride)
    rows = flops.stage_costs(built, num_classes=0)
    assert sum(r.macs for r in rows[1 : 1 + len(stages)]) == total
    assert [b for _, b in built.blocks()] == [
        b
        for s, first, rest in built.stage_blocks()
        for b in [first] + [rest] * (stages[s]["repeats"] - 1)
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", ["b0"], "NetSpec.name must be a string"),
        ("fixed_stem", "yes", "NetSpec.fixed_stem must be true or false"),
        ("fixed_repeats", [99], "fixed_repeats holds 99, not a stage index below 7"),
        ("round_limit", float("nan"), r"NetSpec.round_limit must be in \[0, 1\]"),
        ("stages", [EFFICIENTNET_B0.to_dict()["stages"][0]] * 65, "at most 64 stages"),
    ],
)
def test_fields_of_the_wrong_kind_are_refused_naming_them(field, value, message):
    spec = EFFICIENTNET_B0.to_dict()
    spec[field] = value
    with pytest.raises(ValueError, match=message):
        NetSpec.from_dict(spec)
