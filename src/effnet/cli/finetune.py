"""``effnet finetune``: train a checkpoint on new data (the paper's Table 5) with the train engine.

Fine-tuning is just another training config: this command resolves the starting weights, fills in
the data and the few fine-tuning fields, and hands the config to :func:`effnet.train.train`. The
engine re-initialises the classifier when the class count differs, freezes the backbone for
``freeze_backbone_epochs`` and scales its learning rate by ``backbone_lr_scale``; the checkpoint it
writes carries the class names and preprocessing, so ``effnet eval``/``predict`` need no flags.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import add_override_argument, example_help
from ._weights import describe

if TYPE_CHECKING:
    from ..models.efficientnet import EfficientNet
    from ..train.config import TrainConfig

#: What ``effnet finetune`` without ``--config`` passes to ``finetune_config`` (the function
#: configs/finetune_*.py call too, in effnet.train.config). The minival (10% of the training
#: images, at most 25,000) and the output folder (runs/finetune_<DATA folder>) are set once the
#: folder is known.
FINETUNE_DEFAULTS: dict[str, Any] = dict(
    dataset="imagefolder",
    image_size=None,  # the resolution the starting weights were trained at
    autoaugment=None,  # a short schedule gains little from it and runs slower
    zero_init_head=True,  # the new head starts neutral and does not disturb the backbone
    num_workers=min(8, os.cpu_count() or 1),
)


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
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr-per-256", type=float, help="learning rate per 256 images")
    p.add_argument("--image-size", type=int, help="default: the resolution of the weights")
    p.add_argument("--freeze-backbone-epochs", type=int, help="epochs training only the head")
    p.add_argument("--backbone-lr-scale", type=float, help="backbone lr relative to the head's")
    p.add_argument("--minival-size", type=int, help="training images held out for early stopping")
    p.add_argument("--output-dir", help="default: runs/finetune_<data folder name>")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    add_override_argument(p, "any other config field, e.g. hflip=false num_workers=0")
    p.add_argument("--resume", action="store_true", help="continue OUTPUT_DIR/last.pt")
    p.set_defaults(func=run)


def _flag_changes(args: argparse.Namespace) -> dict[str, Any]:
    flags = {
        "epochs": args.epochs,
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


def _init_checkpoint(args: argparse.Namespace, output_dir: Path) -> tuple[Path, EfficientNet]:
    """An effnet checkpoint path for the engine, and the loaded weights (to check and describe).

    A pretrained weight name is written out once as an effnet checkpoint in the run folder, since
    the engine starts from files.
    """
    from ..weights.checkpoint import read_metadata, save_model
    from ..weights.factory import load

    model = load(args.weights, args.model, device="cpu")
    path = Path(args.weights)
    if path.is_file():
        try:
            read_metadata(path)
            return path, model
        except ValueError:
            pass
    init = output_dir / "init.safetensors"
    save_model(init, model)
    return init, model


def _default_minival(cfg: TrainConfig) -> int:
    """10% of the training images (at most the paper's 25,000) for an ImageFolder."""
    from ..data.images import IMAGE_EXTENSIONS

    root = Path(cfg.data_dir)
    train_root = root / "train" if (root / "train").is_dir() else root
    count = sum(1 for p in train_root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    return min(count // 10, 25_000)


def run(args: argparse.Namespace) -> int:
    from ..train import apply_overrides, load_config, train
    from ..train.config import finetune_config

    if args.config:
        cfg = load_config(args.config, args.override)
    else:
        cfg = apply_overrides(finetune_config(**FINETUNE_DEFAULTS), args.override)
    if args.data is not None:
        data = Path(args.data).expanduser()
        if cfg.dataset == "imagefolder" and not data.is_dir():
            raise FileNotFoundError(f"data folder {data} does not exist")
        cfg = cfg.replace(data_dir=str(data))
    if not cfg.data_dir:
        raise ValueError("give DATA (an image folder) or a --config that sets data_dir")
    changes = _flag_changes(args)
    auto_minival = not args.config and "minival_size" not in changes
    auto_minival = auto_minival and not any(o.startswith("minival_size") for o in args.override)
    if "output_dir" not in changes and not args.config:
        changes["output_dir"] = f"runs/finetune_{Path(cfg.data_dir).resolve().name}"
    cfg = cfg.replace(**changes)

    init, model = _init_checkpoint(args, Path(cfg.output_dir))
    if cfg.image_size is None:
        # The resolution the weights were trained at, not the architecture's nominal one.
        cfg = cfg.replace(image_size=model.preprocess.resolution)
    if auto_minival:
        cfg = cfg.replace(minival_size=_default_minival(cfg) if cfg.dataset == "imagefolder" else 0)
    cfg = cfg.replace(init_checkpoint=str(init))
    print(f"fine-tuning {describe(model)} on {cfg.data_dir}")
    result = train(cfg, resume=args.resume)
    best = Path(result.best_checkpoint)
    print(f"fine-tuned checkpoint: {best} (class names and preprocessing included)")
    if result.test_acc is not None:
        print(f"test top-1 of the early-stopped weights: {result.test_acc:.2%}")
    print(
        f"next: effnet eval --weights {best} DATA/test   |   effnet predict --weights {best} IMAGE"
    )
    return 0
