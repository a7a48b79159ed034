"""Exact resume: killed with SIGKILL and resumed, a run ends bit-identical to an unbroken one."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
# 64 images in batches of 16: 4 steps per epoch, 12 in all; a checkpoint after every step.
# AutoAugment, random crops, dropout, stochastic depth and EMA are all on, so the exactness covers
# every random draw the loop makes.
OVERRIDES = [
    "image_size=32", "batch_size=16", "limit_train_images=64", "epochs=3", "warmup_epochs=1",
    "lr_decay_epochs=1", "save_every_steps=1", "deterministic=true", "autoaugment=svhn",
    "crop_scale_min=0.5", "ema_decay=0.99", "log_every=1", "num_workers=0", "device=cpu",
]  # fmt: skip
TOTAL_STEPS = 12
KILL_AFTER_STEP = 5
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def command(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "effnet.cli", "train", "--config", str(ROOT / "configs/b0_digits.py"),
        *extra, "--override", *OVERRIDES, f"output_dir={out}",
    ]  # fmt: skip


def train_records(out: Path) -> list[dict]:
    path = out / "log.jsonl"
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line being written right now
            break
    return [r for r in records if r["kind"] == "train"]


def test_kill_9_mid_run_then_resume_is_bit_identical(tmp_path):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    subprocess.run(command(straight), env=ENV, check=True, capture_output=True, timeout=600)

    with (tmp_path / "killed.err").open("w") as err:
        proc = subprocess.Popen(
            command(interrupted), env=ENV, stdout=subprocess.DEVNULL, stderr=err
        )
        deadline = time.time() + 300
        while not any(r["step"] >= KILL_AFTER_STEP for r in train_records(interrupted)):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.time() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    progress = torch.load(interrupted / "last.pt", weights_only=True)["progress"]
    saved = progress["step"]
    assert KILL_AFTER_STEP - 1 <= saved < TOTAL_STEPS  # it really stopped mid-run

    resumed = subprocess.run(
        command(interrupted, "--resume"), env=ENV, check=True, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert f"at epoch {progress['epoch']}, step {saved}/{TOTAL_STEPS}" in resumed.stdout

    for name in ("model.safetensors", "best.safetensors"):
        a, b = load_file(straight / name), load_file(interrupted / name)
        assert a.keys() == b.keys()
        different = [k for k in a if not torch.equal(a[k], b[k])]
        assert not different, f"{name}: {len(different)} tensors differ, first {different[0]}"
    state_a = torch.load(straight / "last.pt", weights_only=True)
    state_b = torch.load(interrupted / "last.pt", weights_only=True)
    for key in ("model", "ema"):
        flat_a, flat_b = state_a[key], state_b[key]
        flat_a = flat_a["module"] if key == "ema" else flat_a
        flat_b = flat_b["module"] if key == "ema" else flat_b
        assert all(torch.equal(flat_a[k], flat_b[k]) for k in flat_a), key
    moments_a = [s["square_avg"] for s in state_a["optimizer"]["state"].values()]
    moments_b = [s["square_avg"] for s in state_b["optimizer"]["state"].values()]
    assert all(torch.equal(x, y) for x, y in zip(moments_a, moments_b, strict=True))
    # The log reads as one run: every step once, with the same losses.
    losses_a = [(r["step"], r["loss"]) for r in train_records(straight)]
    losses_b = [(r["step"], r["loss"]) for r in train_records(interrupted)]
    assert [s for s, _ in losses_b] == list(range(1, TOTAL_STEPS + 1))
    assert losses_a == losses_b
    assert state_b["progress"]["step"] == TOTAL_STEPS
