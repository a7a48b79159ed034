"""``effnet train``: run a training config (the paper's recipe, a fine-tune, the digits demo)."""

from __future__ import annotations

import argparse
import os

from . import add_override_argument, example_help

# CPU training runs many small ops; with OpenMP's default spin-waiting, two threads on two cores
# that other processes also use spend most of their time spinning (measured here: 3-25 s per
# digits step instead of ~1 s). Passive waiting costs little on an idle machine. It only takes
# effect if torch (libgomp) is not loaded yet, and a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from a config file (configs/*.py)",
        **example_help(
            "effnet train --config configs/b0_digits.py\n"
            "effnet train --config configs/b0_digits.py --override epochs=5 image_size=32\n"
            "effnet train --config configs/b0_digits.py --resume\n"
            "torchrun --nproc_per_node=2 -m effnet.cli train --config configs/b0_imagenet.py "
            "--override data_dir=/data/imagenet"
        ),
    )
    p.add_argument("--config", required=True, help="a config file, or a name in ./configs")
    add_override_argument(p, "change config fields, e.g. epochs=3 dropout=none (repeatable)")
    p.add_argument(
        "--resume", action="store_true", help="continue the run saved in output_dir/last.pt"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..train import load_config, train

    cfg = load_config(args.config, args.override)
    train(cfg, resume=args.resume)
    return 0
