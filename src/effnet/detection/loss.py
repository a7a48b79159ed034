"""The detection loss: focal loss on every anchor's class logits plus a Huber box loss.

As the official EfficientDet: focal loss with alpha 0.25 and gamma 1.5 summed over all anchors
and classes, Huber loss (delta 0.1) on the box codes of positive anchors, both divided by the
number of positive anchors in the batch plus one, and the box loss weighted by 50.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossWeights:
    alpha: float = 0.25
    gamma: float = 1.5
    delta: float = 0.1
    box_weight: float = 50.0


def focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 1.5
) -> torch.Tensor:
    """Element-wise focal loss: alpha_t * (1 - p_t)^gamma * BCE (Lin et al., 2017)."""
    targets = targets.to(logits.dtype)
    prob = logits.sigmoid()
    p_t = targets * prob + (1 - targets) * (1 - prob)
    alpha_t = targets * alpha + (1 - targets) * (1 - alpha)
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return alpha_t * (1 - p_t) ** gamma * bce


def huber_loss(x: torch.Tensor, target: torch.Tensor, delta: float = 0.1) -> torch.Tensor:
    """Element-wise Huber loss: 0.5 e^2 below ``delta``, delta * (|e| - delta / 2) above."""
    err = (x - target).abs()
    quadratic = err.clamp(max=delta)
    return 0.5 * quadratic**2 + delta * (err - quadratic)


def flatten_outputs(maps: list[torch.Tensor], outputs: int) -> torch.Tensor:
    """Per-level (B, A * K, H, W) head maps -> (B, N, K) in anchor order (level, y, x, anchor)."""
    batch = maps[0].shape[0]
    return torch.cat([m.permute(0, 2, 3, 1).reshape(batch, -1, outputs) for m in maps], dim=1)


def detection_loss(
    class_out: torch.Tensor,
    box_out: torch.Tensor,
    classes: torch.Tensor,
    codes: torch.Tensor,
    positive: torch.Tensor,
    weights: LossWeights = LossWeights(),
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, class loss, box loss) from flattened outputs and :func:`batch_targets` targets.

    ``class_out`` (B, N, C) logits, ``box_out`` (B, N, 4) codes; ``classes`` (B, N) with -1 for
    background, ``codes`` (B, N, 4), ``positive`` (B, N).
    """
    num_classes = class_out.shape[-1]
    one_hot = F.one_hot(classes.clamp(min=0), num_classes) * (classes >= 0).unsqueeze(-1)
    normalizer = positive.sum().float() + 1.0
    cls = focal_loss(class_out.float(), one_hot, weights.alpha, weights.gamma).sum() / normalizer
    mask = (codes != 0).to(box_out.dtype)
    box = (huber_loss(box_out.float(), codes, weights.delta) * mask).sum() / (normalizer * 4.0)
    return cls + weights.box_weight * box, cls, box
