"""Detector weight files: safetensors with the detector spec, classes and normalisation inside.

Like :mod:`effnet.weights.checkpoint` for classifiers: a file that describes itself, so
``effnet eval`` and ``effnet detect`` rebuild the detector from the file alone. The header's
``task`` (``detection``) tells a detector file from a classifier file
(:func:`effnet.weights.checkpoint.read_task`, which every command dispatches on).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..fileio import atomic_write
from ..weights.checkpoint import DETECTOR_FORMAT as FORMAT
from ..weights.checkpoint import load_state_dict_checked, read_header, read_task
from .model import EfficientDet
from .spec import DetSpec


def save_detector(
    path: str | os.PathLike, model: EfficientDet, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``model``'s weights and description atomically."""
    from safetensors.torch import save_file

    meta = {
        "format": FORMAT,
        "task": "detection",
        "spec": model.spec.to_json(),
        "num_classes": str(model.num_classes),
        "class_names": json.dumps(model.class_names),
        "mean": json.dumps(list(model.mean)),
        "std": json.dumps(list(model.std)),
        "extra": json.dumps(extra or {}),
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    path = Path(path)
    with atomic_write(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def is_detector_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an effnet detector checkpoint (not a classifier, not a name)."""
    return read_task(path) == "detection"


def load_detector(
    path: str | os.PathLike, map_location: str = "cpu"
) -> tuple[EfficientDet, dict[str, Any]]:
    """Rebuild and load the detector a file describes; returns (model in eval mode, extra)."""
    from safetensors.torch import load_file

    meta = read_header(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not an effnet detector checkpoint (no '{FORMAT}' header)")
    model = EfficientDet(DetSpec.from_json(meta["spec"]), int(meta["num_classes"]))
    load_state_dict_checked(model, load_file(str(path), device=map_location))
    model.class_names = _class_names(path, meta, model.num_classes)
    model.mean = tuple(json.loads(meta["mean"]))
    model.std = tuple(json.loads(meta["std"]))
    model.weights_source = str(path)
    return model.eval(), json.loads(meta.get("extra", "{}"))


def _class_names(path: str | os.PathLike, meta: dict[str, str], classes: int) -> list[str] | None:
    """The header's class names: None, or one string per class (data sets' categories are
    matched to them by name)."""
    try:
        names = json.loads(meta.get("class_names", "null"))
    except ValueError:
        names = ...
    if names is None:
        return None
    if not (
        isinstance(names, list) and len(names) == classes and all(isinstance(n, str) for n in names)
    ):
        raise ValueError(
            f"{path}: header 'class_names' must be {classes} names (or null), got "
            f"{meta.get('class_names', '')[:60]!r}"
        )
    return names
