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


def plot_curves(
    records: list[dict[str, Any]],
    path: Path,
    title: str = "",
    loss_label: str = "cross-entropy",
    acc_label: str = "minival top-1 (%)",
) -> Path:
    """Training loss per logged step and minival accuracy per evaluation, side by side.

    ``loss_label`` and ``acc_label`` name the axes for runs whose loss and score are others
    (detection: focal + box loss, and mAP@.5 logged as ``val_acc``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in records if r["kind"] == "train" and r.get("loss") is not None]
    evals = [r for r in records if r["kind"] == "eval" and r.get("val_acc") is not None]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    if train:  # a short run may log one point: draw it as a dot, or the legend names nothing
        style = "o-" if len(train) < 10 else "-"
        ax_loss.plot(
            [r["step"] for r in train], [r["loss"] for r in train], style, label="train loss"
        )
    if evals and evals[0].get("val_loss") is not None:
        ax_loss.plot([r["step"] for r in evals], [r["val_loss"] for r in evals], "o-", label="val")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel(loss_label)
    # Log scale: the EMA model's early minival loss can be 50x the training loss (its averaged BN
    # statistics lag the moving weights), which would flatten everything after it on a linear axis.
    ax_loss.set_yscale("log")
    if ax_loss.get_legend_handles_labels()[0]:  # no entry for a curve that was not drawn
        ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    ax_acc.plot([r["epoch"] for r in evals], [100 * r["val_acc"] for r in evals], "o-")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel(acc_label)
    ax_acc.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_write(path) as tmp:
        fig.savefig(tmp, dpi=100, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
