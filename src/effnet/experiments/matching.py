"""One dimension grown to a FLOP budget: the single-dimension networks of the paper's Table 7.

Multiply-adds are step functions of every multiplier (channels round to multiples of 8, repeats
round up, and feature maps are ``ceil(size / stride)``), so "matched" means the closest reachable
count. ``effnet study`` matches width-, depth- and resolution-only networks to its compound
models, and ``effnet reproduce table7`` finds the multiplier that reaches the paper's FLOPs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import flops
from ..scaling import BudgetFit, scale
from ..spec import MAX_CHANNELS, MAX_REPEATS, MAX_RESOLUTION, NetSpec

#: The single dimensions, in the paper's order, and compound scaling last.
METHODS = ("width", "depth", "resolution", "compound")
SINGLE_DIMENSIONS = METHODS[:3]


@dataclass(frozen=True, kw_only=True)
class DimensionFit(BudgetFit):
    """The multiplier found for one dimension, the network it gives and how close it landed."""

    dimension: str
    multiplier: float


def scale_one_dimension(spec: NetSpec, dimension: str, multiplier: float) -> NetSpec:
    """``spec`` grown along one dimension only; resolution is rounded to whole pixels."""
    if dimension not in SINGLE_DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}; expected one of {SINGLE_DIMENSIONS}")
    if dimension == "resolution":
        size = round(spec.resolution * multiplier)
        return scale(spec, image_size=size, name=f"{spec.name}_r{size}")
    return scale(
        spec, name=f"{spec.name}_{dimension[0]}{multiplier:.3g}", **{dimension: multiplier}
    )


def buildable_multiplier(spec: NetSpec, dimension: str) -> float:
    """The largest multiplier along ``dimension`` whose network can still be built (the search
    brackets the budget below it, so it never asks ``scale`` for an impossible network)."""
    if dimension == "resolution":
        return MAX_RESOLUTION / spec.resolution
    if dimension == "width":
        widths = [s.out_channels for s in spec.stages]
        return MAX_CHANNELS / max([*widths, spec.stem.channels, spec.head_channels or 0])
    return MAX_REPEATS / max(stage.repeats for stage in spec.stages)


def match_flops(
    spec: NetSpec,
    dimension: str,
    target_macs: float,
    num_classes: int = 1000,
    max_multiplier: float = 64.0,
) -> DimensionFit:
    """Solve one dimension's multiplier so ``spec`` scaled along it lands nearest ``target_macs``.

    Multiply-adds never decrease as any one multiplier grows, so this bisects (on whole pixels
    for resolution, on the continuous multiplier for width and depth) and keeps whichever of the
    two bracketing networks is closer to the target, like :func:`effnet.scaling.scale_to_flops`.
    """

    def macs_at(m: float) -> int:
        return flops.count(scale_one_dimension(spec, dimension, m), num_classes).macs

    max_multiplier = min(max_multiplier, buildable_multiplier(spec, dimension))
    base = flops.count(spec, num_classes).macs
    if target_macs <= base:
        raise ValueError(
            f"target {target_macs / 1e6:.4g}M multiply-adds is not above the base network's "
            f"{base / 1e6:.4g}M; scaling only grows a network"
        )
    if macs_at(max_multiplier) < target_macs:
        raise ValueError(
            f"{dimension} x{max_multiplier:g} still has fewer than {target_macs / 1e6:.4g}M "
            "multiply-adds; the budget is out of reach along this dimension"
        )
    if dimension == "resolution":
        lo, hi = spec.resolution, math.ceil(spec.resolution * max_multiplier)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if macs_at(mid / spec.resolution) < target_macs:
                lo = mid
            else:
                hi = mid
        bracket = (lo / spec.resolution, hi / spec.resolution)
    else:
        lo_m, hi_m = 1.0, max_multiplier
        for _ in range(60):
            mid_m = (lo_m + hi_m) / 2
            if macs_at(mid_m) < target_macs:
                lo_m = mid_m
            else:
                hi_m = mid_m
        bracket = (lo_m, hi_m)
    best = min(bracket, key=lambda m: abs(macs_at(m) - target_macs))
    return DimensionFit(
        dimension=dimension,
        multiplier=best,
        spec=scale_one_dimension(spec, dimension, best),
        macs=macs_at(best),
        target=float(target_macs),
    )
