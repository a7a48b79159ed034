"""benchmarks/gpu.py runs on CPU with tiny settings: effnet and timm B0/B4, both modes, ratios."""

import json
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

from effnet.deploy import timing

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"


def test_gpu_benchmark_runs_on_cpu_with_tiny_settings(capsys, tmp_path):
    main = runpy.run_path(str(SCRIPT), run_name="benchmark")["main"]
    path = tmp_path / "gpu.json"
    payload = main(["--device", "cpu", "--resolution", "32", "--batch-size", "2", "--steps", "1",
                    "--json", str(path)])  # fmt: skip
    out = capsys.readouterr().out
    assert json.loads(path.read_text()) == payload
    assert payload["compile"] is False and payload["device"] == "cpu"  # no compile on CPU
    rows = {(r["library"], r["model"]): r for r in payload["results"]}
    assert set(rows) == {
        (lib, f"efficientnet_{v}") for lib in ("effnet", "timm") for v in ("b0", "b4")
    }
    for (library, model), r in rows.items():
        assert r["resolution"] == 32
        assert r["inference_batch_size"] == r["training_batch_size"] == 2
        assert r["inference_images_per_s"] > 0 and r["training_images_per_s"] > 0
        assert f"{library} {model}" in out
    for v in ("b0", "b4"):
        for mode in ("inference", "training"):
            ratio = payload["ratios_effnet_over_timm"][v][mode]
            key = f"{mode}_images_per_s"
            expected = rows[("effnet", f"efficientnet_{v}")][key]
            expected /= rows[("timm", f"efficientnet_{v}")][key]
            assert ratio == pytest.approx(expected)
        assert f"effnet / timm {v.upper()}: inference" in out


def test_both_modes_are_timed_by_the_shared_timing_loop(monkeypatch, capsys):
    # Every timed step takes exactly 0.5 s on this clock, so batch 2 gives 4 images/s everywhere.
    ticks = iter(range(10_000))
    monkeypatch.setattr(timing, "time", SimpleNamespace(perf_counter=lambda: 0.5 * next(ticks)))
    main = runpy.run_path(str(SCRIPT), run_name="benchmark")["main"]
    payload = main(["--device", "cpu", "--variants", "b0", "--resolution", "32", "--batch-size",
                    "2", "--steps", "2", "--warmup", "0"])  # fmt: skip
    for row in payload["results"]:
        assert row["inference_images_per_s"] == row["training_images_per_s"] == 4.0
    assert payload["ratios_effnet_over_timm"] == {"b0": {"inference": 1.0, "training": 1.0}}
