"""benchmarks/gpu_train.py runs (on CPU, tiny settings) and prints both models and the ratio."""

import runpy
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_train.py"


def test_benchmark_measures_effnet_and_timm_side_by_side(capsys):
    main = runpy.run_path(str(SCRIPT), run_name="benchmark")["main"]
    results = main(["--device", "cpu", "--resolution", "32", "--batch-size", "4", "--steps", "2",
                    "--warmup", "1"])  # fmt: skip
    assert set(results) == {"effnet efficientnet_b0", "timm efficientnet_b0"}
    assert all(v > 0 for v in results.values())
    out = capsys.readouterr().out
    assert "images/s" in out and "ratio effnet / timm:" in out
