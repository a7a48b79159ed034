"""EfficientNetV2's table (``effnet reproduce v2``): the V2 paper's params, FLOPs and top-1 beside
effnet's exact counts, with each variant's training size and the peers whose checkpoints load.

Parameters equal torchvision's and timm's models exactly (tests/test_variants_v2.py); multiply-adds
are counted at each variant's evaluation resolution, as the paper reports them. Accuracy is only
ours where a results file measured it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import flops
from ..variants import variant_spec
from ..variants_v2 import V2_PAPER, V2_TRAIN

#: Which peers ship each V2 variant (effnet converts and exports all of them).
V2_PEERS: dict[str, str] = {
    "efficientnetv2_b0": "timm-tf",
    "efficientnetv2_b1": "timm-tf",
    "efficientnetv2_b2": "timm-tf",
    "efficientnetv2_b3": "timm-tf",
    "efficientnetv2_s": "torchvision, timm, timm-tf",
    "efficientnetv2_m": "torchvision, timm, timm-tf",
    "efficientnetv2_l": "torchvision, timm, timm-tf",
    "efficientnetv2_xl": "timm, timm-tf",
}


def v2_table(measured: Mapping[str, float]) -> tuple[list[str], list[dict[str, Any]]]:
    """Markdown lines and rows: one per V2 variant, ``measured`` top-1 (%) by name."""
    lines = [
        "# EfficientNetV2 (Tan & Le, ICML 2021): V2-B0..B3 and S/M/L/XL",
        "",
        "Ours: exact counts from effnet's specs (multiply-adds at each variant's evaluation size). "
        "Paper: V2 Table 7 (S/M/L; XL pretrained on ImageNet-21k) and the reference "
        "repository's table (B0-B3).",
        "",
        "| model | train / eval res | paper params (M) | our params | paper FLOPs (B) "
        "| our FLOPs (B) | paper top-1 | measured top-1 | peers |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    rows = []
    for name, paper in V2_PAPER.items():
        spec = variant_spec(name)
        cost = flops.count(spec)
        value = measured.get(name)
        shown = "not measured" if value is None else f"{value:.2f}"
        rows.append(
            {
                "key": name,
                "train_resolution": V2_TRAIN[name],
                "resolution": spec.resolution,
                "paper_params_m": paper.params_m,
                "params": cost.params,
                "paper_flops_b": paper.flops_b,
                "macs": cost.macs,
                "paper_top1": paper.top1,
                "measured_top1": value,
            }
        )
        top1 = f"{paper.top1:.1f}" + ("" if paper.note == "ImageNet-1k" else " (21k)")
        lines.append(
            f"| {name} | {V2_TRAIN[name]} / {spec.resolution} | {paper.params_m:g} "
            f"| {cost.params:,} | {paper.flops_b:g} | {cost.macs / 1e9:.3f} | {top1} | {shown} "
            f"| {V2_PEERS[name]} |"
        )
    return lines, rows
