"""Noticing a run that has diverged, before it writes garbage over good checkpoints.

A learning rate far too large drives the loss to 1e13 and then to NaN; every checkpoint saved
after that holds NaN weights. :class:`LossGuard` looks at every micro-batch's loss: a non-finite
one stops the run at once (nothing more is saved, so ``last.pt`` keeps the last good state), and
a finite loss far above chance level is warned about once, while the run can still be stopped.

The loss of a step is computed before its update, so the last update of a run (a one-step run's
only one) is never judged by it: the weights it leaves may hold NaN, or be finite yet so large that
every prediction is NaN. The guard therefore also checks the weights before every save
(:meth:`LossGuard.check_weights`) and the loss of every scoring of them
(:meth:`LossGuard.check_scores`). :func:`nonfinite_tensors` and :func:`check_finite_weights` are
the same check for any model and any loop (detection trains with a loop of its own).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

#: A mean cross-entropy this many times chance level (ln of the class count) is divergence.
RUNAWAY_FACTOR = 100.0
#: What a diverged run's message ends with: the likely cause and what to change.
ADVICE = "lower lr_per_256 (or lr, where the config sets it) or set grad_clip_norm"


class DivergedError(ValueError):
    """The training loss or weights became NaN or infinite; the run was stopped without saving."""


def nonfinite_tensors(model: Any) -> list[str]:
    """Names of ``model``'s floating-point parameters and buffers that hold a NaN or an infinity.

    ``model`` is an ``nn.Module`` or a state dict. BN running statistics count: a model with
    finite weights and NaN running variances predicts NaN in eval mode.
    """
    state = model if isinstance(model, Mapping) else model.state_dict()
    return [
        name
        for name, tensor in state.items()
        if tensor.is_floating_point() and not bool(tensor.isfinite().all())
    ]


def _kept(last_state: Path | None) -> str:
    if last_state is not None and Path(last_state).is_file():
        return f"{last_state} keeps the last good state"
    return "no checkpoint was saved before it"


def check_finite_weights(
    models: Mapping[str, Any], where: str, lr: float | None = None, last_state: Path | None = None
) -> None:
    """Raise :class:`DivergedError` when any of ``models`` (label -> module) holds NaN or inf.

    ``where`` says when (``"after step 12, epoch 3"``), ``lr`` the learning rate then, and
    ``last_state`` the checkpoint that is left untouched. Call it before saving weights anywhere.
    """
    for label, model in models.items():
        bad = nonfinite_tensors(model)
        if bad:
            shown = ", ".join(bad[:3]) + (", ..." if len(bad) > 3 else "")
            rate = f" (lr {lr:.3g})" if lr is not None else ""
            raise DivergedError(
                f"training diverged: the {label} hold NaN or infinite values {where}{rate}, in "
                f"{len(bad)} tensors ({shown}); stopped without saving, {_kept(last_state)}; "
                f"{ADVICE}"
            )


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
            raise DivergedError(
                f"training diverged: the loss is {loss} at step {step + 1} (lr {lr:.3g}); stopped "
                f"without saving, {_kept(self.last_state)}; {ADVICE}"
            )
        if not self.warned and loss > RUNAWAY_FACTOR * self.chance:
            self.warned = True
            self.say(
                f"warning: the loss is {loss:.3g} at step {step + 1}, {loss / self.chance:.0f}x "
                f"chance level ({self.chance:.2f}): training is diverging (lr {lr:.3g}); "
                f"{ADVICE}",
                err=True,
            )

    def check_weights(self, models: Mapping[str, Any], where: str, lr: float) -> None:
        """:func:`check_finite_weights` for this run, before its weights are saved or scored."""
        check_finite_weights(models, where, lr, self.last_state)

    def check_scores(self, loss: float, split: str, where: str, lr: float) -> None:
        """Finite weights can still predict NaN (weights of 1e7 overflow a deep network): a
        non-finite loss on ``split`` stops the run before those weights are saved."""
        if not math.isfinite(loss):
            raise DivergedError(
                f"training diverged: the weights predict NaN or infinite scores on the {split} "
                f"{where} (lr {lr:.3g}; its loss is {loss}); stopped without saving, "
                f"{_kept(self.last_state)}; {ADVICE}"
            )
