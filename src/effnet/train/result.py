"""What a finished run reports: :class:`TrainResult` to its caller, ``summary.json`` to its folder
and a closing ``done:`` line to its reader, all three from one :class:`Outcome`.

No torch here: ``effnet.train`` re-exports :class:`TrainResult`, and importing the package (as every
config file does) must stay cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import sanity

if TYPE_CHECKING:
    from .checkpoint import Progress
    from .config import TrainConfig


@dataclass
class TrainResult:
    """What a finished run leaves behind.

    ``best_val_acc`` is the best minival accuracy (the early-stopping criterion); ``test_acc`` is
    the reported accuracy on the test split: the early-stopped (best-on-minival) checkpoint's, the
    paper's protocol, or the final weights' when the config sets ``select_on_minival=False``; None
    when the data set has no test split (``final_test_acc`` is always the final weights').
    ``checkpoint`` holds the final weights (EMA weights when EMA is on), ``best_checkpoint`` the
    best-on-minival ones; both are effnet safetensors files that
    ``effnet.weights.checkpoint.load_model`` reads. ``history`` has one dict per evaluation.
    """

    best_val_acc: float
    test_acc: float | None
    checkpoint: Path
    best_checkpoint: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_time_s: float = 0.0
    output_dir: Path = Path(".")
    final_test_acc: float | None = None
    steps: int = 0
    skipped_images: int = 0
    minival_images: int = 0
    test_images: int = 0
    warning: str | None = None  # why the result means nothing (effnet.train.sanity), or None


@dataclass
class Outcome:
    """How a run ended: its counters, the test scores of its final and its best weights, and where
    it ran. ``final_test`` / ``best_test`` are None without a test split; ``best_test`` equals
    ``final_test`` when no minival chose other weights."""

    cfg: TrainConfig
    model_name: str
    image_size: int
    progress: Progress
    has_minival: bool
    final_test: float | None
    best_test: float | None
    fingerprints: list[str]  # every rank's weights_fingerprint, in rank order
    wall_time_s: float
    device: str
    world_size: int
    backend: str | None  # the process group's, None for a single process
    facts: sanity.RunFacts | None = None  # the data and model facts the sanity check reads
    metric: str = "top1"  # the task's headline metric (summary.json's name for it)
    metric_title: str = "top-1"  # ... as the closing line names it
    split: str = "minival"  # ... and the held-out images that choose the best weights

    @property
    def warning(self) -> str | None:
        """Why this run's result means nothing (:func:`.sanity.check_run`), or None."""
        facts, progress = self.facts, self.progress
        if facts is None:
            return None
        accuracy, scored, split = None, 0, ""
        if self.test_acc is not None:
            accuracy, scored, split = self.test_acc, facts.test_images, "test"
        elif self.has_minival:
            accuracy, scored, split = progress.best_val_acc, facts.minival_images, "minival"
        history = progress.history
        end = sanity.RunEnd(
            accuracy=accuracy,
            scored=scored,
            split=split,
            losses=[h["train_loss"] for h in history if h.get("train_loss")],
            steps=progress.step,
            epochs=history[-1]["epoch"] if history else progress.epoch,
            peak_lr=max((h.get("lr", 0.0) for h in history), default=0.0),
            facts=facts,
        )
        return sanity.check_run(self.cfg, end)

    @property
    def checkpoint(self) -> Path:
        return Path(self.cfg.output_dir) / "model.safetensors"

    @property
    def best_checkpoint(self) -> Path:
        return Path(self.cfg.output_dir) / "best.safetensors"

    @property
    def test_acc(self) -> float | None:
        """The reported score: the early-stopped weights' (the paper's protocol) or the final's."""
        return self.best_test if self.cfg.select_on_minival else self.final_test

    def summary(self) -> dict[str, Any]:
        """``summary.json``: the result plus what a later reader needs to trust or rerun it."""
        progress = self.progress
        return {
            "model": self.model_name,
            "dataset": self.cfg.dataset,
            "task": type(self.cfg).TASK.rpartition(":")[2].removesuffix("Task").lower(),
            "metric": self.metric,
            "image_size": self.image_size,
            "steps": progress.step,
            "epochs": progress.epoch,
            "best_val_acc": progress.best_val_acc if self.has_minival else None,
            "best_epoch": progress.best_epoch,
            "test_acc": self.test_acc,
            "early_stopped_test_acc": self.best_test,
            "final_test_acc": self.final_test,
            "skipped_images": progress.skipped_total,
            "wall_time_s": self.wall_time_s,
            "world_size": self.world_size,
            "backend": self.backend,
            "rank_weight_sha256": self.fingerprints,
            "checkpoint": str(self.checkpoint),
            "best_checkpoint": str(self.best_checkpoint),
            "warning": self.warning,
        }

    def line(self) -> str:
        """The closing ``done:`` line: the reported score first, the other one beside it."""
        progress = self.progress
        best = (
            f"best {self.split} {_pct(progress.best_val_acc)} at epoch {progress.best_epoch:g}"
            if progress.best_epoch is not None
            else f"no {self.split}"
        )
        if self.cfg.select_on_minival:
            scores = (
                f"test {self.metric_title} {_pct(self.best_test)} (early-stopped), {best}; "
                f"last weights {_pct(self.final_test)}"
            )
        else:
            scores = (
                f"test {self.metric_title} {_pct(self.final_test)} (final weights); {best}: "
                f"{_pct(self.best_test)} on test"
            )
        return (
            f"done: {self.model_name} on {self.cfg.dataset} at {self.image_size}px, "
            f"{progress.step} steps ({progress.epoch} epoch{'' if progress.epoch == 1 else 's'}) "
            f"in {self.wall_time_s:.1f} s on "
            f"{self.device} x{self.world_size}: {scores}; skipped {progress.skipped_total} "
            f"unreadable images; wrote {self.checkpoint}, {self.best_checkpoint.name}, curves.png"
        )

    def result(self) -> TrainResult:
        """What :func:`effnet.train.train` returns (the same on every rank)."""
        progress = self.progress
        return TrainResult(
            best_val_acc=progress.best_val_acc if self.has_minival else float("nan"),
            test_acc=self.test_acc,
            checkpoint=self.checkpoint,
            best_checkpoint=self.best_checkpoint,
            history=progress.history,
            wall_time_s=self.wall_time_s,
            output_dir=Path(self.cfg.output_dir),
            final_test_acc=self.final_test,
            steps=progress.step,
            skipped_images=progress.skipped_total,
            minival_images=self.facts.minival_images if self.facts else 0,
            test_images=self.facts.test_images if self.facts else 0,
            warning=self.warning,
        )


def _pct(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.2f}%"
