"""Accuracy of a trained model on an ImageFolder tree: top-1, top-5, per class, confusion matrix.

Images are prepared exactly as the weights expect (the checkpoint's Preprocess: resolution, crop
ratio, interpolation, normalisation), because a wrong resize silently costs several points
(docs/paper.md section 9). Folder names are matched to the checkpoint's class names, not to their
sorted position, so a test folder that lacks some classes still scores correctly. The folder is
read by the reader training uses (:class:`effnet.data.folders.ImageFolder`) and scored by the loop
training scores with (:func:`effnet.evaluation.evaluate`): an unreadable image is skipped with a
warning naming it and counted, as in training, and only a folder with no readable image fails.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.folders import ImageFolder
from ..data.loading import (
    Skipped,
    SkipWarner,
    TransformedSubset,
    collate_skipping,
    worker_context,
)
from ..data.preprocess import eval_transform
from ..evaluation import evaluate as score
from ..models import EfficientNet
from ..weights.hub import preprocess_for

if TYPE_CHECKING:
    from ..deploy.artifact import DeployedModel


@dataclass
class EvalResult:
    """Counts behind every reported number; ``confusion[true, predicted]`` over model classes."""

    class_names: list[str]
    confusion: np.ndarray
    topk_correct: int
    topk: int
    wall_time_s: float
    data_dir: str
    skipped: list[str] = field(default_factory=list)  # unreadable files, left out of every count

    @property
    def num_images(self) -> int:
        return int(self.confusion.sum())

    @property
    def top1(self) -> float:
        return float(np.trace(self.confusion)) / max(self.num_images, 1)

    @property
    def topk_accuracy(self) -> float:
        return self.topk_correct / max(self.num_images, 1)

    def per_class(self) -> dict[str, tuple[int, int]]:
        """(correct, total) for every class that has images in the data."""
        totals = self.confusion.sum(axis=1)
        return {
            name: (int(self.confusion[i, i]), int(totals[i]))
            for i, name in enumerate(self.class_names)
            if totals[i]
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_dir": self.data_dir,
            "num_images": self.num_images,
            "top1": self.top1,
            f"top{self.topk}": self.topk_accuracy,
            "per_class": {
                name: {"accuracy": c / t, "correct": c, "total": t}
                for name, (c, t) in self.per_class().items()
            },
            "class_names": self.class_names,
            "confusion": self.confusion.tolist(),
            "wall_time_s": self.wall_time_s,
            "skipped_images": len(self.skipped),
            "skipped_files": self.skipped,
        }

    def format(self, max_classes: int = 30) -> str:
        """A summary table; with many classes only the worst ``max_classes`` are listed."""
        lines = [
            f"{self.num_images} images from {self.data_dir} in {self.wall_time_s:.1f} s",
            f"top-1 {self.top1:.2%}   top-{self.topk} {self.topk_accuracy:.2%}",
        ]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} unreadable images (named above)")
        rows = self.per_class()
        shown = sorted(rows.items(), key=lambda kv: kv[1][0] / kv[1][1])[:max_classes]
        if len(rows) <= max_classes:
            shown = list(rows.items())
            lines.append("per-class accuracy:")
        else:
            lines.append(f"per-class accuracy (worst {max_classes} of {len(rows)}):")
        width = max(len(name) for name, _ in shown)
        for name, (correct, total) in shown:
            lines.append(f"  {name:<{width}}  {correct / total:7.2%}  ({correct}/{total})")
        return "\n".join(lines)

    def save_json(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path


def evaluate(
    model: EfficientNet | DeployedModel,
    data_dir: str | os.PathLike,
    batch_size: int = 64,
    workers: int = 0,
    progress: bool = True,
    on_skipped: Callable[[Skipped], None] | None = None,
) -> EvalResult:
    """Score ``model`` on ``data_dir/<class>/<image>``.

    An unreadable image is handed to ``on_skipped`` (default: one warning per file on stderr),
    left out of every count and listed in the result; a folder where no image could be read is an
    error, since there is no accuracy to report.
    """
    from torch.utils.data import DataLoader

    from ..progress import bar as progress_bar

    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    names = model.labels()
    # Folders are labelled by the checkpoint's class names, not by their sorted position.
    folder = ImageFolder(data_dir, class_to_idx={name: i for i, name in enumerate(names)})
    transform = eval_transform(preprocess_for(model))
    dataset = TransformedSubset(folder, range(len(folder)), transform, names)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        multiprocessing_context=worker_context(workers),
        collate_fn=collate_skipping,
    )
    warn = on_skipped or SkipWarner()
    unreadable: list[Skipped] = []

    def skip(item: Skipped) -> None:
        unreadable.append(item)
        warn(item)

    topk = min(5, len(names))
    start = time.perf_counter()
    bar = progress_bar(loader, desc="eval", unit="batch", disable=not progress, leave=False)
    device = getattr(model, "device", None)  # a deployed model says; a torch module's parameters
    scores = score(model, bar, topk=topk, num_classes=len(names), on_skipped=skip, device=device)
    if scores.count == 0:
        raise ValueError(
            f"none of the {len(folder)} images in {data_dir} could be read "
            f"(first: {unreadable[0].source}: {unreadable[0].reason})"
        )
    assert scores.confusion is not None  # asked for with num_classes
    return EvalResult(
        names,
        scores.confusion,
        scores.topk_correct,
        topk,
        time.perf_counter() - start,
        str(data_dir),
        scores.skipped,
    )


def plot_confusion(result: EvalResult, path: str | os.PathLike) -> Path:
    """Row-normalised confusion matrix as a PNG; counts are written in when classes are few.

    Only classes present in the data are drawn, so a 1000-class model scored on a 10-class folder
    still gives a readable 10x10 picture.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    totals = result.confusion.sum(axis=1)
    present = [i for i in range(len(result.class_names)) if totals[i]]
    matrix = result.confusion[np.ix_(present, present)]
    rates = matrix / matrix.sum(axis=1, keepdims=True).clip(min=1)
    labels = [result.class_names[i] for i in present]
    n = len(present)
    side = min(4 + 0.4 * n, 24)
    fig, ax = plt.subplots(figsize=(side, side), dpi=100)
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    if n <= 50:
        ax.set_xticks(range(n), labels, rotation=90 if n > 10 else 0)
        ax.set_yticks(range(n), labels)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    colour = "white" if rates[i, j] > 0.5 else "black"
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=colour)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"top-1 {result.top1:.2%} on {result.num_images} images")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
