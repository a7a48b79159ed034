"""How faithful a reduced-precision model is to its fp32 original, on real images.

For any candidate (an :class:`~effnet.deploy.inference.OptimizedModel` at bf16 or int8, or any
callable from images to logits) and any loader of images, with or without labels:

- top-1 agreement: the share of images where the candidate's top class is fp32's;
- top-5 agreement: the share of fp32's five top classes the candidate also ranks in its top five
  (the measure for unlabelled photos, where "accuracy" has no meaning);
- accuracy of both on labelled data, and the drop from fp32 to the candidate;
- the largest absolute logit difference, for scale.

The reference is the fp32 eager model, so a report measures everything the fast path changed
(folding, layout, engine, precision) at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import torch

Logits = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Fidelity:
    """One candidate against its fp32 reference on one set of images."""

    name: str
    data: str
    images: int
    top1_agreement: float
    top5_agreement: float | None
    max_abs_diff: float
    accuracy: float | None = None
    reference_accuracy: float | None = None

    @property
    def accuracy_drop(self) -> float | None:
        """fp32 accuracy minus the candidate's, in points (positive: the candidate is worse)."""
        if self.accuracy is None or self.reference_accuracy is None:
            return None
        return 100 * (self.reference_accuracy - self.accuracy)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "accuracy_drop_points": self.accuracy_drop}


def _batches(loader: Iterable[Any] | torch.Tensor) -> Iterable[tuple[torch.Tensor, Any]]:
    if isinstance(loader, torch.Tensor):
        yield loader, None
        return
    for batch in loader:
        if isinstance(batch, (tuple, list)):
            labels = batch[1] if len(batch) > 1 else None
            yield batch[0], None if labels is None else torch.as_tensor(labels)
        else:
            yield batch, None


def measure_fidelity(
    candidate: Logits,
    reference: Logits,
    loader: Iterable[Any] | torch.Tensor,
    name: str = "candidate",
    data: str = "images",
) -> Fidelity:
    """Run ``candidate`` and ``reference`` on every batch of ``loader`` (image tensors, or
    ``(images, labels)`` pairs) and compare them; accuracy is reported when labels are given."""
    n = agree1 = correct = correct_ref = 0
    overlap5, labelled, worst = 0.0, True, 0.0
    k = None
    with torch.no_grad():
        for images, labels in _batches(loader):
            got, want = candidate(images).float(), reference(images).float()
            if got.shape != want.shape:
                raise ValueError(f"candidate logits {tuple(got.shape)}, fp32 {tuple(want.shape)}")
            n += len(images)
            agree1 += int((got.argmax(1) == want.argmax(1)).sum())
            k = min(5, want.shape[1])
            top_got, top_want = got.topk(k, 1).indices, want.topk(k, 1).indices
            overlap5 += float((top_got[:, :, None] == top_want[:, None, :]).any(1).sum()) / k
            worst = max(worst, float((got - want).abs().max()))
            if labels is None:
                labelled = False
            else:
                correct += int((got.argmax(1) == labels).sum())
                correct_ref += int((want.argmax(1) == labels).sum())
    if not n:
        raise ValueError("the loader gave no images")
    return Fidelity(
        name,
        data,
        n,
        agree1 / n,
        # Top-5 agreement says something only with more than 5 classes (else it is always 100%).
        overlap5 / n if k == 5 and want.shape[1] > 5 else None,
        worst,
        correct / n if labelled else None,
        correct_ref / n if labelled else None,
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def format_fidelity(rows: Iterable[Fidelity]) -> str:
    """A markdown table of fidelity rows (percentages; accuracy drop in points)."""
    lines = [
        "| model | data | images | top-1 agree % | top-5 agree % | acc % | fp32 acc % | drop |"
        " max abs diff |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        drop = "-" if r.accuracy_drop is None else f"{r.accuracy_drop:+.2f}"
        lines.append(
            f"| {r.name} | {r.data} | {r.images} | {_pct(r.top1_agreement)} | "
            f"{_pct(r.top5_agreement)} | {_pct(r.accuracy)} | {_pct(r.reference_accuracy)} | "
            f"{drop} | {r.max_abs_diff:.3g} |"
        )
    return "\n".join(lines)


def write_fidelity(path: Any, rows: Iterable[Fidelity]) -> None:
    """``rows`` as JSON (``path``) and as the markdown table (``path`` with a .md suffix)."""
    from pathlib import Path

    rows = list(rows)
    path = Path(path)
    path.write_text(json.dumps([r.to_dict() for r in rows], indent=2))
    path.with_suffix(".md").write_text(format_fidelity(rows) + "\n")
