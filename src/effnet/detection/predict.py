"""Detect objects in one image file, in that image's own pixels."""

from __future__ import annotations

import os
from typing import Any

import torch

from ..data.images import open_image
from .coco import letterbox
from .model import EfficientDet
from .postprocess import Detections


@torch.no_grad()
def detect_image(
    model: EfficientDet,
    path: str | os.PathLike,
    score_threshold: float = 0.3,
    device: str | torch.device = "cpu",
) -> tuple[Any, Detections]:
    """(the PIL image, its detections above ``score_threshold``) with boxes in image pixels.

    The image goes through the same letterbox as training and evaluation (longer side to the
    model's input size, padded), and the boxes are scaled back.
    """
    image = open_image(path).convert("RGB")  # the decoder of every command: upright by EXIF
    x, scale = letterbox(image, model.spec.image_size, model.mean, model.std)
    model.eval()
    found = model.detect(x.unsqueeze(0).to(device), score_threshold)[0]
    boxes = found.boxes.cpu() / scale
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, image.width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, image.height)
    return image, Detections(boxes, found.scores.cpu(), found.labels.cpu())
