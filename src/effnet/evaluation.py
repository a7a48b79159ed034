"""One accuracy loop: what training's minival/test scoring and ``effnet eval`` both run.

:func:`evaluate` feeds a loader's batches through a model and counts: top-1 and top-k hits,
summed cross-entropy and, when asked, the confusion matrix. Batches are what
:func:`effnet.data.loading.collate_skipping` yields, ``(images, labels, skipped)``: unreadable
images arrive as :class:`~effnet.data.loading.Skipped` records, are left out of every count, and
are handed to ``on_skipped`` (which warns, once per file). Counting, not averaging, is what lets
torchrun ranks add their parts (:meth:`Scores.merge`) before anything is divided.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Scores:
    """Counts over the scored images; every rate is derived from them."""

    count: int = 0
    correct: int = 0
    topk_correct: int = 0
    loss_sum: float = 0.0
    topk: int = 1
    confusion: np.ndarray | None = None  # [true, predicted], when asked for
    skipped: list[str] = field(default_factory=list)

    @property
    def top1(self) -> float:
        return self.correct / self.count if self.count else math.nan

    @property
    def topk_accuracy(self) -> float:
        return self.topk_correct / self.count if self.count else math.nan

    @property
    def loss(self) -> float:
        return self.loss_sum / self.count if self.count else math.nan

    def totals(self) -> list[float]:
        """The additive counts, in the order :meth:`merge` takes them back (for all-reduce)."""
        return [float(self.count), float(self.correct), float(self.topk_correct), self.loss_sum]

    def merge(self, totals: list[float]) -> Scores:
        """These scores with the counts replaced by ``totals`` (summed over ranks)."""
        count, correct, topk_correct, loss_sum = totals
        return Scores(
            int(count), int(correct), int(topk_correct), loss_sum, self.topk, self.confusion,
            self.skipped,
        )  # fmt: skip


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor | None, torch.Tensor, list[Any]]],
    *,
    device: torch.device | str | None = None,
    topk: int = 1,
    num_classes: int | None = None,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    on_skipped: Callable[[Any], None] | None = None,
) -> Scores:
    """Score ``model`` (in eval mode; its mode is restored) on every readable image of ``loader``.

    ``num_classes`` also fills the confusion matrix; ``amp_dtype`` runs the forward under
    autocast; ``channels_last`` feeds NHWC batches (as training does).
    """
    was_training = model.training
    model.eval()
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    scores = Scores(topk=topk)
    if num_classes is not None:
        scores.confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    try:
        for images, labels, skipped in loader:
            for item in skipped:
                scores.skipped.append(item.source)
                if on_skipped is not None:
                    on_skipped(item)
            if images is None:
                continue
            images = images.to(device, memory_format=memory_format)
            labels = labels.to(device)
            with torch.autocast(device.type, amp_dtype, enabled=amp_dtype is not None):
                logits = model(images)
            _count(scores, logits.float(), labels)
    finally:
        model.train(was_training)
    return scores


def _count(scores: Scores, logits: torch.Tensor, labels: torch.Tensor) -> None:
    k = min(scores.topk, logits.shape[1])
    ranked = logits.topk(k, dim=1).indices
    # argmax, not ranked[:, 0]: on exact ties (a zero-initialised head) they pick different
    # classes, and top-1 must not depend on how topk orders equal values.
    predicted = logits.argmax(1)
    scores.count += len(labels)
    scores.correct += int((predicted == labels).sum())
    in_topk = (ranked == labels[:, None]).any(dim=1) | (predicted == labels)
    scores.topk_correct += int(in_topk.sum())
    scores.loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
    if scores.confusion is not None:
        np.add.at(scores.confusion, (labels.cpu().numpy(), predicted.cpu().numpy()), 1)
