"""What a run leaves for people: a JSONL log, TensorBoard scalars and a PNG of the curves.

Only rank 0 writes (a :class:`RunLogger` built with ``enabled=False`` does nothing), so a
torchrun job produces one log, not one per process. A ``train`` record reports the
:class:`Window` since the previous one, so its loss and speed are recent, not run-long averages.
Every line is strict JSON: a NaN or infinite number is written as ``null`` (bare ``NaN`` is not
JSON), and a line cut short by a kill is skipped when the log is read back.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..fileio import atomic_write


@dataclass
class Window:
    """Loss and throughput since the last ``train`` record."""

    loss_sum: float = 0.0
    count: int = 0  # this rank's images
    images: int = 0  # every rank's images: the throughput is the job's, not one process's
    start: float = field(default_factory=time.time)

    def add(self, loss: float, images: int, world_size: int) -> None:
        """A micro-batch of ``images`` whose mean loss was ``loss``."""
        self.loss_sum += loss * images
        self.count += images
        self.images += images * world_size

    def record(self, epoch: float, lr: float) -> dict[str, float]:
        """The values of a ``train`` record: fractional epoch, mean loss, lr, images per second."""
        seconds = max(time.time() - self.start, 1e-9)
        return {
            "epoch": epoch,
            "loss": self.loss_sum / max(self.count, 1),
            "lr": lr,
            "img_per_s": self.images / seconds,
        }


class RunLogger:
    """Appends records to ``log.jsonl`` and mirrors their numbers to TensorBoard."""

    def __init__(self, output_dir: Path, enabled: bool = True, resume_step: int | None = None):
        self.enabled = enabled
        self.path = output_dir / "log.jsonl"
        self._tb = None
        if not enabled:
            return
        output_dir.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            self.path.write_text("")
        else:
            _truncate_after(self.path, resume_step)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(output_dir / "tensorboard"))
        except ImportError:  # tensorboard is a dependency, but a log without it still works
            self._tb = None

    def log(self, kind: str, step: int, **values: Any) -> None:
        if not self.enabled:
            return
        record = {"kind": kind, "step": step, **values}
        with self.path.open("a") as f:
            f.write(json.dumps(finite_or_null(record), allow_nan=False) + "\n")
        if self._tb is not None:
            for key, value in values.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    if not math.isfinite(value):
                        continue
                    self._tb.add_scalar(f"{kind}/{key}", value, step)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        records = []
        for line in self.path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # empty, or cut short by a kill
                continue
        return records

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def finite_or_null(value: Any) -> Any:
    """``value`` with every NaN or infinite float (at any depth) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_null(v) for v in value]
    return value


def _truncate_after(path: Path, step: int) -> None:
    """On resume, drop records a killed run wrote after its last checkpoint (they are redone)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except json.JSONDecodeError:  # a line cut short by the kill
            continue
    with atomic_write(path) as tmp:
        tmp.write_text("".join(line + "\n" for line in keep))


#: A train-loss curve has at least this many points per epoch (fewer only when an epoch, or the
#: whole run, has fewer steps): one dot per epoch is not a curve.
POINTS_PER_EPOCH = 8


def log_interval(log_every: int, steps_per_epoch: int, total_steps: int) -> int:
    """Steps between ``train`` records: ``log_every``, or less when that would leave an epoch (or
    a run shorter than an epoch) with fewer than :data:`POINTS_PER_EPOCH` points."""
    span = max(1, min(steps_per_epoch, total_steps))
    return max(1, min(log_every, span // POINTS_PER_EPOCH))


def record_due(step: int, log_every: int, plan: Any) -> bool:
    """Whether the update that reached ``step`` writes a ``train`` record: every
    :func:`log_interval` steps of ``plan`` (its ``steps_per_epoch`` and ``total_steps``), and the
    run's last step."""
    every = log_interval(log_every, plan.steps_per_epoch, plan.total_steps)
    return step % every == 0 or step == plan.total_steps


