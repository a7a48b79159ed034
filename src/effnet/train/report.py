"""What a run prints: a line as it starts, a progress bar, a line per evaluation, warnings.

Only rank 0 prints, so a torchrun job reads like one process. Warnings are the exception: an
unreadable image is reported by the rank that met it, once per file for the whole run (training and
evaluation share one :class:`SkipLog`), and the epoch's count is gathered from every rank.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from .. import progress
from ..data.datasets import DataSplits
from ..data.loading import Skipped
from . import distributed
from .build import Plan
from .checkpoint import Progress
from .config import TrainConfig

if TYPE_CHECKING:
    from .task import Metric

Say = Callable[..., None]


def printer(d: distributed.Dist) -> Say:
    """``say(text, err=False)``: a line to stdout (stderr with ``err``), from rank 0 only."""

    def say(text: str, err: bool = False) -> None:
        if d.is_main:
            print(text, file=sys.stderr if err else sys.stdout, flush=True)

    return say


def warn(text: str) -> None:
    """A warning on stderr, from whichever rank has something to warn about."""
    print(f"warning: {text}", file=sys.stderr, flush=True)


class SkipLog:
    """Unreadable images: warned about once per file; the ones training met, counted per epoch."""

    def __init__(self) -> None:
        self.warned: set[str] = set()
        self.epoch: list[Skipped] = []

    def warn(self, item: Skipped) -> None:
        """Warn about ``item`` unless its file was warned about already (evaluation's hook)."""
        if item.source not in self.warned:
            self.warned.add(item.source)
            warn(f"skipping unreadable image {item.source} ({item.reason})")

    def count(self, items: list[Skipped]) -> None:
        """Training met ``items``: remember them for the epoch's count, and warn."""
        for item in items:
            self.epoch.append(item)
            self.warn(item)

    def take_epoch(self, d: distributed.Dist) -> list[str]:
        """The files every rank skipped this epoch, and a fresh count; all ranks must call it."""
        mine, self.epoch = [item.source for item in self.epoch], []
        return [source for part in distributed.gather_objects(d, mine) for source in part]


def progress_bar(total: int, initial: int, enabled: bool) -> Any:
    """A steps bar on stderr (stdout stays for the lines worth keeping); disabled off rank 0."""
    return progress.bar(
        total=total,
        initial=initial,
        disable=not enabled,
        unit="step",
        dynamic_ncols=True,
        mininterval=1.0,
        file=sys.stderr,
    )


def amp_name(dtype: torch.dtype | None) -> str:
    """The config's name for an autocast dtype."""
    return {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def start_line(
    model_name: str,
    cfg: TrainConfig,
    data: DataSplits,
    plan: Plan,
    d: distributed.Dist,
    amp_dtype: torch.dtype | None,
    split: str = "minival",
) -> str:
    """What is about to train, on what, for how long: the first thing to check in a log.
    ``split``: what the task calls its held-out images."""
    return (
        f"training {model_name} on {cfg.dataset} ({len(data.train)} train / "
        f"{_size(data.val)} {split} / {_size(data.test)} test images, {data.num_classes} classes) "
        f"at {plan.image_size}px on {d.device} x{d.world_size}: {plural(cfg.epochs, 'epoch')} of "
        f"{plan.steps_per_epoch} steps, batch {cfg.batch_size}, lr {plan.base_lr:.4g}, "
        f"amp {amp_name(amp_dtype)}"
    )


def epoch_line(
    entry: dict[str, Any], progress: Progress, epochs: int, metric: Metric | None = None
) -> str:
    """One evaluation (``entry`` as logged): where the run is, its loss and minival score in the
    task's ``metric`` (default: top-1 under ``val_acc``)."""
    key, title, split = ("val_acc", "top-1", "minival")
    if metric is not None:
        key, title, split = metric.key, metric.title, metric.split
    val_text = f"no {split}"
    if key in entry:
        best = 100 * progress.best_val_acc
        val_text = f"{split} {title} {100 * entry[key]:.2f}% (best {best:.2f}%)"
    return (
        f"epoch {entry['epoch']:g}/{epochs}  step {progress.step}  "
        f"train loss {entry['train_loss']:.4f}  {val_text}  lr {entry['lr']:.3g}"
    )


def plural(count: float, noun: str) -> str:
    """ "1 epoch", "12 epochs", "0.5 epochs"."""
    return f"{count:g} {noun}" + ("" if count == 1 else "s")


def _size(dataset: Any) -> int:
    return len(dataset) if dataset is not None else 0
