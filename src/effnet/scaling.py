"""Compound scaling (paper section 3.3) as pure functions over any :class:`NetSpec`.

depth d = alpha**phi, width w = beta**phi, resolution r = gamma**phi, with
alpha*beta**2*gamma**2 ~ 2 so that every unit of phi roughly doubles the multiply-adds. The
rounding rules decide whether published checkpoints load, so they follow the reference
implementation exactly: channels to the nearest multiple of 8 but never below 90% of the exact
value; repeats rounded up.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from . import flops
from .spec import MAX_CHANNELS, MAX_REPEATS, MAX_RESOLUTION, NetSpec

#: The paper's step-1 grid-search result for B0 (section 4.2).
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15


def round_filters(channels: int, width: float, divisor: int = 8, round_limit: float = 0.9) -> int:
    """Scale a channel count by ``width`` and round it to a multiple of ``divisor``.

    Rounds to the nearest multiple, keeps at least ``divisor`` channels, and steps up one multiple
    when plain rounding would lose more than 10% (the reference implementation's rule, which the
    published checkpoints' shapes depend on; ``round_limit=0`` turns the step off, as
    EfficientNetV2's builder does).
    """
    if width <= 0:
        raise ValueError(f"width multiplier must be positive, got {width}")
    exact = channels * width
    if round(exact) == 0:
        raise ValueError(
            f"width {width} rounds {channels} channels to zero ({exact:.3g}); "
            f"use a width of at least {0.5 / channels:.3g}"
        )
    rounded = max(divisor, int(exact + divisor / 2) // divisor * divisor)
    if rounded < round_limit * exact:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float) -> int:
    """Scale a stage's block count by ``depth``, rounding up so no stage ever vanishes."""
    if depth <= 0:
        raise ValueError(f"depth multiplier must be positive, got {depth}")
    return math.ceil(depth * repeats)


@dataclass(frozen=True)
class Compound:
    """The three multipliers that one compound coefficient phi gives."""

    depth: float
    width: float
    resolution: float

    @property
    def flops_factor(self) -> float:
        """Expected growth of multiply-adds: d * w**2 * r**2 (before rounding)."""
        return self.depth * self.width**2 * self.resolution**2


def compound(
    phi: float, alpha: float = ALPHA, beta: float = BETA, gamma: float = GAMMA
) -> Compound:
    """Multipliers for compound coefficient ``phi`` (paper equation 3)."""
    if not phi > 0:
        raise ValueError(f"compound coefficient phi must be positive, got {phi}")
    for label, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if not value >= 1:
            raise ValueError(f"{label} must be >= 1 (scaling only grows a network), got {value}")
    try:
        c = Compound(depth=alpha**phi, width=beta**phi, resolution=gamma**phi)
    except OverflowError:
        c = Compound(math.inf, math.inf, math.inf)
    if not all(math.isfinite(m) for m in (c.depth, c.width, c.resolution)):
        raise ValueError(f"compound coefficient phi={phi} gives infinite multipliers")
    return c


def scale(
    spec: NetSpec,
    width: float = 1.0,
    depth: float = 1.0,
    resolution: float = 1.0,
    *,
    phi: float | None = None,
    alpha: float = ALPHA,
    beta: float = BETA,
    gamma: float = GAMMA,
    image_size: int | None = None,
    dropout: float | None = None,
    name: str | None = None,
) -> NetSpec:
    """Return a new spec scaled in width, depth and resolution.

    Either give the three multipliers directly, or ``phi`` (with optional alpha/beta/gamma) to use
    compound scaling. ``image_size`` sets the resolution in pixels and overrides ``resolution``
    (the published variants use hand-picked sizes such as 240 or 260).
    """
    if phi is not None:
        if (width, depth, resolution) != (1.0, 1.0, 1.0):
            raise ValueError("give either phi or width/depth/resolution multipliers, not both")
        c = compound(phi, alpha, beta, gamma)
        width, depth, resolution = c.width, c.depth, c.resolution
    if resolution <= 0:
        raise ValueError(f"resolution multiplier must be positive, got {resolution}")
    _check_buildable(spec, width, depth, resolution, image_size, phi)
    stages = tuple(
        dataclasses.replace(
            stage,
            out_channels=round_filters(stage.out_channels, width, round_limit=spec.round_limit),
            repeats=stage.repeats
            if i in spec.fixed_repeats
            else round_repeats(stage.repeats, depth),
            expand_from=stage.expand_from
            and round_filters(stage.expand_from, width, round_limit=spec.round_limit),
        )
        for i, stage in enumerate(spec.stages)
    )
    head = spec.head_channels
    if head and not spec.fixed_head and (width >= 1 or spec.head_scales_down):
        head = round_filters(head, width, round_limit=spec.round_limit)
    stem_channels = (
        spec.stem.channels
        if spec.fixed_stem
        else round_filters(spec.stem.channels, width, round_limit=spec.round_limit)
    )
    size = image_size or round(spec.resolution * resolution)
    return spec.replace(
        name=name or f"{spec.name}_d{depth:.3g}_w{width:.3g}_r{size}",
        stem=dataclasses.replace(spec.stem, channels=stem_channels),
        stages=stages,
        head_channels=head,
        resolution=size,
        dropout=spec.dropout if dropout is None else dropout,
    )


def _check_buildable(
    spec: NetSpec,
    width: float,
    depth: float,
    resolution: float,
    image_size: int | None,
    phi: float | None,
) -> None:
    """Refuse multipliers that scale ``spec`` beyond what can be built, naming what overflows."""
    size = image_size or spec.resolution * resolution
    widths = [stage.out_channels for stage in spec.stages]
    widest = max([*widths, spec.stem.channels, spec.head_channels or 0]) * width
    deepest = max(stage.repeats for stage in spec.stages) * depth
    problems = [
        f"{what} {value:.3g} (at most {limit})"
        for what, value, limit in (
            ("a resolution of", size, MAX_RESOLUTION),
            ("a stage width of", widest, MAX_CHANNELS),
            ("a stage depth of", deepest, MAX_REPEATS),
        )
        if not value <= limit  # also catches NaN
    ]
    if problems:
        how = f"phi={phi:g}" if phi is not None else f"width {width:.3g}, depth {depth:.3g}"
        raise ValueError(
            f"scaling {spec.name} with {how} (resolution x{resolution:.3g}) gives "
            f"{'; '.join(problems)}: no such network can be built"
        )


@dataclass(frozen=True, kw_only=True)
class BudgetFit:
    """A network scaled to a multiply-add budget, and how close it landed (relative error)."""

    spec: NetSpec
    macs: int
    target: float

    @property
    def relative_error(self) -> float:
        return self.macs / self.target - 1


@dataclass(frozen=True, kw_only=True)
class FlopsFit(BudgetFit):
    """What :func:`scale_to_flops` found: the coefficient, its multipliers, and the scaled spec."""

    phi: float
    multipliers: Compound


def scale_to_flops(
    spec: NetSpec,
    target_macs: float,
    alpha: float = ALPHA,
    beta: float = BETA,
    gamma: float = GAMMA,
    num_classes: int = 1000,
    max_phi: float = 20.0,
) -> FlopsFit:
    """Find phi so that compound-scaling ``spec`` lands as close as possible to ``target_macs``.

    Multiply-adds are a step function of phi (channels and repeats are rounded), so this bisects on
    the continuous phi and then keeps whichever bracketing phi lands closest to the target.
    """
    base = flops.count(spec, num_classes).macs
    if target_macs <= base:
        raise ValueError(
            f"target {target_macs / 1e9:.3g}G multiply-adds is not above the base network's "
            f"{base / 1e9:.3g}G; compound scaling only grows a network"
        )

    def macs_at(phi: float) -> int:
        return flops.count(
            scale(spec, phi=phi, alpha=alpha, beta=beta, gamma=gamma), num_classes
        ).macs

    lo, hi = 1e-6, max_phi
    if macs_at(hi) < target_macs:
        raise ValueError(f"target {target_macs / 1e9:.3g}G is beyond phi={max_phi}")
    for _ in range(60):
        mid = (lo + hi) / 2
        if macs_at(mid) < target_macs:
            lo = mid
        else:
            hi = mid
    phi = min((lo, hi), key=lambda p: abs(macs_at(p) - target_macs))
    scaled = scale(spec, phi=phi, alpha=alpha, beta=beta, gamma=gamma)
    return FlopsFit(
        phi=phi,
        multipliers=compound(phi, alpha, beta, gamma),
        spec=scaled,
        macs=macs_at(phi),
        target=float(target_macs),
    )
