"""Anchors, box codes and anchor targets, as the official EfficientDet defines them.

Every location of level l (stride ~2^l) holds ``num_scales x len(aspect_ratios)`` anchors, scale
octave outer, aspect inner; an anchor's base side is ``anchor_scale * stride * 2^(octave /
num_scales)`` stretched by the aspect's (x, y) factors. Boxes here are (x1, y1, x2, y2) in input
pixels; the order of the anchors is level, row, column, anchor, which is the order of the flattened
head outputs. Box codes are Faster R-CNN's ``(ty, tx, th, tw)`` (the official order, which
converted weights predict). Targets: an anchor is positive for the ground-truth box it overlaps
most when that IoU is >= 0.5, and every ground-truth box also claims its best anchor.
"""

from __future__ import annotations

import torch
from torchvision.ops import box_iou

from .spec import DetSpec

MATCH_IOU = 0.5
_EPS = 1e-8


def feature_sizes(image_size: tuple[int, int], max_level: int) -> list[tuple[int, int]]:
    """Map size at each level 0 .. max_level: each stride-2 step gives ceil(size / 2)."""
    sizes = [tuple(image_size)]
    for _ in range(max_level):
        h, w = sizes[-1]
        sizes.append(((h - 1) // 2 + 1, (w - 1) // 2 + 1))
    return sizes  # type: ignore[return-value]


def make_anchors(spec: DetSpec, image_size: tuple[int, int]) -> torch.Tensor:
    """All anchors for an input of ``image_size`` (H, W): a (N, 4) float tensor, x1 y1 x2 y2."""
    sizes = feature_sizes(image_size, spec.max_level)
    out = []
    for level in range(spec.min_level, spec.max_level + 1):
        fh, fw = sizes[level]
        stride_y, stride_x = image_size[0] / fh, image_size[1] / fw
        ys = torch.arange(stride_y / 2, image_size[0], stride_y, dtype=torch.float64)[:fh]
        xs = torch.arange(stride_x / 2, image_size[1], stride_x, dtype=torch.float64)[:fw]
        cy, cx = torch.meshgrid(ys, xs, indexing="ij")
        cy, cx = cy.reshape(-1, 1), cx.reshape(-1, 1)
        half_w, half_h = [], []
        for octave in range(spec.num_scales):
            for ax, ay in spec.aspect_ratios:
                base = spec.anchor_scale * 2 ** (octave / spec.num_scales)
                half_w.append(base * stride_x * ax / 2)
                half_h.append(base * stride_y * ay / 2)
        hw = torch.tensor(half_w, dtype=torch.float64)
        hh = torch.tensor(half_h, dtype=torch.float64)
        boxes = torch.stack([cx - hw, cy - hh, cx + hw, cy + hh], dim=-1)  # (HW, A, 4)
        out.append(boxes.reshape(-1, 4))
    return torch.cat(out).float()


_CACHE: dict[tuple, torch.Tensor] = {}


def anchors_for(
    spec: DetSpec, image_size: tuple[int, int], device: torch.device | str = "cpu"
) -> torch.Tensor:
    """:func:`make_anchors`, cached per spec, size and device."""
    key = (spec, tuple(image_size), str(device))
    if key not in _CACHE:
        _CACHE[key] = make_anchors(spec, tuple(image_size)).to(device)
    return _CACHE[key]


def _centers(boxes: torch.Tensor) -> tuple[torch.Tensor, ...]:
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + w / 2, boxes[:, 1] + h / 2, w, h


def encode_boxes(boxes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Boxes relative to their anchors: (ty, tx, th, tw) = (dy/ha, dx/wa, log h/ha, log w/wa)."""
    xa, ya, wa, ha = _centers(anchors)
    x, y, w, h = _centers(boxes)
    wa, ha, w, h = wa + _EPS, ha + _EPS, w + _EPS, h + _EPS
    return torch.stack([(y - ya) / ha, (x - xa) / wa, torch.log(h / ha), torch.log(w / wa)], dim=-1)


def decode_boxes(codes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`encode_boxes`: (..., 4) codes -> (..., 4) x1 y1 x2 y2 boxes."""
    xa, ya, wa, ha = _centers(anchors)
    ty, tx, th, tw = codes.unbind(-1)
    w, h = torch.exp(tw) * wa, torch.exp(th) * ha
    x, y = tx * wa + xa, ty * ha + ya
    return torch.stack([x - w / 2, y - h / 2, x + w / 2, y + h / 2], dim=-1)


def assign_targets(
    anchors: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targets of one image: (class per anchor, -1 = background), box codes, positive mask.

    ``boxes`` (M, 4) x1 y1 x2 y2 and ``labels`` (M,) 0-based. Box codes are zero where an anchor
    is not positive (the box loss is masked to the positives).
    """
    n = anchors.shape[0]
    classes = torch.full((n,), -1, dtype=torch.long, device=anchors.device)
    codes = torch.zeros((n, 4), dtype=anchors.dtype, device=anchors.device)
    if boxes.numel() == 0:
        return classes, codes, torch.zeros(n, dtype=torch.bool, device=anchors.device)
    iou = box_iou(anchors, boxes.to(anchors.dtype))  # (N, M)
    best_iou, match = iou.max(dim=1)
    positive = best_iou >= MATCH_IOU
    forced = iou.argmax(dim=0)  # each box's best anchor is positive for it, whatever the IoU
    match[forced] = torch.arange(boxes.shape[0], device=anchors.device)
    positive[forced] = True
    classes[positive] = labels[match[positive]].long()
    codes[positive] = encode_boxes(boxes[match[positive]].to(anchors.dtype), anchors[positive])
    return classes, codes, positive


def batch_targets(
    anchors: torch.Tensor, targets: list[dict[str, torch.Tensor]]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`assign_targets` for a batch: (B, N) classes, (B, N, 4) codes, (B, N) positives."""
    out = [assign_targets(anchors, t["boxes"], t["labels"]) for t in targets]
    return tuple(torch.stack(parts) for parts in zip(*out, strict=True))  # type: ignore[return-value]
