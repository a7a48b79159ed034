"""The class and box networks: one set of convs shared by every pyramid level, BN per level.

Each net is ``repeats`` x (separable conv, BN, swish) and a separable prediction conv, with the
conv weights shared across P3-P7 and a separate BN per level and repeat (the official model's
layout). The class net predicts ``num_anchors * num_classes`` logits per location, the box net
``num_anchors * 4`` box codes, anchor-major (channel ``a * outputs + k``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .bifpn import SeparableConv

#: The class bias starts at log(p / (1 - p)) with p = 0.01 (RetinaNet's prior): every anchor
#: starts as confident background, so the focal loss does not drown in easy negatives at step 0.
PRIOR_PROBABILITY = 0.01


class HeadNet(nn.Module):
    """Shared convs + per-level BNs + a prediction conv, applied to each level in turn."""

    def __init__(
        self,
        channels: int,
        outputs: int,
        num_anchors: int,
        repeats: int,
        num_levels: int,
        eps: float = 1e-3,
        momentum: float = 0.01,
    ) -> None:
        super().__init__()
        self.outputs = outputs
        self.convs = nn.ModuleList(
            SeparableConv(channels, channels, bn=False) for _ in range(repeats)
        )
        self.bns = nn.ModuleList(
            nn.ModuleList(
                nn.BatchNorm2d(channels, eps=eps, momentum=momentum) for _ in range(num_levels)
            )
            for _ in range(repeats)
        )
        self.act = nn.SiLU()
        self.predict = SeparableConv(channels, outputs * num_anchors, bn=False)

    def forward(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for level, x in enumerate(maps):
            for conv, bns in zip(self.convs, self.bns, strict=True):
                x = self.act(bns[level](conv(x)))
            out.append(self.predict(x))
        return out

    def reset_parameters(self, class_prior: bool) -> None:
        """The official head initialisation: variance-scaling convs, zero (or prior) biases."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                nn.init.normal_(module.weight, 0.0, math.sqrt(1.0 / max(1.0, fan_in)))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if class_prior:
            bias = -math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY)
            nn.init.constant_(self.predict.pointwise.bias, bias)
