"""Noticing a run that has diverged, before it writes garbage over good checkpoints.

A learning rate far too large drives the loss to 1e13 and then to NaN; every checkpoint saved
after that holds NaN weights. :class:`LossGuard` looks at every micro-batch's loss: a non-finite
one stops the run at once (nothing more is saved, so ``last.pt`` keeps the last good state), and
a finite loss far above chance level is warned about once, while the run can still be stopped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

#: A mean cross-entropy this many times chance level (ln of the class count) is divergence.
RUNAWAY_FACTOR = 100.0


class DivergedError(ValueError):
    """The training loss became NaN or infinite; the run was stopped without saving it."""


class LossGuard:
    """Checks each loss of one run; ``say(text, err=True)`` prints a warning."""

    def __init__(self, num_classes: int, last_state: Path, say: Callable[..., None]):
        self.chance = math.log(max(num_classes, 2))
        self.last_state = Path(last_state)
        self.say = say
        self.warned = False

    def check(self, loss: float, step: int, lr: float) -> None:
        """Raise :class:`DivergedError` for a non-finite ``loss``; warn once for a runaway one."""
        if not math.isfinite(loss):
            kept = (
                f"{self.last_state} keeps the last good state"
                if self.last_state.is_file()
                else "no checkpoint was saved before it"
            )
            raise DivergedError(
                f"training diverged: the loss is {loss} at step {step + 1} (lr {lr:.3g}); stopped "
                f"without saving, {kept}; lower lr_per_256 or set grad_clip_norm"
            )
        if not self.warned and loss > RUNAWAY_FACTOR * self.chance:
            self.warned = True
            self.say(
                f"warning: the loss is {loss:.3g} at step {step + 1}, {loss / self.chance:.0f}x "
                f"chance level ({self.chance:.2f}): training is diverging (lr {lr:.3g}); lower "
                "lr_per_256 or set grad_clip_norm",
                err=True,
            )
