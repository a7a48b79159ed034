"""benchmarks/cpu_inference.py runs end to end on tiny settings: every row computes the same
logits, and the ratios it prints are the ones its timings give."""

import runpy
from pathlib import Path

import torch

from effnet.deploy.cpu import cpu_info
from effnet.deploy.inference import engine_precisions

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cpu_inference.py"


def test_cpu_benchmark_times_every_path_on_the_same_weights(capsys, tmp_path):
    main = runpy.run_path(str(SCRIPT), run_name="benchmark")["main"]
    out_json = tmp_path / "cpu.json"
    report = main(["--resolution", "64", "--batch-size", "2", "--rounds", "2",
                   "--latency-rounds", "2", "--threads", "1", "--no-compile",
                   "--json", str(out_json)])  # fmt: skip
    rows = report["throughput"]
    engines = {f"engine: {b} {p}" for b, p in engine_precisions() if b != "compile"}
    expected = {
        "effnet eager (NCHW)", "effnet fast path fp32", "effnet fast path, any precision",
        "timm eager (NCHW)", "timm eager channels_last", "timm -> ONNX Runtime", *engines,
    }  # fmt: skip
    if cpu_info().has_bf16:
        expected.add("timm eager channels_last bf16 autocast")
    assert set(rows) == expected and set(report["latency"]) == expected
    assert {"engine: openvino fp32", "engine: onnxruntime fp32"} <= engines
    assert all(r["median_s"] > 0 for r in rows.values())
    base = rows["timm eager channels_last"]["median_s"]
    fast = rows["effnet fast path fp32"]
    assert (
        abs(fast["vs_baseline_median"] - base / fast["median_s"])
        < 1e-6 * fast["vs_baseline_median"]
    )
    printed = capsys.readouterr().out
    assert cpu_info().header() in printed
    assert "target >= 5.0x" in printed or "target >= 3.0x" in printed
    assert "vs best fp32 engine" in printed and "batch-1 latency" in printed
    # Same weights everywhere: the fp32 rows' logits agree with effnet eager.
    fp32 = [r for r in rows.values() if r["precision"] == "fp32"]
    assert len(fp32) >= 6 and max(r["max_abs_diff"] for r in fp32) < 1e-4
    assert {r["precision"] for r in rows.values()} == {"fp32", *cpu_info().precisions[1:]}
    assert out_json.is_file()


def test_rounds_are_interleaved_and_timed_by_the_shared_loop(fake_clock):
    # Runner i takes i + 1 seconds on a fake clock: each round must time one call of every runner,
    # in turn, after a single untimed warm-up call each.
    calls = []

    def runner(name: str, seconds: float):
        def run(x):
            calls.append(name)
            fake_clock.now += seconds

        return run

    interleaved = runpy.run_path(str(SCRIPT), run_name="benchmark")["interleaved"]
    times = interleaved({"a": runner("a", 1.0), "b": runner("b", 2.0)}, torch.zeros(1), rounds=3)
    assert times == {"a": [1.0] * 3, "b": [2.0] * 3}
    assert calls == ["a", "a", "b", "b"] + ["a", "b"] * 2  # warm-up then timed, round by round
