"""What a detector training run reads: its COCO folders, checked together, and ``last.pt``.

Train, val and test are :class:`~.coco.CocoFolder` s whose labels follow one list of class names
(the training set's categories, or the resumed run's), matched by category name: a val set with
other names is refused, naming them. A run that could not take one step, or score itself, is
refused before it starts rather than saved as a success.

``last.pt`` is the classification engine's file (:func:`effnet.train.checkpoint.save_atomic`,
every RNG state, tensors only) with detection's parts: model, optimizer, schedule, EMA, progress,
and the class names in label order. A resume takes its labels from those names, so a data set
that numbers the same categories in another order continues the run exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from ..train.checkpoint import rng_state, save_atomic, set_rng_state
from ..weights.fetch import home
from .coco import CocoFolder, collate
from .config import RESUMABLE_CHANGES, DetectionConfig
from .shapes import ShapesSpec, ensure_shapes


@dataclass
class RunData:
    train: CocoFolder
    val: CocoFolder
    test: CocoFolder | None
    class_names: list[str]
    #: a batch of training images and targets (no flips) that every check of the weights scores
    probe: tuple[torch.Tensor, list[dict[str, Any]]]
    calibration: list[torch.Tensor] | None  # see :func:`calibration_batches`


def data_folders(cfg: DetectionConfig) -> dict[str, Path]:
    """train/val(/test) COCO folders: the shapes set (written on first use) or ``data_dir``'s."""
    if cfg.data_dir is not None:
        root = Path(cfg.data_dir).expanduser()
    else:  # the shapes set, written once beside the weights cache (~/.cache/effnet)
        root = home() / "datasets" / "shapes"
    if cfg.dataset == "shapes":
        shapes = ShapesSpec(
            image_size=cfg.shapes_image_size,
            train=cfg.shapes_train,
            val=cfg.shapes_val,
            test=cfg.shapes_test,
            max_shapes=cfg.shapes_max_shapes,
            min_size=cfg.shapes_min_size,
            max_size=cfg.shapes_max_size,
        )
        ensure_shapes(root, shapes)
    folders = {split: root / split for split in ("train", "val", "test")}
    for split in ("train", "val"):
        if not (folders[split] / "annotations.json").is_file():
            raise FileNotFoundError(f"{folders[split]} has no annotations.json (a COCO folder)")
    return {k: v for k, v in folders.items() if (v / "annotations.json").is_file()}


def load_run_data(
    cfg: DetectionConfig, image_size: int, class_names: list[str] | None = None
) -> RunData:
    """The run's folders, read and checked; labels follow ``class_names`` (None: the training
    set's categories in id order). Clipped boxes are reported, one line a folder."""
    folders = data_folders(cfg)
    train = CocoFolder(folders["train"], image_size, hflip=cfg.hflip, class_names=class_names)
    names = train.class_names
    val = CocoFolder(folders["val"], image_size, class_names=names)
    test = CocoFolder(folders["test"], image_size, class_names=names) if "test" in folders else None
    if len(train) < cfg.batch_size:
        raise ValueError(
            f"{folders['train']} has {len(train)} images, fewer than batch_size "
            f"{cfg.batch_size}: not one training step"
        )
    if len(val) == 0:
        raise ValueError(f"{folders['val']} has no images to score the run on")
    for data in (train, val, test):
        if data is not None and data.note():
            print(data.note())
    plain = CocoFolder(folders["train"], image_size, class_names=names)  # no flips
    probe = collate([plain[i] for i in range(min(cfg.batch_size, len(plain)))])
    test = test if test is not None and len(test) else None
    return RunData(train, val, test, names, probe, calibration_batches(plain, cfg))


def epoch_batches(data: CocoFolder, cfg: DetectionConfig, epoch: int, skip: int) -> DataLoader:
    """The epoch's batches in a seeded order (the same after a resume), ``skip`` already done."""
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(cfg.seed + epoch))
    usable = len(order) // cfg.batch_size * cfg.batch_size  # whole batches only: BN needs > 1
    indices = order[skip * cfg.batch_size : usable].tolist()
    return DataLoader(
        torch.utils.data.Subset(data, indices),
        batch_size=cfg.batch_size,
        shuffle=False,
        collate_fn=collate,
        num_workers=cfg.num_workers,
    )


def calibration_batches(data: CocoFolder, cfg: DetectionConfig) -> list[torch.Tensor] | None:
    """The first ``bn_calibration_images`` training images (no flips), in batches; None if off."""
    count = min(cfg.bn_calibration_images, len(data))
    if count < 2:
        return None
    images = torch.stack([data[i][0] for i in range(count)])
    return list(images.split(cfg.batch_size))


@dataclass
class DetProgress:
    epoch: int = 0  # completed epochs
    step: int = 0  # optimizer updates so far
    step_in_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def save_state(
    path: Path,
    cfg: DetectionConfig,
    run: dict[str, Any],
    progress: DetProgress,
    class_names: list[str],
) -> None:
    """Write ``last.pt`` atomically: a reader sees the previous state or this one, whole."""
    ema = run["ema"]
    save_atomic(
        {
            "config": cfg.to_dict(),
            "world_size": 1,
            "model": run["model"].state_dict(),
            "optimizer": run["optimizer"].state_dict(),
            "schedule": run["schedule"].state_dict(),
            "scaler": {},
            "ema": ema.state_dict() if ema is not None else None,
            "progress": asdict(progress),
            "rng": [rng_state()],
            "class_names": list(class_names),
        },
        path,
    )


def saved_class_names(saved: dict[str, Any]) -> list[str] | None:
    """The label order a saved run trained with (None: a state from before names were kept,
    whose labels followed the category ids)."""
    names = saved.get("class_names")
    return list(names) if names is not None else None


def restore(saved: dict[str, Any], cfg: DetectionConfig, run: dict[str, Any]) -> DetProgress:
    """Load a read ``last.pt`` into ``run`` and the RNGs, after checking the recipe is the same."""
    before = saved["config"]
    changed = [
        k for k, v in cfg.to_dict().items() if k not in RESUMABLE_CHANGES and before.get(k) != v
    ]
    if changed:
        diffs = ", ".join(f"{k}: {before.get(k)!r} -> {getattr(cfg, k)!r}" for k in changed[:4])
        raise ValueError(f"cannot resume with a different config ({diffs})")
    run["model"].load_state_dict(saved["model"])
    run["optimizer"].load_state_dict(saved["optimizer"])
    run["schedule"].load_state_dict(saved["schedule"])
    if run["ema"] is not None:
        run["ema"].load_state_dict(saved["ema"])
    set_rng_state(saved["rng"][0])
    return DetProgress(**saved["progress"])
