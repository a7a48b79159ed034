"""The paper's learning rate: linear scaling with batch size, linear warm-up, staircase decay.

The reference code computes, for global step s (0-based, one per optimizer update):

    lr(s) = base * s / warmup_steps                                  if s < warmup_steps
    lr(s) = base * rate ** floor(s / (steps_per_epoch * decay_epochs))   otherwise

so the decay clock runs from step 0 (after 5 warm-up epochs B0 is already at base * 0.97**2), and
``base = lr_per_256 * batch_size / 256`` (0.016 per 256 images, i.e. 0.256 at batch 4096).

``lr_schedule="cosine"`` keeps the warm-up and replaces the decay with a half cosine that reaches 0
at the last step: short fine-tunes need the lr high for most of the run and annealed at the end,
which an exponential decay cannot do at once.
"""

from __future__ import annotations

import math
from typing import Any

from torch.optim import Optimizer


def scaled_lr(lr_per_256: float, batch_size: int) -> float:
    """Linear scaling rule: the learning rate grows with the global batch size."""
    return lr_per_256 * batch_size / 256


def paper_lr(
    step: int,
    steps_per_epoch: int,
    base_lr: float,
    warmup_epochs: float = 5.0,
    decay_rate: float = 0.97,
    decay_epochs: float = 2.4,
    staircase: bool = True,
) -> float:
    """Learning rate for the update at global ``step`` (see the module docstring)."""
    warmup_steps = int(warmup_epochs * steps_per_epoch)
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    exponent = step / (steps_per_epoch * decay_epochs)
    if staircase:
        exponent = math.floor(exponent)
    return base_lr * decay_rate**exponent


def cosine_lr(step: int, total_steps: int, base_lr: float, warmup_steps: int) -> float:
    """Linear warm-up to ``base_lr``, then a half cosine down to 0 at ``total_steps``."""
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class PaperSchedule:
    """Sets every parameter group's lr for a given step: paper_lr (or cosine_lr when
    ``cosine_total_steps`` is given) x the group's ``lr_scale``.

    Groups marked ``backbone`` get lr 0 until ``freeze_backbone_epochs`` are over, which trains
    only the classifier first (the usual start of a fine-tune). The schedule is a pure function of
    the step, so resuming needs only the step it stopped at.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        steps_per_epoch: int,
        base_lr: float,
        warmup_epochs: float = 5.0,
        decay_rate: float = 0.97,
        decay_epochs: float = 2.4,
        staircase: bool = True,
        freeze_backbone_epochs: int = 0,
        cosine_total_steps: int | None = None,
    ) -> None:
        self.optimizer = optimizer
        self.cosine_total_steps = cosine_total_steps
        self.steps_per_epoch = steps_per_epoch
        self.base_lr = base_lr
        self.warmup_epochs = warmup_epochs
        self.decay_rate = decay_rate
        self.decay_epochs = decay_epochs
        self.staircase = staircase
        self.freeze_steps = freeze_backbone_epochs * steps_per_epoch
        self.last_step = -1

    def lr_at(self, step: int) -> float:
        if self.cosine_total_steps is not None:
            warmup = int(self.warmup_epochs * self.steps_per_epoch)
            return cosine_lr(step, self.cosine_total_steps, self.base_lr, warmup)
        return paper_lr(
            step,
            self.steps_per_epoch,
            self.base_lr,
            self.warmup_epochs,
            self.decay_rate,
            self.decay_epochs,
            self.staircase,
        )

    def set_step(self, step: int) -> float:
        """Write the lrs for the update at ``step`` into the optimizer; returns the base lr."""
        lr = self.lr_at(step)
        for group in self.optimizer.param_groups:
            frozen = group.get("backbone", False) and step < self.freeze_steps
            group["lr"] = 0.0 if frozen else lr * group.get("lr_scale", 1.0)
        self.last_step = step
        return lr

    def state_dict(self) -> dict[str, Any]:
        return {"last_step": self.last_step, "base_lr": self.base_lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_step = int(state["last_step"])
        if self.last_step >= 0:
            self.set_step(self.last_step)
