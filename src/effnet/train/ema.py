"""Exponential moving average of the weights, the model the reference code evaluates.

Everything floating point in the state dict is averaged, BN running mean/variance included (the
reference averages its ``moving_*`` variables too); integer buffers (BN's batch counter) are
copied. With ``warmup`` the decay is TensorFlow's ``num_updates`` form, min(d, (1+n)/(10+n)), so
the average does not stay stuck at the random initial weights on short runs.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class ModelEma:
    """A frozen copy of ``model`` updated as ``ema += (1 - d) * (w - ema)`` after each step."""

    def __init__(self, model: nn.Module, decay: float = 0.9999, warmup: bool = True) -> None:
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.warmup = warmup
        self.num_updates = 0

    def current_decay(self) -> float:
        if not self.warmup:
            return self.decay
        n = self.num_updates
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.num_updates += 1
        decay = self.current_decay()
        live = model.state_dict()
        averages, values = [], []
        for name, avg in self.module.state_dict().items():
            value = live[name].detach()
            if avg.dtype.is_floating_point:
                averages.append(avg)
                values.append(value.to(avg.dtype))
            else:
                avg.copy_(value)
        if averages:  # one fused call instead of a Python loop over every tensor
            torch._foreach_lerp_(averages, values, 1.0 - decay)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "num_updates": self.num_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.num_updates = int(state["num_updates"])
