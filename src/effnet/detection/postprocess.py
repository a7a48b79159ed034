"""From head outputs to boxes: top-k over anchor x class scores, decoding, batched NMS.

As the official model: the ``max_candidates`` highest (anchor, class) logits of an image are
decoded, then :func:`torchvision.ops.batched_nms` (IoU 0.5, per class) keeps at most
``max_detections`` boxes. Boxes are x1 y1 x2 y2 in input pixels, clipped to the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.ops import batched_nms

from .anchors import decode_boxes
from .loss import flatten_outputs

NMS_IOU = 0.5
MAX_CANDIDATES = 5000


@dataclass
class Detections:
    """One image's detections, best first: boxes (K, 4), scores (K,), labels (K,) 0-based."""

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor

    def scaled(self, factor_x: float, factor_y: float) -> Detections:
        scale = self.boxes.new_tensor([factor_x, factor_y, factor_x, factor_y])
        return Detections(self.boxes * scale, self.scores, self.labels)


def postprocess(
    class_maps: list[torch.Tensor],
    box_maps: list[torch.Tensor],
    anchors: torch.Tensor,
    num_classes: int,
    score_threshold: float = 0.05,
    max_detections: int = 100,
    image_size: tuple[int, int] | None = None,
) -> list[Detections]:
    """Detections for each image of a batch from per-level head maps."""
    logits = flatten_outputs(class_maps, num_classes)
    codes = flatten_outputs(box_maps, 4)
    height = width = None
    if image_size is not None:
        height, width = image_size
    out = []
    for image_logits, image_codes in zip(logits, codes, strict=True):
        k = min(MAX_CANDIDATES, image_logits.numel())
        top, flat = image_logits.reshape(-1).float().topk(k)
        index, label = flat // num_classes, flat % num_classes
        scores = top.sigmoid()
        keep = scores >= score_threshold
        index, label, scores = index[keep], label[keep], scores[keep]
        boxes = decode_boxes(image_codes[index].float(), anchors[index])
        if height is not None:
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        kept = batched_nms(boxes, scores, label, NMS_IOU)[:max_detections]
        out.append(Detections(boxes[kept], scores[kept], label[kept]))
    return out
