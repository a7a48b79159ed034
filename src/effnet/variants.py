"""The EfficientNet family B0-B8 and L2 as data: the coefficients each variant is scaled by.

Values are the published configuration (PAPER.md section 1); B1-B7 are B0 compound-scaled with
rounded multipliers and hand-picked resolutions, which is what every checkpoint in circulation uses.
The paper's reported figures (:data:`effnet.paper.TABLE2`) ride along so tools can print them
beside what we measure.
"""

from __future__ import annotations

from dataclasses import dataclass

from .paper import TABLE2
from .scaling import scale
from .spec import EFFICIENTNET_B0, NetSpec


@dataclass(frozen=True)
class Variant:
    width: float
    depth: float
    resolution: int
    dropout: float
    #: The paper's Table 2 figures (None where it reports none).
    paper_params_m: float | None = None
    paper_flops_b: float | None = None
    paper_top1: float | None = None
    paper_top5: float | None = None


#: name -> (width, depth, resolution, dropout), the published configuration.
_COEFFICIENTS: dict[str, tuple[float, float, int, float]] = {
    "efficientnet_b0": (1.0, 1.0, 224, 0.2),
    "efficientnet_b1": (1.0, 1.1, 240, 0.2),
    "efficientnet_b2": (1.1, 1.2, 260, 0.3),
    "efficientnet_b3": (1.2, 1.4, 300, 0.3),
    "efficientnet_b4": (1.4, 1.8, 380, 0.4),
    "efficientnet_b5": (1.6, 2.2, 456, 0.4),
    "efficientnet_b6": (1.8, 2.6, 528, 0.5),
    "efficientnet_b7": (2.0, 3.1, 600, 0.5),
    "efficientnet_b8": (2.2, 3.6, 672, 0.5),
    "efficientnet_l2": (4.3, 5.3, 800, 0.5),
}

VARIANTS: dict[str, Variant] = {
    name: Variant(*coefficients, *TABLE2.get(name, ()))
    for name, coefficients in _COEFFICIENTS.items()
}


def variant_spec(name: str) -> NetSpec:
    """The spec of a named EfficientNet variant: B0 scaled by that variant's row of the table."""
    try:
        v = VARIANTS[name]
    except KeyError:
        raise KeyError(
            f"unknown EfficientNet variant {name!r}; known: {', '.join(VARIANTS)}"
        ) from None
    if (v.width, v.depth) == (1.0, 1.0):
        return EFFICIENTNET_B0.replace(name=name, resolution=v.resolution, dropout=v.dropout)
    return scale(
        EFFICIENTNET_B0,
        width=v.width,
        depth=v.depth,
        image_size=v.resolution,
        dropout=v.dropout,
        name=name,
    )
