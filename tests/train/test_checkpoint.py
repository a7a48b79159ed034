"""Exact resume: killed with SIGKILL and resumed, a run ends bit-identical to an unbroken one;
and the pieces that make it so (state round trip, RNG, refusing a changed recipe)."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from effnet.train import TrainConfig
from effnet.train.checkpoint import (
    Progress,
    TrainState,
    check_resumable,
    copy_with_state,
    load_state,
    resume_state,
    save_atomic,
    save_state,
)
from effnet.train.distributed import Dist
from effnet.train.ema import ModelEma
from effnet.train.optim import RMSpropTF
from effnet.train.schedule import PaperSchedule

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


def kill_9_after_step(argv: list[str], out: Path, step: int, stderr: Path) -> None:
    """Start the training command ``argv`` and SIGKILL it once its log (in ``out``) records
    ``step``: no chance to save, flush or clean up, as when a machine loses power."""
    with stderr.open("w") as err:
        proc = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + 300
        while not any(r["step"] >= step for r in train_records(out)):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.time() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_kill_9_mid_run_then_resume_is_bit_identical(tmp_path):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    subprocess.run(command(straight), env=ENV, check=True, capture_output=True, timeout=600)

    kill_9_after_step(command(interrupted), interrupted, KILL_AFTER_STEP, tmp_path / "killed.err")
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


ONE = Dist(0, 1, 0, torch.device("cpu"), owns_group=False)
CLASSES = ["cat", "coffee"]  # the two outputs of small_state's model


def small_state(seed: int) -> TrainState:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    optimizer = RMSpropTF(model.parameters(), lr=0.1)
    schedule = PaperSchedule(optimizer, steps_per_epoch=4, base_lr=0.1, warmup_epochs=1)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    return TrainState(model, optimizer, schedule, scaler, ModelEma(model, 0.9))


def take_steps(state: TrainState, n: int) -> None:
    for _ in range(n):
        state.schedule.set_step(state.progress.step)
        loss = state.model(torch.randn(8, 3)).square().mean()
        loss.backward()
        state.optimizer.step()
        state.optimizer.zero_grad()
        state.ema.update(state.model)
        state.progress.step += 1


def test_saved_state_resumes_into_a_fresh_one_and_continues_identically(tmp_path):
    cfg = TrainConfig(output_dir=str(tmp_path))
    state = small_state(0)
    take_steps(state, 3)
    state.progress.history.append({"step": 3, "val_acc": 0.5})
    state.best_model = {k: v.clone() for k, v in state.model.state_dict().items()}
    random.seed(11)
    save_state(tmp_path / "last.pt", ONE, cfg, state, CLASSES)
    take_steps(state, 2)  # the run goes on ...
    after = [p.detach().clone() for p in state.model.parameters()]
    python_draw = random.random()

    resumed = small_state(1)  # ... and a new process picks it up from the file
    resume_state(tmp_path / "last.pt", load_state(tmp_path / "last.pt"), cfg, ONE, resumed, CLASSES)
    assert resumed.progress == Progress(step=3, history=[{"step": 3, "val_acc": 0.5}])
    assert resumed.best_model.keys() == state.best_model.keys()
    take_steps(resumed, 2)
    assert all(torch.equal(a, b) for a, b in zip(after, resumed.model.parameters(), strict=True))
    assert random.random() == python_draw
    assert resumed.fingerprint() == state.fingerprint()


def test_fingerprint_covers_the_ema_weights():
    a, b = small_state(0), small_state(0)
    assert a.fingerprint() == b.fingerprint()
    with torch.no_grad():
        b.ema.module[0].weight.add_(1.0)
    assert a.fingerprint() != b.fingerprint()


def test_a_changed_recipe_or_world_size_is_refused_but_run_length_may_change():
    saved = {"config": TrainConfig(epochs=3).to_dict(), "world_size": 2}
    check_resumable(TrainConfig(epochs=10, num_workers=1, max_steps=5), saved, world_size=2)
    with pytest.raises(ValueError, match=r"lr_per_256: 0\.016 -> 0\.032"):
        check_resumable(TrainConfig(epochs=3, lr_per_256=0.032), saved, world_size=2)
    with pytest.raises(ValueError, match="saved with 2 processes"):
        check_resumable(TrainConfig(epochs=3), saved, world_size=1)
    # Resuming without the run's overrides names the ones to repeat.
    started = {"config": TrainConfig(image_size=32, dropout=None).to_dict(), "world_size": 1}
    with pytest.raises(ValueError, match=r"and --override data.image_size=32$"):
        check_resumable(TrainConfig(image_size=24, dropout=None), started, world_size=1)
    with pytest.raises(ValueError, match=r"--override data.image_size=none$"):
        check_resumable(TrainConfig(image_size=24), saved | {"world_size": 1}, world_size=1)


def test_missing_or_foreign_files_are_not_resumed(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        load_state(tmp_path / "last.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an effnet training state"):
        load_state(tmp_path / "other.pt")


def test_copy_with_state_leaves_the_original_alone():
    model = nn.Linear(2, 2)
    before = model.weight.detach().clone()
    other = copy_with_state(model, {"weight": torch.ones(2, 2), "bias": torch.zeros(2)})
    assert torch.equal(other.weight, torch.ones(2, 2))
    assert torch.equal(model.weight, before)


def test_state_and_weights_files_are_readable_as_the_umask_allows(tmp_path):
    """Not 0600 (what a temporary file is created with): others may read what a run shares."""
    import stat

    import effnet
    from effnet.weights import save_model

    umask = os.umask(0o022)
    os.umask(umask)
    expected = 0o666 & ~umask
    state = save_atomic({"config": {}}, tmp_path / "last.pt")
    weights = save_model(tmp_path / "best.safetensors", effnet.create_model("efficientnet_b0"))
    for path in (state, weights):
        assert stat.S_IMODE(path.stat().st_mode) == expected, oct(path.stat().st_mode)


def test_the_same_run_may_be_resumed_from_another_spelling_of_its_folder():
    saved = {"config": TrainConfig(output_dir="runs/x").to_dict(), "world_size": 1}
    for spelling in ("./runs/x", "/elsewhere/moved/x", "runs/x/"):
        check_resumable(TrainConfig(output_dir=spelling), saved, world_size=1)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 cut", b"\x80\x02}q\x00."])
def test_a_damaged_or_empty_state_says_so(tmp_path, content):
    (tmp_path / "last.pt").write_bytes(content)
    with pytest.raises(ValueError, match=r"cannot resume from .*last\.pt: it is damaged"):
        load_state(tmp_path / "last.pt")
