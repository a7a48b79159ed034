"""benchmarks/gpu_train.py runs (on CPU, tiny settings) and prints both models and the ratio."""

import runpy
from pathlib import Path
from types import SimpleNamespace

from effnet.deploy import timing

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_train.py"


def test_benchmark_measures_effnet_and_timm_side_by_side(capsys):
    main = runpy.run_path(str(SCRIPT), run_name="benchmark")["main"]
    results = main(["--device", "cpu", "--resolution", "32", "--batch-size", "4", "--steps", "2",
                    "--warmup", "1"])  # fmt: skip
    assert set(results) == {"effnet efficientnet_b0", "timm efficientnet_b0"}
    assert all(v > 0 for v in results.values())
    out = capsys.readouterr().out
    assert "images/s" in out and "ratio effnet / timm:" in out


def test_images_per_second_comes_from_the_shared_timing_loop(monkeypatch):
    # A clock that moves 0.5 s per reading makes every timed step take exactly 0.5 s: the reported
    # throughput is then batch / 0.5 whatever the machine, and only if time_runs did the timing.
    ticks = iter(range(10_000))
    monkeypatch.setattr(timing, "time", SimpleNamespace(perf_counter=lambda: 0.5 * next(ticks)))
    main = runpy.run_path(str(SCRIPT), run_name="benchmark")["main"]
    results = main(["--device", "cpu", "--resolution", "32", "--batch-size", "4", "--steps", "3",
                    "--warmup", "1"])  # fmt: skip
    assert results == {"effnet efficientnet_b0": 8.0, "timm efficientnet_b0": 8.0}
