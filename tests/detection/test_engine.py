"""Detection on the one training loop, as classification runs on it: torchrun with two CPU
processes (gloo) against one process with the same global batch, kill -9 and ``--resume`` ending
bit-identical, and bf16 autocast.

Every run here is ``effnet train --config configs/d0_shapes.py`` at 32 px on a tiny shapes set
(32 training images: 2 steps of 16 an epoch), started as a user would, in its own process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from effnet.detection.checkpoint import load_detector
from effnet.detection.model import EfficientDet
from effnet.detection.task import det_spec_for
from effnet.train.config import load_config
from tests.train.test_checkpoint import kill_9_after_step, train_records

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "configs" / "d0_shapes.py")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def overrides(data: Path, out: Path, *more: str) -> list[str]:
    return [
        "image_size=32", "shapes_image_size=32", "shapes_train=32", "shapes_val=8",
        "shapes_test=0", "shapes_min_size=8", "shapes_max_size=16", "batch_size=16",
        "drop_path_rate=0", "log_every=1", "device=cpu", f"data_dir={data}",
        f"output_dir={out}", *more,
    ]  # fmt: skip


def effnet_train(data: Path, out: Path, *more: str, extra: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, "-m", "effnet.cli", "train", "--config", CONFIG, *extra,
            "--override", *overrides(data, out, *more)]  # fmt: skip


def weights(out: Path, name: str = "model.safetensors") -> dict[str, torch.Tensor]:
    return load_file(out / name)


def test_torchrun_two_processes_equal_one_process_with_the_same_global_batch(tmp_path):
    """Two ranks of 8 images a step against one process of 16 images a step in two micro-batches
    of 8: the same global batch of 16, cut into the same shards (:class:`EpochBatches` deals a
    step's images to micro-batches as the sampler deals them to ranks).

    Tolerance: none for the trained parameters and their EMA, which must be bit-identical after
    4 steps. Each shard is normalised by its own BN batch statistics in both runs, DDP averages
    the two shards' gradients ((g0 + g1) / 2) where accumulation sums the halves (g0 / 2 + g1 / 2),
    and halving is exact in floating point. Not compared: the BN running statistics, which the
    two runs keep differently by design (accumulation updates them once per micro-batch, ranks
    average theirs once per step), so eval-mode scores differ slightly.
    """
    data = tmp_path / "shapes"
    one, two = tmp_path / "one", tmp_path / "two"
    run = subprocess.run(effnet_train(data, one, "epochs=2", "grad_accum_steps=2"), env=ENV,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "effnet.cli", "train", "--config", CONFIG, "--override",
           *overrides(data, two, "epochs=2")]  # fmt: skip
    run = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Warning" not in run.stderr, run.stderr[-3000:]

    summary = json.loads((two / "summary.json").read_text())
    assert (summary["world_size"], summary["backend"], summary["steps"]) == (2, "gloo", 4)
    assert summary["task"] == "detection" and summary["metric"] == "map"
    first, second = summary["rank_weight_sha256"]
    assert first == second  # the ranks hold one model
    a = torch.load(one / "last.pt", weights_only=True)
    b = torch.load(two / "last.pt", weights_only=True)
    assert a["progress"]["step"] == b["progress"]["step"] == 4
    cfg = load_config(CONFIG, overrides(data, one))
    torch.manual_seed(cfg.seed)  # the loop's initial weights: the seed alone decides them
    start = EfficientDet(det_spec_for(cfg), num_classes=4).state_dict()
    trained = [k for k in start if start[k].is_floating_point() and "running" not in k]
    assert any(not torch.equal(a["model"][k], start[k]) for k in trained)  # it trained
    for x, y in ((a["model"], b["model"]), (a["ema"]["module"], b["ema"]["module"])):
        different = [k for k in trained if not torch.equal(x[k], y[k])]
        assert not different, f"{len(different)} of {len(trained)} differ, first {different[0]}"


def test_kill_9_then_resume_continues_bit_exact(tmp_path):
    """3 epochs of 2 steps, a resumable state after every step, killed after step 3 of 6: the
    resumed run's weights, EMA, optimizer moments and log equal an unbroken run's."""
    data = tmp_path / "shapes"
    more = ("epochs=3", "save_every_steps=1", "deterministic=true")
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    subprocess.run(effnet_train(data, straight, *more), env=ENV, check=True, capture_output=True,
                   timeout=600)  # fmt: skip
    kill_9_after_step(effnet_train(data, interrupted, *more), interrupted, 3, tmp_path / "k.err")
    saved = torch.load(interrupted / "last.pt", weights_only=True)["progress"]["step"]
    assert 2 <= saved < 6
    resumed = subprocess.run(effnet_train(data, interrupted, *more, extra=("--resume",)),
                             env=ENV, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"step {saved}/6" in resumed.stdout

    for name in ("model.safetensors", "best.safetensors"):
        x, y = weights(straight, name), weights(interrupted, name)
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x), name
    a = torch.load(straight / "last.pt", weights_only=True)
    b = torch.load(interrupted / "last.pt", weights_only=True)
    for key in ("model", "ema"):
        state_a = a[key] if key == "model" else a[key]["module"]
        state_b = b[key] if key == "model" else b[key]["module"]
        assert all(torch.equal(state_a[k], state_b[k]) for k in state_a), key
    moments_a = [s["exp_avg_sq"] for s in a["optimizer"]["state"].values()]
    moments_b = [s["exp_avg_sq"] for s in b["optimizer"]["state"].values()]
    assert all(torch.equal(x, y) for x, y in zip(moments_a, moments_b, strict=True))
    steps_b = [(r["step"], r["loss"]) for r in train_records(interrupted)]
    assert steps_b == [(r["step"], r["loss"]) for r in train_records(straight)]
    assert [s for s, _ in steps_b] == list(range(1, 7))


@pytest.mark.parametrize("amp", ["bf16"])
def test_bf16_autocast_trains_a_detector(tmp_path, amp):
    """bf16 autocast on the CPU: the forward pass in bf16, the loss in fp32, a usable detector."""
    data, out = tmp_path / "shapes", tmp_path / "run"
    run = subprocess.run(effnet_train(data, out, "epochs=1", f"amp={amp}"), env=ENV,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"amp {amp}" in run.stdout
    losses = [r["loss"] for r in train_records(out)]
    assert len(losses) == 2 and all(0 < loss < 100 for loss in losses)
    model, extra = load_detector(out / "model.safetensors")
    assert extra["steps"] == 2 and extra["val_map"] is not None
    floats = [v for v in model.state_dict().values() if v.is_floating_point()]
    assert all(v.dtype == torch.float32 for v in floats)
