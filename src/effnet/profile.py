"""Per-stage parameter and multiply-add tables, cross-checked against ``torch.utils.flop_counter``.

The table itself comes from the spec (``effnet.flops``), so it is exact and instant; the cross-check
builds the torch model and counts what it actually executes, so a disagreement means the model and
the spec have drifted apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import flops
from .registry import get_spec
from .spec import NetSpec

if TYPE_CHECKING:
    import torch


def measure_macs(model: torch.nn.Module, resolution: int, in_chans: int = 3) -> int:
    """Multiply-adds the torch model executes on one image (flop_counter counts 2 FLOPs per MAC)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    x = torch.zeros(1, in_chans, resolution, resolution)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() // 2


@dataclass(frozen=True)
class Profile:
    """Per-stage costs from the spec, and what the built model measured (when cross-checked)."""

    spec: NetSpec
    resolution: int
    rows: list[flops.StageCost]
    measured_macs: int | None = None

    @property
    def params(self) -> int:
        """Total parameters: the rows' sum, so the table's total line cannot disagree with it."""
        return sum(r.params for r in self.rows)

    @property
    def macs(self) -> int:
        """Total multiply-adds per image, the rows' sum."""
        return sum(r.macs for r in self.rows)

    def format(self) -> str:
        """The table ``effnet profile`` prints."""
        head = f"{'stage':<22}{'input':>9}{'channels':>10}{'layers':>8}{'params':>14}{'MACs':>16}"
        lines = [f"{self.spec.name} at {self.resolution}x{self.resolution}", head, "-" * len(head)]
        for i, r in enumerate(self.rows):
            size = f"{r.in_resolution}x{r.in_resolution}"
            lines.append(
                f"{i + 1:>2} {r.name:<19}{size:>9}{r.out_channels:>10}{r.layers:>8}"
                f"{r.params:>14,}{r.macs:>16,}"
            )
        lines.append("-" * len(head))
        lines.append(f"{'total':<49}{self.params:>14,}{self.macs:>16,}")
        lines.append(
            f"= {self.params / 1e6:.3f} M parameters, {self.macs / 1e9:.3f} G multiply-adds"
        )
        if self.measured_macs is not None:
            diff = self.measured_macs / self.macs - 1
            lines.append(
                f"torch.utils.flop_counter on the built model: {self.measured_macs:,} "
                f"multiply-adds ({diff:+.4%} vs the table)"
            )
        return "\n".join(lines)


def profile(
    name: str | NetSpec,
    num_classes: int = 1000,
    resolution: int | None = None,
    cross_check: bool = True,
) -> Profile:
    """Profile a registered model (or a spec) at its own resolution or the one given."""
    spec = get_spec(name)
    res = resolution or spec.resolution
    measured = None
    if cross_check:
        from .models import EfficientNet

        measured = measure_macs(EfficientNet(spec, num_classes=num_classes), res)
    return Profile(spec, res, flops.stage_costs(spec, num_classes, res), measured)
