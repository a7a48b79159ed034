"""The paper's printed numbers, in one place: Tables 2, 3, 4 and 7 and section 5's comparison.

Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks" (ICML 2019).
These are citations, never results: the tools print them beside what effnet counts or measures
(``effnet models``, ``effnet reproduce``, ``effnet bench --table4``), so a reader sees both. Plain
data, no imports: networks are named by their effnet registry names.
"""

from __future__ import annotations

from typing import NamedTuple


class Table2Row(NamedTuple):
    """One EfficientNet row of Table 2: params (M), FLOPs (B), ImageNet top-1 and top-5 (%)."""

    params_m: float
    flops_b: float
    top1: float
    top5: float


#: Table 2 (ImageNet): EfficientNet-B0 to B7 as published.
TABLE2: dict[str, Table2Row] = {
    "efficientnet_b0": Table2Row(5.3, 0.39, 77.1, 93.3),
    "efficientnet_b1": Table2Row(7.8, 0.70, 79.1, 94.4),
    "efficientnet_b2": Table2Row(9.2, 1.0, 80.1, 94.9),
    "efficientnet_b3": Table2Row(12, 1.8, 81.6, 95.7),
    "efficientnet_b4": Table2Row(19, 4.2, 82.9, 96.4),
    "efficientnet_b5": Table2Row(30, 9.9, 83.6, 96.7),
    "efficientnet_b6": Table2Row(43, 19, 84.0, 96.8),
    "efficientnet_b7": Table2Row(66, 37, 84.3, 97.0),
}

#: Other ConvNets in Table 2's comparison (section 5): name, params (M), FLOPs (B), top-1, and
#: the effnet model that counts it where effnet has the spec. GPipe's FLOPs are not given.
CONVNETS: tuple[tuple[str, float, float | None, float, str | None], ...] = (
    ("ResNet-50", 26, 4.1, 76.0, "resnet50"),
    ("ResNet-152", 60, 11, 77.8, None),
    ("ResNeXt-101", 84, 32, 80.9, None),
    ("SENet", 146, 42, 82.7, None),
    ("GPipe", 557, None, 84.3, None),
)

#: Table 3: (base model, row, scaling keywords for scale(), FLOPs (B), top-1). ``None`` scaling
#: is the compound row; its multipliers are published for MobileNetV1 only.
TABLE3: tuple[tuple[str, str, dict[str, float] | None, float, float], ...] = (
    ("mobilenet_v1", "baseline", {}, 0.6, 70.6),
    ("mobilenet_v1", "width x2", {"width": 2}, 2.2, 74.2),
    ("mobilenet_v1", "resolution x2", {"resolution": 2}, 2.2, 72.7),
    ("mobilenet_v1", "compound", {"depth": 1.4, "width": 1.2, "resolution": 1.3}, 2.3, 75.6),
    ("mobilenet_v2", "baseline", {}, 0.3, 72.0),
    ("mobilenet_v2", "depth x4", {"depth": 4}, 1.2, 76.8),
    ("mobilenet_v2", "width x2", {"width": 2}, 1.1, 76.4),
    ("mobilenet_v2", "resolution x2", {"resolution": 2}, 1.2, 74.8),
    ("mobilenet_v2", "compound", None, 1.3, 77.4),
    ("resnet50", "baseline", {}, 4.1, 76.0),
    ("resnet50", "depth x4", {"depth": 4}, 16.2, 78.1),
    ("resnet50", "width x2", {"width": 2}, 14.7, 77.7),
    ("resnet50", "resolution x2", {"resolution": 2}, 16.4, 77.5),
    ("resnet50", "compound", None, 16.7, 78.8),
)

#: Table 4: seconds per image, batch 1, one core of a Xeon E5-2690; and the speed-up it reports.
TABLE4_LATENCY_S: dict[str, float] = {"resnet152": 0.554, "efficientnet_b1": 0.098}
TABLE4_RATIO = 5.7
#: Table 4's second pair, GPipe vs B7 (19.0 s vs 3.1 s).
TABLE4_GPIPE = (19.0, 3.1, 6.1)

#: Table 7 (B0 at 224px): row, study method, scale() keywords, FLOPs (B), top-1.
TABLE7: tuple[tuple[str, str, dict[str, float], float, float], ...] = (
    ("B0 baseline", "baseline", {}, 0.4, 77.3),
    ("depth (d=4)", "depth", {"depth": 4}, 1.8, 79.0),
    ("width (w=2)", "width", {"width": 2}, 1.8, 78.9),
    ("resolution (r=2)", "resolution", {"resolution": 2}, 1.9, 79.1),
    ("compound (d=1.4, w=1.2, r=1.3)", "compound", {"depth": 1.4, "width": 1.2, "resolution": 1.3},
     1.8, 81.1),
)  # fmt: skip
