"""benchmarks/detection.py: D0-D7 cost beside the paper's table, and the latency rows."""

import runpy
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "detection.py"


@pytest.fixture(scope="module")
def script():
    return runpy.run_path(str(SCRIPT), run_name="benchmark")


@pytest.mark.parametrize("name", ["efficientdet_d0", "efficientdet_d7"])
def test_parameters_and_multiply_adds_match_the_papers_table(script, name):
    cost = script["count_cost"](name)  # on the meta device: D7 at 1536 px in seconds
    paper_params, paper_gflops = script["PAPER_COST"][name]
    assert abs(cost["params_m"] - paper_params) / paper_params < 0.01
    assert abs(cost["gmacs"] - paper_gflops) / paper_gflops < 0.02  # 2.49 vs 2.5, 322.7 vs 325


def test_latency_is_a_positive_median(script):
    assert script["latency"]("efficientdet_d0", threads=1, repeats=1) > 0
