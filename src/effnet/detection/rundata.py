"""What a detector training run reads: its COCO folders, checked together.

Train, val and test are :class:`~.coco.CocoFolder` s whose labels follow one list of class names
(the training set's categories, or a resumed run's), matched by category name: a val set with
other names is refused, naming them, and a data set that numbers the same categories in another
order continues a run exactly. A run that could not take one step, or score itself, is refused
before it starts rather than saved as a success.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..weights.fetch import home
from .coco import CocoFolder
from .config import DetectionConfig
from .shapes import ShapesSpec, ensure_shapes


@dataclass
class RunData:
    """A detection run's splits, as the training loop reads them (``train``, ``val``, ``test``,
    ``class_names``, ``num_classes``)."""

    train: CocoFolder  # with the config's flips
    val: CocoFolder
    test: CocoFolder | None
    class_names: list[str]
    plain_train: CocoFolder  # the training images without flips
    calibration: list[torch.Tensor] | None  # see :func:`calibration_batches`

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


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
    cfg: DetectionConfig,
    image_size: int,
    class_names: list[str] | None = None,
    say: Callable[..., None] = print,
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
            say(data.note())
    plain = CocoFolder(folders["train"], image_size, class_names=names)  # no flips
    test = test if test is not None and len(test) else None
    return RunData(train, val, test, names, plain, calibration_batches(plain, cfg))


def calibration_batches(data: CocoFolder, cfg: DetectionConfig) -> list[torch.Tensor] | None:
    """The first ``bn_calibration_images`` training images (no flips), in batches; None if off."""
    count = min(cfg.bn_calibration_images, len(data))
    if count < 2:
        return None
    images = torch.stack([data[i][0] for i in range(count)])
    return list(images.split(cfg.batch_size))
