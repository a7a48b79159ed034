"""Top-k labels with probabilities for image files, named by the checkpoint's own classes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..data.images import open_image
from ..data.preprocess import eval_transform
from ..models import EfficientNet
from ..weights.hub import preprocess_for


@dataclass
class Prediction:
    """The ``k`` most probable classes of one image, most probable first."""

    path: Path
    indices: list[int]
    labels: list[str]
    probabilities: list[float]

    @property
    def label(self) -> str:
        return self.labels[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "top": [
                {"label": label, "index": index, "probability": prob}
                for label, index, prob in zip(
                    self.labels, self.indices, self.probabilities, strict=True
                )
            ],
        }

    def format(self) -> str:
        ranked = ", ".join(
            f"{label} {_percent(prob)}"
            for label, prob in zip(self.labels, self.probabilities, strict=True)
        )
        return f"{self.path}: {ranked}"


def _percent(prob: float) -> str:
    """Percent with one decimal; tiny probabilities keep two significant digits, not "0.0%"."""
    return f"{prob:.1%}" if prob >= 0.001 else f"{100 * prob:.2g}%"


@torch.no_grad()
def predict(
    model: EfficientNet,
    paths: Sequence[str | os.PathLike],
    top_k: int = 5,
    batch_size: int = 32,
    progress: bool = False,
) -> list[Prediction]:
    """Classify ``paths`` in batches; a missing or unreadable file stops with its name."""
    from tqdm import tqdm

    if top_k < 1:
        raise ValueError(f"--top-k must be >= 1, got {top_k}")
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    names = model.class_names or [str(i) for i in range(model.num_classes)]
    transform = eval_transform(preprocess_for(model))
    model.eval()
    device = next(model.parameters()).device
    k = min(top_k, len(names))
    results: list[Prediction] = []
    chunks = [list(paths[i : i + batch_size]) for i in range(0, len(paths), batch_size)]
    for chunk in tqdm(chunks, desc="predict", unit="batch", disable=not progress, leave=False):
        batch = torch.stack([transform(open_image(p)) for p in chunk]).to(device)
        probs = model(batch).float().softmax(dim=1)
        top = probs.topk(k, dim=1)
        for path, values, indices in zip(
            chunk, top.values.tolist(), top.indices.tolist(), strict=True
        ):
            results.append(Prediction(Path(path), indices, [names[i] for i in indices], values))
    return results
