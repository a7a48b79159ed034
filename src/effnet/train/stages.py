"""A progressive-learning schedule (EfficientNetV2, section 4.2, Algorithm 1) as plain values:
how many stages, and each stage's image size, dropout, RandAugment magnitude and mixup alpha.

A schedule is a field of :class:`~effnet.train.config.TrainConfig`, so it lives apart from the
code that applies it to a run (:mod:`effnet.train.progressive`, which needs torch and refers back
to the config): the config and the config files import this torch-free module, and the import
graph has no loop between the config and the training code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


def _pair(value: Any) -> tuple[float, float]:
    first, last = value
    return (first, last)


@dataclass(frozen=True)
class StageSettings:
    """What one stage trains with."""

    stage: int
    image_size: int
    dropout: float
    randaugment: int
    mixup: float

    def line(self, stages: int) -> str:
        return (
            f"progressive stage {self.stage + 1}/{stages}: {self.image_size} px, dropout "
            f"{self.dropout:.3g}, RandAugment {self.randaugment}, mixup {self.mixup:.3g}"
        )


@dataclass(frozen=True)
class Progressive:
    """A progressive-learning schedule: (first, last) stage values, interpolated linearly.

    The defaults are the paper's EfficientNetV2-S (Table 6): 4 stages, 128 -> 300 px,
    RandAugment 5 -> 15, dropout 0.1 -> 0.3, no mixup.
    """

    stages: int = 4
    image_size: tuple[int, int] = (128, 300)
    randaugment: tuple[float, float] = (5, 15)
    dropout: tuple[float, float] = (0.1, 0.3)
    mixup: tuple[float, float] = (0.0, 0.0)
    randaugment_ops: int = 2

    def __post_init__(self) -> None:
        for name in ("image_size", "randaugment", "dropout", "mixup"):
            object.__setattr__(self, name, _pair(getattr(self, name)))
        if self.stages < 1:
            raise ValueError(f"progressive: stages must be >= 1, got {self.stages}")
        if min(self.image_size) < 8:
            raise ValueError(f"progressive: image sizes too small: {self.image_size}")
        if not all(0 <= m <= 30 for m in self.randaugment):
            raise ValueError(
                f"progressive: RandAugment magnitudes are 0-30, got {self.randaugment}"
            )
        if not all(0 <= p < 1 for p in self.dropout):
            raise ValueError(f"progressive: dropout must be in [0, 1), got {self.dropout}")
        if min(self.mixup) < 0:
            raise ValueError(f"progressive: mixup alpha must be >= 0, got {self.mixup}")

    def stage_of(self, epoch: int, epochs: int) -> int:
        """The stage that 0-based ``epoch`` of ``epochs`` belongs to (equal runs of epochs)."""
        return min(self.stages - 1, epoch * self.stages // max(epochs, 1))

    def settings(self, stage: int) -> StageSettings:
        """Algorithm 1: every value at ``first + (last - first) * stage / (stages - 1)``."""
        ratio = stage / (self.stages - 1) if self.stages > 1 else 1.0

        def at(pair: tuple[float, float]) -> float:
            return pair[0] + (pair[1] - pair[0]) * ratio

        return StageSettings(
            stage=stage,
            image_size=int(at(self.image_size)),
            dropout=round(at(self.dropout), 6),
            randaugment=round(at(self.randaugment)),
            mixup=round(at(self.mixup), 6),
        )

    def at_epoch(self, epoch: int, epochs: int) -> StageSettings:
        return self.settings(self.stage_of(epoch, epochs))

    def table(self) -> list[StageSettings]:
        return [self.settings(i) for i in range(self.stages)]

    def replace(self, **changes: Any) -> Progressive:
        return dataclasses.replace(self, **changes)
