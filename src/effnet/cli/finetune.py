"""``effnet finetune``: train a checkpoint on new data (the paper's Table 5) with the train engine.

Fine-tuning is just another training config: :func:`effnet.train.finetune.prepare` (which
``effnet.finetune`` uses too) resolves the starting weights and derives the resolution, minival,
loader processes and output folder from them and the data; this command hands the config to
:func:`effnet.train.train`. The engine re-initialises the classifier when the class count
differs, freezes the backbone for ``freeze_backbone_epochs`` and scales its learning rate by
``backbone_lr_scale``; the checkpoint it writes carries the class names and preprocessing, so
``effnet eval``/``predict`` need no flags.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..train.finetune import FINETUNE_DEFAULTS
from . import add_override_argument, example_help
from ._weights import describe

__all__ = ["FINETUNE_DEFAULTS", "register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune",
        help="fine-tune a checkpoint on an image folder or a Table 5 data set",
        description="Start from --weights, size a new classifier to the data, train with the "
        "training engine and write a self-describing checkpoint (OUTPUT_DIR/best.safetensors). "
        "DATA is an ImageFolder tree: DATA/train/<class>/<image> with DATA/val or DATA/test as the "
        "test split, or DATA/<class>/<image>; with a config for a torchvision data set it is the "
        "download folder.",
        **example_help(
            "effnet finetune data/pets --weights b0.safetensors --epochs 5 --output-dir runs/pets\n"
            "effnet finetune ~/data/cifar10 --weights b0.safetensors "
            "--config configs/finetune_cifar10.py\n"
            "effnet eval --weights runs/pets/best.safetensors data/pets/test"
        ),
    )
    p.add_argument("data", nargs="?", help="image folder (or data set folder with --config)")
    p.add_argument(
        "--weights",
        required=True,
        help="starting point: an effnet checkpoint, or a pretrained weight name with --model",
    )
    p.add_argument("--model", help="model name; optional with an effnet checkpoint")
    p.add_argument("--config", help="a fine-tuning config, e.g. configs/finetune_flowers.py")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer updates")
    p.add_argument(
        "--batch-size",
        type=int,
        help="images per step; default: the recipe's 64, lowered for a small data set so that an "
        "epoch has several steps (the learning rate follows)",
    )
    p.add_argument("--lr-per-256", type=float, help="learning rate per 256 images")
    p.add_argument("--image-size", type=int, help="default: the resolution of the weights")
    p.add_argument("--freeze-backbone-epochs", type=int, help="epochs training only the head")
    p.add_argument("--backbone-lr-scale", type=float, help="backbone lr relative to the head's")
    p.add_argument("--minival-size", type=int, help="training images held out for early stopping")
    p.add_argument("--output-dir", help="default: runs/finetune_<data folder name>")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    add_override_argument(p, "any other config field, e.g. hflip=false num_workers=0")
    p.add_argument("--resume", action="store_true", help="continue OUTPUT_DIR/last.pt")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh in an OUTPUT_DIR that holds a run, deleting that run's files",
    )
    p.set_defaults(func=run)


def _flag_changes(args: argparse.Namespace) -> dict[str, Any]:
    flags = {
        "max_steps": args.max_steps,
        "batch_size": args.batch_size,
        "lr_per_256": args.lr_per_256,
        "image_size": args.image_size,
        "freeze_backbone_epochs": args.freeze_backbone_epochs,
        "backbone_lr_scale": args.backbone_lr_scale,
        "minival_size": args.minival_size,
        "output_dir": args.output_dir,
        "device": args.device,
    }
    return {key: value for key, value in flags.items() if value is not None}


def run(args: argparse.Namespace) -> int:
    from ..train import train
    from ..train.finetune import prepare

    cfg, start = prepare(
        args.data,
        args.weights,
        model=args.model,
        epochs=args.epochs,
        config=args.config,
        overrides=args.override,
        **_flag_changes(args),
    )
    print(
        f"fine-tuning {describe(start)} on {cfg.data_dir} at {cfg.image_size}px "
        f"({cfg.minival_size} images held out for early stopping)"
    )
    result = train(cfg, resume=args.resume, overwrite=args.overwrite)
    best = Path(result.best_checkpoint)
    print(f"fine-tuned checkpoint: {best} (class names and preprocessing included)")
    if result.test_acc is not None:
        print(f"test top-1 of the early-stopped weights: {result.test_acc:.2%}")
    print(
        f"next: effnet eval --weights {best} DATA/test   |   effnet predict --weights {best} IMAGE"
    )
    return 0
