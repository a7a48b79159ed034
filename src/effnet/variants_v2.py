"""EfficientNetV2 (Tan & Le, ICML 2021) as data: the V2 base and S/M/L/XL networks, and the V2
family table.

V2 keeps EfficientNet's MBConv for the later stages but starts with Fused-MBConv (one full 3x3
conv in place of 1x1 expansion + depthwise, faster on accelerators at high resolution), uses
smaller expansion ratios (1 and 4 in the early stages), 3x3 kernels only, no squeeze-excitation
in the fused stages (SE in the MBConv stages squeezes to a quarter of the block *input*, as in
V1), and drops V1's last stage.

- V2-S/M/L/XL: the paper's own tables (Table 4 for S; M, L, XL from the reference
  ``effnetv2_configs.py``), not scaled from a base.
- V2-B0..B3: the V2 base compound-scaled with V1's (width, depth) pairs; V2's builder rounds
  channels to the nearest multiple of 8 without V1's "never below 90%" step
  (``round_limit=0``), which changes B3's first stage (16 channels, not 24).

Resolutions are the evaluation sizes; the training sizes and the progressive-learning schedules
are in :data:`V2_TRAIN` and ``configs/v2_*.py``. The paper's reported figures ride along in
:data:`V2_PAPER` (not in ``Variant.paper_*``, which the V1 Table 2 tools read).
"""

from __future__ import annotations

from typing import NamedTuple

from .spec import NetSpec, StageSpec, StemSpec


def _cn(out: int, repeats: int) -> StageSpec:
    """Fused-MBConv with expansion 1: one activated 3x3 conv (timm's ``cn``)."""
    return StageSpec("fused", 3, 1, 1, out, repeats)


def _er(out: int, repeats: int, expand: int = 4) -> StageSpec:
    """Fused-MBConv, stride 2, expansion 4, no SE (timm's ``er``)."""
    return StageSpec("fused", 3, 2, expand, out, repeats)


def _ir(stride: int, expand: int, out: int, repeats: int) -> StageSpec:
    """MBConv 3x3 with SE 0.25 of the block input (timm's ``ir``)."""
    return StageSpec("mbconv", 3, stride, expand, out, repeats, se_ratio=0.25)


def _v2(name: str, stem: int, stages: tuple[StageSpec, ...], resolution: int) -> NetSpec:
    return NetSpec(
        name=name,
        stem=StemSpec(channels=stem, kernel=3, stride=2),
        stages=stages,
        head_channels=1280,
        resolution=resolution,
        dropout=0.2,
        drop_path_rate=0.2,
        activation="silu",
        bn_eps=1e-3,
        round_limit=0.0,
    )


#: EfficientNetV2-B0, the base V2-B1..B3 scale (reference ``v2_base_block``).
EFFICIENTNETV2_BASE = _v2(
    "efficientnetv2_b0",
    32,
    (_cn(16, 1), _er(32, 2), _er(48, 2), _ir(2, 4, 96, 3), _ir(1, 6, 112, 5), _ir(2, 6, 192, 8)),
    224,
)

#: EfficientNetV2-S, the paper's Table 4.
EFFICIENTNETV2_S = _v2(
    "efficientnetv2_s",
    24,
    (_cn(24, 2), _er(48, 4), _er(64, 4), _ir(2, 4, 128, 6), _ir(1, 6, 160, 9), _ir(2, 6, 256, 15)),
    384,
)

EFFICIENTNETV2_M = _v2(
    "efficientnetv2_m",
    24,
    (
        *(_cn(24, 3), _er(48, 5), _er(80, 5)),
        *(_ir(2, 4, 160, 7), _ir(1, 6, 176, 14), _ir(2, 6, 304, 18), _ir(1, 6, 512, 5)),
    ),
    480,
)

EFFICIENTNETV2_L = _v2(
    "efficientnetv2_l",
    32,
    (
        *(_cn(32, 4), _er(64, 7), _er(96, 7)),
        *(_ir(2, 4, 192, 10), _ir(1, 6, 224, 19), _ir(2, 6, 384, 25), _ir(1, 6, 640, 7)),
    ),
    480,
)

EFFICIENTNETV2_XL = _v2(
    "efficientnetv2_xl",
    32,
    (
        *(_cn(32, 4), _er(64, 8), _er(96, 8)),
        *(_ir(2, 4, 192, 16), _ir(1, 6, 256, 24), _ir(2, 6, 512, 32), _ir(1, 6, 640, 8)),
    ),
    512,
)

#: name -> (base, width, depth, evaluation resolution, dropout): the reference
#: ``effnetv2_configs.py``. S/M/L/XL are their own tables; dropout is the final
#: progressive-learning stage's (paper Table 6; L's for XL).
V2_COEFFICIENTS: dict[str, tuple[NetSpec, float, float, int, float]] = {
    "efficientnetv2_b0": (EFFICIENTNETV2_BASE, 1.0, 1.0, 224, 0.2),
    "efficientnetv2_b1": (EFFICIENTNETV2_BASE, 1.0, 1.1, 240, 0.2),
    "efficientnetv2_b2": (EFFICIENTNETV2_BASE, 1.1, 1.2, 260, 0.3),
    "efficientnetv2_b3": (EFFICIENTNETV2_BASE, 1.2, 1.4, 300, 0.3),
    "efficientnetv2_s": (EFFICIENTNETV2_S, 1.0, 1.0, 384, 0.3),
    "efficientnetv2_m": (EFFICIENTNETV2_M, 1.0, 1.0, 480, 0.4),
    "efficientnetv2_l": (EFFICIENTNETV2_L, 1.0, 1.0, 480, 0.5),
    "efficientnetv2_xl": (EFFICIENTNETV2_XL, 1.0, 1.0, 512, 0.5),
}

#: The final training size of each variant (progressive learning ends there; evaluation is at
#: the spec's larger resolution): the reference ``effnetv2_configs.py``.
V2_TRAIN: dict[str, int] = {
    "efficientnetv2_b0": 192,
    "efficientnetv2_b1": 192,
    "efficientnetv2_b2": 208,
    "efficientnetv2_b3": 240,
    "efficientnetv2_s": 300,
    "efficientnetv2_m": 384,
    "efficientnetv2_l": 384,
    "efficientnetv2_xl": 384,
}


class V2PaperRow(NamedTuple):
    """The V2 paper's figures: params (M), FLOPs (B) and ImageNet top-1 (%)."""

    params_m: float
    flops_b: float
    top1: float
    note: str = "ImageNet-1k"


#: Paper Table 7 (S/M/L, ImageNet-1k; XL only with ImageNet-21k pretraining) and the reference
#: repository's table for B0-B3.
V2_PAPER: dict[str, V2PaperRow] = {
    "efficientnetv2_b0": V2PaperRow(7.1, 0.72, 78.7),
    "efficientnetv2_b1": V2PaperRow(8.1, 1.2, 79.8),
    "efficientnetv2_b2": V2PaperRow(10.1, 1.7, 80.5),
    "efficientnetv2_b3": V2PaperRow(14.4, 3.0, 82.1),
    "efficientnetv2_s": V2PaperRow(22, 8.8, 83.9),
    "efficientnetv2_m": V2PaperRow(54, 24, 85.1),
    "efficientnetv2_l": V2PaperRow(120, 53, 85.7),
    "efficientnetv2_xl": V2PaperRow(208, 94, 87.3, "ImageNet-21k pretrained"),
}
