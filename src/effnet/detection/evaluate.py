"""Score a detector on a COCO-format folder: mAP@[.5:.95] and mAP@.5 (pycocotools)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from .coco import CocoFolder, collate
from .metrics import coco_map
from .model import EfficientDet
from .postprocess import Detections

#: Detections scored per image: COCO's limit, with a low threshold (AP integrates over recall).
MAX_DETECTIONS = 100
SCORE_THRESHOLD = 0.001


@dataclass
class DetectionResult:
    map: float  # AP@[.5:.95]
    map50: float
    map75: float
    images: int
    clipped: int = 0  # boxes of the ground truth clipped to their image

    def format(self) -> str:
        clipped = f"; {self.clipped} boxes clipped to their image" if self.clipped else ""
        return (
            f"mAP@[.5:.95] {100 * self.map:.2f}  mAP@.5 {100 * self.map50:.2f}  "
            f"mAP@.75 {100 * self.map75:.2f}  ({self.images} images{clipped})"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def coco_records(
    found: list[Detections], targets: list[dict[str, Any]], category_ids: list[int | None]
) -> list[dict[str, Any]]:
    """COCO result records of a batch's detections, in the original images' pixels."""
    results: list[dict[str, Any]] = []
    for det, target in zip(found, targets, strict=True):
        boxes = det.boxes.cpu() / target["scale"]
        for box, score, label in zip(boxes, det.scores.cpu(), det.labels.cpu(), strict=True):
            category = category_ids[int(label)]
            if category is None:  # an unused label: no category to score it against
                continue
            x1, y1, x2, y2 = box.tolist()
            results.append(
                {
                    "image_id": target["image_id"],
                    "category_id": category,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(score),
                }
            )
    return results


@torch.no_grad()
def predict_coco(
    model: EfficientDet, data: CocoFolder, batch_size: int = 16, device: str = "cpu"
) -> list[dict[str, Any]]:
    """COCO result records for every image of ``data``, in the original images' pixels."""
    was_training = model.training
    model.eval()
    results: list[dict[str, Any]] = []
    loader = DataLoader(data, batch_size=batch_size, shuffle=False, collate_fn=collate)
    for images, targets in loader:
        found = model.detect(images.to(device), SCORE_THRESHOLD, MAX_DETECTIONS)
        results += coco_records(found, targets, data.category_ids)
    model.train(was_training)
    return results


def evaluate_detector(
    model: EfficientDet,
    folder: str | Path | CocoFolder,
    image_size: int | None = None,
    batch_size: int = 16,
    device: str = "cpu",
) -> DetectionResult:
    """mAP of ``model`` on a COCO folder, at ``image_size`` (default: the spec's).

    The folder's categories are matched to the model's ``class_names`` by name; a model without
    names is matched by position (category id order), which needs as many categories as classes.
    """
    if isinstance(folder, CocoFolder):
        data = folder
    else:
        names = getattr(model, "class_names", None)
        size = image_size or model.spec.image_size
        data = CocoFolder(folder, size, model.mean, model.std, class_names=names)
        classes = getattr(model, "num_classes", None)
        if names is None and classes is not None and classes != len(data.class_names):
            raise ValueError(
                f"{data.root / 'annotations.json'} has {len(data.class_names)} categories, the "
                f"model {classes} unnamed classes: nothing to match them by"
            )
    scores = coco_map(data.coco, predict_coco(model, data, batch_size, device))
    return DetectionResult(scores["map"], scores["map50"], scores["map75"], len(data), data.clipped)
