"""``effnet models``: the registered models with their size, cost and the paper's accuracy, or
(``--pretrained``) the registered weight sets with their accuracy and whether they are here.
Detectors (EfficientDet D0-D7 and their COCO weights) follow the classifiers in a table of their
own, since their columns differ. Nothing here imports torch."""

from __future__ import annotations

import argparse

from . import example_help


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list the registered models",
        **example_help(
            "effnet models\neffnet models 'efficientnet_b*'\neffnet models --pretrained\n"
            "effnet models --pretrained --available 'efficientnetv2*'"
        ),
    )
    p.add_argument("pattern", nargs="?", default="*", help="shell-style filter on names")
    p.add_argument(
        "--pretrained",
        action="store_true",
        help="list the pretrained weight sets instead, with their evaluation size, published "
        "top-1/top-5 and where each comes from here: cached (downloaded before), package "
        "(shipped by an installed Python package), file (a registered local file), download "
        "(fetched on first use) or missing (its package or file is not here)",
    )
    p.add_argument(
        "--available",
        action="store_true",
        help="with --pretrained: only the weight sets that load without the network",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.pretrained or args.available:
        return _weight_sets(args.pattern, args.available)
    from .. import list_models

    names = list_models(args.pattern)
    if not names:
        raise ValueError(f"no model matches {args.pattern!r}; known: {', '.join(list_models())}")
    from ..detection.spec import DET_SPECS

    classifiers = [name for name in names if name not in DET_SPECS]
    detectors = [name for name in names if name in DET_SPECS]
    if classifiers:
        _classifier_rows(classifiers)
    if detectors:
        if classifiers:
            print()
        _detector_rows(detectors)
    return 0


def _classifier_rows(names: list[str]) -> None:
    from .. import flops
    from ..registry import get_spec
    from ..variants import VARIANTS
    from ..variants_v2 import V2_PAPER

    print(f"{'model':<18}{'res':>5}{'params (M)':>12}{'MACs (G)':>10}{'paper top-1':>13}")
    for name in names:
        spec = get_spec(name)
        cost = flops.count(spec)
        top1 = VARIANTS[name].paper_top1 if name in VARIANTS else None
        if name in V2_PAPER:  # the V2 paper's (XL: pretrained on ImageNet-21k)
            top1 = V2_PAPER[name].top1
        top1_text = f"{top1:.1f}" if top1 else "-"
        print(
            f"{name:<18}{spec.resolution:>5}{cost.params / 1e6:>12.3f}{cost.macs / 1e9:>10.3f}"
            f"{top1_text:>13}"
        )


def _detector_rows(names: list[str]) -> None:
    """Input size, backbone, BiFPN width x depth, the paper's parameters and FLOPs (Table 2),
    and the COCO AP of the published weights."""
    from ..detection.pretrained import DET_WEIGHTS
    from ..detection.spec import DET_SPECS, PAPER_COST

    print(
        f"{'detector':<18}{'res':>5}  {'backbone':<16}{'BiFPN':>7}{'params (M)':>12}"
        f"{'FLOPs (B)':>11}{'COCO AP':>9}"
    )
    for name in names:
        spec, (params, flops) = DET_SPECS[name], PAPER_COST[name]
        weights = DET_WEIGHTS.get(f"{name}.tf_coco")
        ap = f"{weights.coco_ap:.1f}" if weights else "-"
        bifpn = f"{spec.fpn_channels}x{spec.fpn_repeats}"
        print(
            f"{name:<18}{spec.image_size:>5}  {spec.backbone:<16}{bifpn:>7}{params:>12.1f}"
            f"{flops:>11.1f}{ap:>9}"
        )
    print("(params and FLOPs: the paper's Table 2; COCO AP: the published weights, val2017)")


def _weight_sets(pattern: str, available_only: bool) -> int:
    """One row per weight set: name, evaluation size and crop, top-1/top-5, and ``here``."""
    from .. import list_models
    from ..detection.pretrained import DET_WEIGHTS, detector_availability
    from ..weights.available import USABLE, availability
    from ..weights.fetch import weights_dir
    from ..weights.pretrained import WEIGHTS

    names = list_models(pattern, pretrained=True)
    if not names:
        known = ", ".join(list_models(pretrained=True, include_tags=False))
        raise ValueError(f"no pretrained weights match {pattern!r}; models with weights: {known}")
    here = {name: availability(WEIGHTS[name]) for name in names if name in WEIGHTS}
    here |= {name: detector_availability(name) for name in names if name in DET_WEIGHTS}
    shown = [name for name in names if here[name] in USABLE or not available_only]
    classifiers = [name for name in shown if name in WEIGHTS]
    width = max(len(name) for name in names) + 2
    if classifiers:
        _classifier_weight_rows(classifiers, here, width)
    detectors = [name for name in shown if name in DET_WEIGHTS]
    if detectors:
        if classifiers:
            print()
        _detector_weight_rows(detectors, here, width)
    usable = sum(status in USABLE for status in here.values())
    print(
        f"\n{usable} of {len(names)} usable here without a download (cache: {weights_dir()}; "
        "'download' ones are fetched there on first use)"
    )
    return 0


def _detector_weight_rows(names: list[str], here: dict[str, str], width: int) -> None:
    from ..detection.pretrained import DET_WEIGHTS
    from ..detection.spec import DET_SPECS

    print(f"{'detector weights':<{width}}{'res':>5}{'COCO AP':>9}  here")
    for name in names:
        weights = DET_WEIGHTS[name]
        size = DET_SPECS[weights.model].image_size
        print(f"{name:<{width}}{size:>5}{weights.coco_ap:>9.1f}  {here[name]}")


def _classifier_weight_rows(names: list[str], here: dict[str, str], width: int) -> None:
    from ..weights.pretrained import WEIGHTS

    print(f"{'weights':<{width}}{'res':>5}{'crop':>7}{'top-1':>8}{'top-5':>8}  here")
    for name in names:
        w = WEIGHTS[name]
        pre = w.preprocess
        print(
            f"{name:<{width}}{pre.resolution:>5}{pre.crop_pct:>7.3f}{w.top1:>8.2f}{w.top5:>8.2f}"
            f"  {here[name]}"
        )
