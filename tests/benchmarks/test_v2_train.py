"""benchmarks/v2_train.py runs (on CPU, tiny settings): both measurements and their tables."""

import runpy
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "v2_train.py"


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny batches on a shared CPU: a second thread's spin-waits cost more than it computes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_speed_times_every_progressive_stage_and_the_b_model(capsys):
    main = runpy.run_path(str(SCRIPT), run_name="benchmark")["main"]
    results = main(["speed", "--device", "cpu", "--scale", "0.1", "--batch-size", "2",
                    "--steps", "1", "--warmup", "0", "--threads", "1",
                    "--v2-model", "efficientnetv2_b0", "--b-model", "efficientnet_b0",
                    "--b-resolution", "320"])  # fmt: skip
    sizes = [row["resolution"] for row in results["rows"]]
    assert sizes == [32, 32, 32, 32, 32]  # V2-S's 128..300 and 320, x0.1, at least 32
    assert [row["run"] for row in results["rows"]][-1] == "efficientnet_b0"
    harmonic = 4 / sum(1 / row["img_per_s"] for row in results["rows"][:4])
    assert abs(results["v2_s_progressive_img_per_s"] - harmonic) < 1e-9
    assert results["ratio"] == results["v2_s_progressive_img_per_s"] / results["b4_img_per_s"]
    assert "ratio:" in capsys.readouterr().out


def test_digits_reports_time_to_target_and_test_accuracy(capsys):
    main = runpy.run_path(str(SCRIPT), run_name="benchmark")["main"]
    results = main(["digits", "--target", "0.0", "--runs", "efficientnet_b0 (b0_digits)",
                    "--override", "max_steps=2", "limit_train_images=32",
                    "batch_size=16"])  # fmt: skip
    (row,) = results["rows"]
    assert row["time_to_target_s"] is not None and 0 <= row["test_top1"] <= 1
    assert "| efficientnet_b0 (b0_digits) |" in capsys.readouterr().out


def test_gpu_train_benchmark_takes_a_v2_model_beside_timms(capsys):
    gpu_train = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_train.py"
    main = runpy.run_path(str(gpu_train), run_name="benchmark")["main"]
    results = main(["--device", "cpu", "--resolution", "32", "--batch-size", "2", "--steps", "1",
                    "--warmup", "0", "--model", "efficientnetv2_b0"])  # fmt: skip
    assert set(results) == {"effnet efficientnetv2_b0", "timm tf_efficientnetv2_b0"}
    assert all(v > 0 for v in results.values())