@dataclass
class Curves:
    """What ``curves.png`` draws, read from a run's records: (x, y) lists, x in epochs."""

    train_loss: tuple[list[float], list[float]]
    val_loss: tuple[list[float], list[float]]
    val_acc: tuple[list[float], list[float]]  # in percent
    stages: list[tuple[float, str]]  # (epoch, label) where a progressive-learning stage starts

    @classmethod
    def from_records(cls, records: list[dict[str, Any]], metric_key: str = "val_acc") -> Curves:
        """The curves in ``records``; the headline metric is logged under ``metric_key``."""

        def series(kind: str, key: str, scale: float = 1.0) -> tuple[list[float], list[float]]:
            kept = [r for r in records if r["kind"] == kind and r.get(key) is not None]
            return [_epoch(r) for r in kept], [scale * r[key] for r in kept]

        stages = [(_epoch(r), f"{r['image_size']} px") for r in records if r["kind"] == "stage"]
        return cls(
            series("train", "loss"),
            series("eval", "val_loss"),
            series("eval", metric_key, 100),
            stages,
        )


def _epoch(record: dict[str, Any]) -> float:
    """Where a record falls, in epochs (a record without one: its step)."""
    return float(record.get("epoch", record["step"]))


def curves_figure(
    records: list[dict[str, Any]],
    title: str = "",
    loss_label: str = "cross-entropy",
    acc_label: str = "minival top-1 (%)",
    metric_key: str = "val_acc",
) -> Any:
    """Three panels over epochs: training loss per logged window, minival loss, minival accuracy.

    The two losses get panels of their own: the training loss is of augmented (and, late in a
    progressive run, mixed-up) images, the minival's of clean ones, so they need not meet, and one
    must not squash the other. Accuracy runs from 0 to 100. A progressive run marks where each
    stage starts, labelled with its training resolution. ``loss_label``, ``acc_label`` and the
    logged ``metric_key`` are the task's (detection: focal + box loss, mAP logged as ``val_map``).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    curves = Curves.from_records(records, metric_key)
    fig = Figure(figsize=(14, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax_train, ax_val, ax_acc = fig.subplots(1, 3)
    panels = (
        (ax_train, curves.train_loss, f"training {loss_label}"),
        (ax_val, curves.val_loss, f"minival {loss_label}"),
        (ax_acc, curves.val_acc, acc_label),
    )
    for ax, (x, y), label in panels:
        if x:  # markers while there are few points: a short run's curve is seen, not a lone dot
            ax.plot(x, y, "o-" if len(x) < 30 else "-", markersize=3, clip_on=False)
        else:
            ax.text(0.5, 0.5, "none logged", transform=ax.transAxes, ha="center", color="grey")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        for epoch, name in curves.stages:
            ax.axvline(epoch, color="grey", linestyle="--", linewidth=0.8, label=name)
            ax.annotate(name, (epoch, 1), xycoords=("data", "axes fraction"), xytext=(2, -10),
                        textcoords="offset points", fontsize=7, color="grey")  # fmt: skip
    for ax, (_, y) in ((ax_train, curves.train_loss), (ax_val, curves.val_loss)):
        if y and min(y) > 0 and max(y) > 20 * min(y):  # orders of magnitude: a log scale
            ax.set_yscale("log")
    ax_acc.set_ylim(0, 100)  # points at 100% stay whole: the line is drawn unclipped
    if title:
        fig.suptitle(title)
    return fig


def plot_curves(
    records: list[dict[str, Any]],
    path: Path,
    title: str = "",
    loss_label: str = "cross-entropy",
    acc_label: str = "minival top-1 (%)",
    metric_key: str = "val_acc",
) -> Path:
    """Draw :func:`curves_figure` into ``path`` (PNG, or the format its suffix names)."""
    fig = curves_figure(records, title, loss_label, acc_label, metric_key)
    with atomic_write(path) as tmp:
        fig.savefig(tmp, dpi=100, format=path.suffix.lstrip(".") or "png")
    return path
