"""COCO mAP through pycocotools (the reference implementation), never re-implemented here.

:func:`coco_map` scores detections (in the original images' pixels) against a COCO-format ground
truth and returns mAP@[.5:.95] and mAP@.5, the two numbers detection papers report.
"""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import numpy as np


def _pycocotools() -> tuple[Any, Any]:
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise ImportError(
            "COCO mAP needs pycocotools: pip install 'effnet[detection]' (or pycocotools)"
        ) from None
    return COCO, COCOeval


def coco_map(ground_truth: dict[str, Any], detections: list[dict[str, Any]]) -> dict[str, float]:
    """``{"map": AP@[.5:.95], "map50": AP@.5, "map75": AP@.75}`` in [0, 1].

    ``detections``: COCO results, ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``.
    No detections at all scores 0 (pycocotools refuses an empty result list).
    """
    COCO, COCOeval = _pycocotools()
    if not detections:
        return {"map": 0.0, "map50": 0.0, "map75": 0.0}
    gt = COCO()
    gt.dataset = copy.deepcopy(ground_truth)
    gt.dataset.setdefault("info", {})
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(copy.deepcopy(detections))
        evaluator = COCOeval(gt, dt, "bbox")
        evaluator.params.imgIds = sorted(img["id"] for img in ground_truth["images"])
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = np.asarray(evaluator.stats, dtype=float)
    # -1 means "no ground truth to score"; rounding removes float noise (0.9999999999999999)
    return {
        key: round(max(float(stats[i]), 0.0), 12) for i, key in enumerate(("map", "map50", "map75"))
    }
