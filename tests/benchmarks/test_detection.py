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


def test_training_runs_each_amp_mode_into_its_own_folder_and_reads_back_its_scores(
    script, tmp_path
):
    """The ``train`` mode at 32 px on 16 shapes, one step: fp32 and bf16 runs side by side."""
    overrides = [
        "data.image_size=32", "data.shapes.image_size=32", "data.shapes.train=16",
        "data.shapes.val=4", "data.shapes.test=4", "data.shapes.min_size=8",
        "data.shapes.max_size=16", "schedule.epochs=1", "schedule.max_steps=1",
        f"data.dir={tmp_path / 'shapes'}", f"runtime.output_dir={tmp_path / 'run'}",
    ]  # fmt: skip
    runs = [script["train_run"](overrides, amp) for amp in ("none", "bf16")]
    assert [r["amp"] for r in runs] == ["none", "bf16"]
    for run in runs:
        assert (tmp_path / f"run-bench-{run['amp']}" / "summary.json").is_file()
        assert run["steps"] == 1 and run["wall_s"] > 0 and 0 <= run["test_map"] <= 1
