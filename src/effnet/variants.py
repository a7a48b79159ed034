"""The EfficientNet families as data: each variant's base network and the coefficients it is
scaled by.

- B0-B8 and L2: B0 compound-scaled with rounded multipliers and hand-picked resolutions, the
  published configuration that every checkpoint in circulation uses.
- Lite0-4: the reference Lite builder's (width, depth, resolution, dropout) over Lite0.
- EdgeTPU-S/M/L (``efficientnet_es/em/el``): the reference EdgeTPU builder's over EdgeTPU-S.

The paper's reported figures (:data:`effnet.paper.TABLE2`) ride along so tools can print them
beside what we measure.
"""

from __future__ import annotations

from dataclasses import dataclass

from .paper import TABLE2
from .scaling import scale
from .spec import EFFICIENTNET_B0, EFFICIENTNET_ES, EFFICIENTNET_LITE0, NetSpec
from .variants_v2 import V2_COEFFICIENTS, V2_PAPER


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
    #: The network this variant scales (B0, Lite0 or EdgeTPU-S).
    base: NetSpec = EFFICIENTNET_B0


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

#: The reference Lite builder's table (``efficientnet_lite_builder.py``).
_LITE_COEFFICIENTS: dict[str, tuple[float, float, int, float]] = {
    "efficientnet_lite0": (1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": (1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": (1.1, 1.2, 260, 0.3),
    "efficientnet_lite3": (1.2, 1.4, 280, 0.3),
    "efficientnet_lite4": (1.4, 1.8, 300, 0.3),
}

#: The reference EdgeTPU builder's table (``efficientnet_edgetpu_builder.py``): S, M, L.
_EDGETPU_COEFFICIENTS: dict[str, tuple[float, float, int, float]] = {
    "efficientnet_es": (1.0, 1.0, 224, 0.2),
    "efficientnet_em": (1.0, 1.1, 240, 0.2),
    "efficientnet_el": (1.2, 1.4, 300, 0.2),
}

VARIANTS: dict[str, Variant] = {
    **{
        name: Variant(*coefficients, *TABLE2.get(name, ()))
        for name, coefficients in _COEFFICIENTS.items()
    },
    **{
        name: Variant(*coefficients, base=EFFICIENTNET_LITE0)
        for name, coefficients in _LITE_COEFFICIENTS.items()
    },
    **{
        name: Variant(*coefficients, base=EFFICIENTNET_ES)
        for name, coefficients in _EDGETPU_COEFFICIENTS.items()
    },
    # EfficientNetV2 (effnet.variants_v2; its paper's figures are V2_PAPER there)
    **{
        name: Variant(width, depth, resolution, dropout, base=base)
        for name, (base, width, depth, resolution, dropout) in V2_COEFFICIENTS.items()
    },
}


def variant_spec(name: str) -> NetSpec:
    """The spec of a named EfficientNet variant: its base scaled by its row of the table."""
    try:
        v = VARIANTS[name]
    except KeyError:
        raise KeyError(
            f"unknown EfficientNet variant {name!r}; known: {', '.join(VARIANTS)}"
        ) from None
    if (v.width, v.depth) == (1.0, 1.0):
        return v.base.replace(name=name, resolution=v.resolution, dropout=v.dropout)
    return scale(
        v.base,
        width=v.width,
        depth=v.depth,
        image_size=v.resolution,
        dropout=v.dropout,
        name=name,
    )


#: ImageNet top-1 (%) published with the reference Lite and EdgeTPU checkpoints (fp32, at each
#: variant's own resolution), from the reference repositories' tables: the papers of those
#: families give no per-variant table.
REFERENCE_TOP1: dict[str, float] = {
    "efficientnet_lite0": 75.1,
    "efficientnet_lite1": 76.7,
    "efficientnet_lite2": 77.6,
    "efficientnet_lite3": 79.8,
    "efficientnet_lite4": 81.5,
    "efficientnet_es": 77.23,
    "efficientnet_em": 78.69,
    "efficientnet_el": 80.62,
}

#: Each family's variants with a published top-1, cheapest first.
FAMILIES: dict[str, tuple[str, ...]] = {
    "b": tuple(n for n, v in VARIANTS.items() if v.paper_top1 is not None),
    "lite": tuple(n for n in REFERENCE_TOP1 if "lite" in n),
    "edgetpu": tuple(n for n in REFERENCE_TOP1 if "lite" not in n),
    "v2": tuple(n for n, row in V2_PAPER.items() if row.note == "ImageNet-1k"),
}


def published_top1(name: str) -> float | None:
    """The ImageNet top-1 (%) published for a variant: Table 2 for B0-B7, the V2 paper for V2, the
    reference repositories for Lite and EdgeTPU; None where none is published."""
    if name in V2_PAPER:
        return V2_PAPER[name].top1
    if name in REFERENCE_TOP1:
        return REFERENCE_TOP1[name]
    variant = VARIANTS.get(name)
    return variant.paper_top1 if variant else None
