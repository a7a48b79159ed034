"""``effnet train``: run a training config (the paper's recipe, a fine-tune, the digits demo)."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from ..train.rundir import with_derived_output_dir
from . import add_override_argument, example_help

if TYPE_CHECKING:
    from ..train import TrainConfig

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
            "effnet train --config configs/b0_digits.py "
            "--override schedule.epochs=5 data.image_size=32\n"
            "effnet train --config configs/b0_digits.py --resume\n"
            "torchrun --nproc_per_node=2 -m effnet.cli train --config configs/b0_imagenet.py "
            "--override data.dir=/data/imagenet"
        ),
    )
    p.add_argument("--config", required=True, help="a config file, or a name in ./configs")
    add_override_argument(
        p, "change config settings, e.g. schedule.epochs=3 regularization.dropout=none (repeatable)"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run saved in output_dir/last.pt"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh in an output_dir that holds a run, deleting that run's files",
    )
    p.set_defaults(func=run)


def _folder_note(cfg: TrainConfig, config_dir: str) -> None:
    """Say where a run whose overrides changed its recipe writes, before it starts."""
    if cfg.output_dir != config_dir:
        print(
            f"note: --override changes the recipe, so this run writes to {cfg.output_dir}, not "
            f"the config's {config_dir} (set output_dir= to choose; --resume with the same "
            "overrides continues it)"
        )


def _notes(cfg: TrainConfig, config_dir: str) -> None:
    """What the command changed or what the config overrides, said before the run starts."""
    _folder_note(cfg, config_dir)
    if cfg.model.endswith(".json") and cfg.image_size is not None:
        from ..registry import get_spec

        spec = get_spec(cfg.model)
        if spec.resolution != cfg.image_size:
            print(
                f"note: {cfg.model} was scaled for {spec.resolution}px; this config trains it "
                f"at {cfg.image_size}px (--override data.image_size={spec.resolution} for its own)"
            )


def run(args: argparse.Namespace) -> int:
    """Train the config's run: a classifier or a detector, through the one training loop (the
    config names its task)."""
    from ..train import train
    from ..train.config import load_config_module

    cfg = load_config_module(args.config).train_config(args.override)
    config_dir = cfg.output_dir
    cfg = with_derived_output_dir(cfg, args.override)
    _notes(cfg, config_dir)
    train(cfg, resume=args.resume, overwrite=args.overwrite)
    return 0
