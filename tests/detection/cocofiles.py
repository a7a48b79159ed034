"""COCO folders and a detector checkpoint for the tests that feed the COCO reader bad files.

The images are scikit-image random shapes (:mod:`effnet.detection.shapes`, 32 px, 1-3 shapes
each), written with their real annotations; tests then change ``annotations.json``.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import torch

from effnet.detection.checkpoint import save_detector
from effnet.detection.model import EfficientDet
from effnet.detection.shapes import SHAPE_CLASSES, ShapesSpec, write_split
from effnet.detection.spec import get_det_spec

SIZE = 32
#: Category ids 1-4 renumbered so that none keeps its id (for ``renumbered``).
REVERSED = {1: 4, 2: 3, 3: 2, 4: 1}
SPEC = ShapesSpec(image_size=SIZE, train=3, val=3, test=0, min_size=8, max_size=16)


def shapes_folder(folder: Path, split: str = "train") -> dict[str, Any]:
    """Write a small shapes COCO folder; returns its annotations (a fresh copy to change)."""
    write_split(SPEC, split, folder)
    return json.loads((folder / "annotations.json").read_text())


def copy_folder(source: Path, folder: Path, coco: Any) -> Path:
    """``source``'s images under ``folder`` with ``coco`` (any JSON value) as annotations.json."""
    shutil.copytree(source / "images", folder / "images", dirs_exist_ok=True)
    (folder / "annotations.json").write_text(json.dumps(coco))
    return folder


def renumbered(coco: dict[str, Any], ids: dict[int, int]) -> dict[str, Any]:
    """The same annotations with category ids changed by ``ids`` (same names, other order)."""
    out = copy.deepcopy(coco)
    for category in out["categories"]:
        category["id"] = ids[category["id"]]
    for ann in out["annotations"]:
        ann["category_id"] = ids[ann["category_id"]]
    return out


def detector(path: Path, names: list[str] | None = None, seed: int = 0) -> Path:
    """An untrained D0 at 32 px (anchor scale 2, as the shapes config) saved with class names."""
    torch.manual_seed(seed)
    spec = get_det_spec("efficientdet_d0").replace(image_size=SIZE, anchor_scale=2.0)
    names = list(SHAPE_CLASSES) if names is None else names
    model = EfficientDet(spec, len(names))
    model.class_names = names
    return save_detector(path, model)
