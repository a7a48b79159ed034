"""Shared pieces of the experiment tests: a network that trains in well under a second per step,
a one-step config, a stand-in training result, and config files that count their executions."""

from __future__ import annotations

from pathlib import Path

from effnet.spec import NetSpec, StageSpec, StemSpec
from effnet.train import TrainConfig


def tiny_base(resolution: int = 24) -> NetSpec:
    """A three-stage MBConv network: experiments work on any spec, and this one trains fast
    enough that tests can exercise real training end to end."""
    return NetSpec(
        name="tiny",
        stem=StemSpec(8, 3, 2),
        stages=(
            StageSpec("mbconv", 3, 1, 1, 8, 1, 0.25),
            StageSpec("mbconv", 3, 2, 3, 16, 1, 0.25),
            StageSpec("mbconv", 3, 2, 3, 24, 2, 0.25),
        ),
        head_channels=64,
        resolution=resolution,
        dropout=0.1,
        drop_path_rate=0.0,
    )


def tiny_config(tmp_path: Path) -> TrainConfig:
    """One optimizer step on the embedded digits, without the augmentation and EMA a step that
    short cannot use."""
    return TrainConfig(
        model="efficientnet_b0",
        dataset="digits",
        epochs=1,
        max_steps=1,
        batch_size=64,
        warmup_epochs=0,
        autoaugment=None,
        hflip=False,
        ema_decay=0.0,
        eval_crop_pct=1.0,
        num_workers=0,
        log_every=1,
        channels_last=False,
        output_dir=str(tmp_path / "unused"),
    )


class FakeResult:
    """What a trainer returns, as far as the runner reads it."""

    def __init__(self, acc: float | None = 0.5, test: float | None = 0.4) -> None:
        self.best_val_acc, self.test_acc = acc, test
        self.wall_time_s, self.steps, self.best_checkpoint = 1.0, 1, ""


#: The body of a config file that trains one step: ``get_config()`` only.
TINY_GET_CONFIG = """
from pathlib import Path

from effnet.train import TrainConfig

# Every execution of this file leaves one line in <file>.runs, so tests can count them.
with open(Path(__file__).with_suffix(".runs"), "a") as runs:
    runs.write("ran\\n")


def get_config():
    return TrainConfig(
        model="efficientnet_b0", dataset="digits", epochs=1, max_steps=1, batch_size=64,
        warmup_epochs=0, autoaugment=None, hflip=False, ema_decay=0.0, eval_crop_pct=1.0,
        num_workers=0, log_every=1, channels_last=False, output_dir="unused",
    )
"""


def write_config(path: Path, extra: str = "") -> Path:
    """A config file made of :data:`TINY_GET_CONFIG` and ``extra`` (an experiment getter)."""
    path.write_text(TINY_GET_CONFIG + extra)
    return path


def executions(config: Path) -> int:
    """How many times ``config`` (written by :func:`write_config`) has been executed."""
    runs = config.with_suffix(".runs")
    return len(runs.read_text().splitlines()) if runs.exists() else 0
