"""benchmarks/deploy_engines.py runs end to end on tiny settings: every installed format x
precision is exported, loaded on its engine and timed beside PyTorch, with its file size, and the
goals are judged from those rows."""

import runpy
from pathlib import Path

import pytest

from effnet.deploy.cpu import cpu_info

pytestmark = pytest.mark.engines

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "deploy_engines.py"


def test_every_format_is_timed_with_its_size_and_the_goal_is_judged(capsys, tmp_path):
    main = runpy.run_path(str(SCRIPT), run_name="benchmark")["main"]
    report = main(["--resolution", "64", "--batches", "1", "--rounds", "1", "--threads", "1",
                   "--models", "efficientnet_lite0", "--formats", "onnx", "tflite",
                   "--json", str(tmp_path / "r.json")])  # fmt: skip
    rows = report["rows"]["efficientnet_lite0 batch 1"]
    got = {(r["engine"], r["precision"]) for r in rows}
    expected = {("eager", "fp32"), ("onnxruntime", "fp32"), ("litert", "fp32"), ("litert", "fp16"),
                ("litert", "int8")}  # fmt: skip
    if cpu_info().supports("int8"):
        expected.add(("onnxruntime", "int8"))
    assert got == expected
    assert all(r["ms_per_batch"] > 0 for r in rows)
    sizes = {(r["engine"], r["precision"]): r["file_mb"] for r in rows}
    # fp16 weights are half of fp32's, int8 about a quarter (plus the kept fp32 parts).
    assert sizes["litert", "fp16"] < 0.6 * sizes["litert", "fp32"]
    assert sizes["litert", "int8"] < 0.4 * sizes["litert", "fp32"]
    (goal,) = report["goals"]  # at 64 px the size goal (a 224 px file) is not judged
    assert goal.startswith("efficientnet_lite0 batch 1: best phone format litert")
    assert cpu_info().header() in capsys.readouterr().out
