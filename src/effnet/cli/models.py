"""``effnet models``: the registered models with their size, cost and the paper's accuracy."""

from __future__ import annotations

import argparse

from . import example_help


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list the registered models",
        **example_help("effnet models\neffnet models 'efficientnet_b*'"),
    )
    p.add_argument("pattern", nargs="?", default="*", help="shell-style filter on names")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import flops
    from ..registry import get_spec, list_models
    from ..variants import VARIANTS
    from ..variants_v2 import V2_PAPER

    names = list_models(args.pattern)
    if not names:
        raise ValueError(f"no model matches {args.pattern!r}; known: {', '.join(list_models())}")
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
    return 0
