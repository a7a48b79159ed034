"""``effnet profile``: the per-stage parameter / multiply-add table of any registered model."""

from __future__ import annotations

import argparse

from ..spec import MAX_RESOLUTION
from . import example_help, int_in, natural_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile",
        help="per-stage params and multiply-adds, cross-checked with torch's flop counter",
        **example_help("effnet profile efficientnet_b3\neffnet profile resnet50 --resolution 448"),
    )
    p.add_argument("model", help="a name from 'effnet models', or a spec .json from 'effnet scale'")
    p.add_argument(
        "--resolution", type=int_in(1, MAX_RESOLUTION), help="input size (default: the model's own)"
    )
    p.add_argument("--num-classes", type=natural_int, default=1000)
    p.add_argument(
        "--no-cross-check", action="store_true", help="skip building the model for flop_counter"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..flops import check_size
    from ..profile import profile
    from ..registry import get_spec

    check_size(get_spec(args.model), args.num_classes, args.resolution)  # before it is built
    result = profile(
        args.model, args.num_classes, args.resolution, cross_check=not args.no_cross_check
    )
    print(result.format())
    return 0
