"""EfficientDet D0-D7 as data: the paper's Table 1 and the compound-scaling rule behind it.

EfficientDet (Tan, Pang & Le, CVPR 2020) scales a detector with one coefficient phi, as
EfficientNet scales a classifier: backbone B_phi, BiFPN width 64 * 1.35^phi, BiFPN depth 3 + phi,
class/box-net depth 3 + floor(phi / 3), input 512 + 128 * phi. The paper's table rounds the widths
(88, 112, ... instead of 86.4, 116.6, ...) and departs from the rule at the top (D5-D7 keep depth
7-8, D7 reuses B6 at 1536 px), so the table below is the authority and :func:`scaling_rule` is
there to show how close the table stays to the rule. Like :mod:`effnet.spec`, nothing here holds
torch objects.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

#: How a BiFPN node fuses its inputs: the paper's fast normalised fusion, or a plain sum (the
#: official D6/D7 use the sum "for training stability").
FUSIONS = ("fast", "sum")

#: Anchor aspect ratios as (x, y) stretch factors, the official (1, 1), (1.4, 0.7), (0.7, 1.4).
ASPECT_RATIOS: tuple[tuple[float, float], ...] = ((1.0, 1.0), (1.4, 0.7), (0.7, 1.4))


@dataclass(frozen=True)
class DetSpec:
    """One EfficientDet: backbone, BiFPN, heads, anchors and input size."""

    name: str
    backbone: str  # an effnet model name (efficientnet_b0 ... b6)
    image_size: int
    fpn_channels: int
    fpn_repeats: int
    head_repeats: int
    fusion: str = "fast"
    anchor_scale: float = 4.0
    num_scales: int = 3
    aspect_ratios: tuple[tuple[float, float], ...] = ASPECT_RATIOS
    min_level: int = 3
    max_level: int = 7
    bn_eps: float = 1e-3
    bn_momentum: float = 0.01  # PyTorch convention (TF's 0.99)
    drop_path_rate: float = 0.2  # the backbone's stochastic depth, as the official recipe

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {self.fusion!r}; expected one of {FUSIONS}")
        if self.min_level != 3 or self.max_level <= 5:
            raise ValueError("the backbone gives P3-P5: min_level must be 3 and max_level > 5")
        if self.image_size < 32:
            raise ValueError(f"image_size must be at least 32, got {self.image_size}")

    @property
    def num_levels(self) -> int:
        return self.max_level - self.min_level + 1

    @property
    def num_anchors(self) -> int:
        """Anchors per location: scales x aspect ratios (3 x 3 in the paper)."""
        return self.num_scales * len(self.aspect_ratios)

    def replace(self, **changes: Any) -> DetSpec:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> DetSpec:
        data = json.loads(text)
        data["aspect_ratios"] = tuple(tuple(r) for r in data["aspect_ratios"])
        return cls(**data)


def _d(phi: int, backbone: int, size: int, width: int, depth: int, head: int, **kw: Any) -> DetSpec:
    return DetSpec(
        name=f"efficientdet_d{phi}",
        backbone=f"efficientnet_b{backbone}",
        image_size=size,
        fpn_channels=width,
        fpn_repeats=depth,
        head_repeats=head,
        **kw,
    )


#: The paper's Table 1 (input size, backbone, BiFPN width and depth, box/class depth); D6/D7's
#: unweighted fusion and D7's larger anchors are the official configuration's.
DET_SPECS: dict[str, DetSpec] = {
    s.name: s
    for s in (
        _d(0, 0, 512, 64, 3, 3),
        _d(1, 1, 640, 88, 4, 3),
        _d(2, 2, 768, 112, 5, 3),
        _d(3, 3, 896, 160, 6, 4),
        _d(4, 4, 1024, 224, 7, 4),
        _d(5, 5, 1280, 288, 7, 4),
        _d(6, 6, 1280, 384, 8, 5, fusion="sum"),
        _d(7, 6, 1536, 384, 8, 5, fusion="sum", anchor_scale=5.0),
    )
}

#: The paper's Table 2: parameters (millions) and FLOPs (billions of multiply-adds) per model.
PAPER_COST: dict[str, tuple[float, float]] = {
    "efficientdet_d0": (3.9, 2.5),
    "efficientdet_d1": (6.6, 6.1),
    "efficientdet_d2": (8.1, 11.0),
    "efficientdet_d3": (12.0, 25.0),
    "efficientdet_d4": (21.0, 55.0),
    "efficientdet_d5": (34.0, 135.0),
    "efficientdet_d6": (52.0, 226.0),
    "efficientdet_d7": (52.0, 325.0),
}


def scaling_rule(phi: int) -> dict[str, float]:
    """The paper's equations 1-3 before rounding: width, BiFPN depth, head depth, input size."""
    return {
        "fpn_channels": 64 * 1.35**phi,
        "fpn_repeats": 3 + phi,
        "head_repeats": 3 + math.floor(phi / 3),
        "image_size": 512 + 128 * phi,
    }


def get_det_spec(name: str | DetSpec) -> DetSpec:
    """A detector spec by name (``efficientdet_d0`` ... ``d7``; ``d0`` is accepted too)."""
    if isinstance(name, DetSpec):
        return name
    key = name if name.startswith("efficientdet_") else f"efficientdet_{name}"
    if key not in DET_SPECS:
        raise ValueError(f"unknown detector {name!r}; known: {', '.join(DET_SPECS)}")
    return DET_SPECS[key]
