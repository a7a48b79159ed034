"""The paper's numbers: complete, consistent with each other, and the ones the tools print."""

import pytest

from effnet import paper
from effnet.registry import get_spec
from effnet.variants import VARIANTS


def test_table2_grows_monotonically_from_b0_to_b7():
    rows = [paper.TABLE2[f"efficientnet_b{i}"] for i in range(8)]
    for field in ("params_m", "flops_b", "top1", "top5"):
        values = [getattr(row, field) for row in rows]
        assert values == sorted(values), field


def test_variants_carry_table2_and_nothing_where_the_paper_is_silent():
    assert VARIANTS["efficientnet_b4"].paper_top1 == paper.TABLE2["efficientnet_b4"].top1 == 82.9
    assert VARIANTS["efficientnet_l2"].paper_top1 is None


@pytest.mark.parametrize("row", paper.TABLE3, ids=lambda r: f"{r[0]}:{r[1]}" if r else "")
def test_table3_rows_name_models_effnet_builds(row):
    base, _label, _scaling, gflops, top1 = row
    assert get_spec(base).name == base
    assert gflops > 0 and 60 < top1 < 90


def test_table4_ratio_is_the_quotient_of_its_latencies():
    latency = paper.TABLE4_LATENCY_S
    assert latency["resnet152"] / latency["efficientnet_b1"] == pytest.approx(
        paper.TABLE4_RATIO, abs=0.05
    )
    gpipe_s, b7_s, ratio = paper.TABLE4_GPIPE
    assert gpipe_s / b7_s == pytest.approx(ratio, abs=0.05)


def test_table7_compound_row_is_the_best():
    best = max(paper.TABLE7, key=lambda row: row[-1])
    assert best[1] == "compound"
