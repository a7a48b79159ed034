"""Data sets by name: the embedded digits, an image folder, or a torchvision data set.

Every source is turned into the same three splits: ``train`` (augmented), ``val`` (the minival
held out of the training images for early stopping, paper section 7) and ``test`` (the data set's
own evaluation split, scored once with the early-stopped checkpoint).

- ``"digits"``: scikit-learn's digits, fixed 1257/180/360 split (see :mod:`effnet.data.digits`).
- ``"imagefolder"``: ``data_dir/train/<class>/*`` with ``data_dir/val`` (or ``test``) as the test
  split, the ImageNet layout; a ``data_dir`` without ``train/`` is itself the training folder.
  Read by :class:`effnet.data.folders.ImageFolder`, the reader ``effnet eval`` uses too.
- torchvision sets (downloaded into ``data_dir``, by default ``$EFFNET_HOME/datasets``, on first
  use, for users with network access): the paper's transfer data sets, see
  :data:`TORCHVISION_SETS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .catalog import datasets_dir
from .digits import DigitsImages
from .folders import image_folder_splits
from .loading import TransformedSubset
from .preprocess import Preprocess, eval_transform
from .transforms import train_transform

#: Seed of the minival hold-out and of ``limit_train_images`` subsets: fixed across runs, so
#: changing the training seed never changes which images are held out.
HOLDOUT_SEED = 0

#: name -> (torchvision class, constructor keywords of the training and test splits).
TORCHVISION_SETS: dict[str, tuple[str, list[dict[str, Any]], dict[str, Any]]] = {
    "cifar10": ("CIFAR10", [{"train": True}], {"train": False}),
    "cifar100": ("CIFAR100", [{"train": True}], {"train": False}),
    "flowers102": ("Flowers102", [{"split": "train"}, {"split": "val"}], {"split": "test"}),
    "stanford_cars": ("StanfordCars", [{"split": "train"}], {"split": "test"}),
    "fgvc_aircraft": ("FGVCAircraft", [{"split": "trainval"}], {"split": "test"}),
    "oxford_iiit_pet": ("OxfordIIITPet", [{"split": "trainval"}], {"split": "test"}),
    "food101": ("Food101", [{"split": "train"}], {"split": "test"}),
}
DATASETS = ("digits", "imagefolder", *TORCHVISION_SETS)


@dataclass
class DataSplits:
    """Transformed splits plus what a checkpoint must remember about them."""

    train: TransformedSubset
    val: TransformedSubset | None
    test: TransformedSubset | None
    class_names: list[str]
    preprocess: Preprocess

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def build_datasets(
    name: str,
    data_dir: str | None,
    image_size: int,
    *,
    minival_size: int = 0,
    limit_train_images: int | None = None,
    crop_scale_min: float = 0.08,
    hflip: bool = True,
    autoaugment: str | None = "imagenet",
    eval_crop_pct: float = 0.875,
    interpolation: str = "bicubic",
    normalization: tuple[Sequence[float], Sequence[float]] | None = None,
) -> DataSplits:
    """The three splits of data set ``name`` at ``image_size`` (see the module docstring).

    ``normalization`` is the (mean, std) the starting weights expect (TensorFlow's Lite and
    AdvProp weights take [-1, 1] inputs); None is ImageNet's, the paper's.
    """
    if normalization is None:
        preprocess = Preprocess(image_size, eval_crop_pct, interpolation)
    else:
        mean, std = (tuple(float(v) for v in values) for values in normalization)
        preprocess = Preprocess(image_size, eval_crop_pct, interpolation, mean, std)
    augment = train_transform(
        image_size,
        crop_scale_min,
        hflip,
        autoaugment,
        interpolation,
        preprocess.mean,
        preprocess.std,
    )
    evaluate = eval_transform(preprocess)

    if name == "digits":
        train_base, val_base, test_base = (DigitsImages(s) for s in ("train", "val", "test"))
        classes = train_base.classes
        train = TransformedSubset(
            train_base, _limit(range(len(train_base)), limit_train_images), augment, classes
        )
        val = TransformedSubset(val_base, range(len(val_base)), evaluate, classes)
        test = TransformedSubset(test_base, range(len(test_base)), evaluate, classes)
        return DataSplits(train, val, test, classes, preprocess)

    if name == "imagefolder":
        train_base, test_base = image_folder_splits(data_dir)
        classes = list(train_base.classes)
    elif name in TORCHVISION_SETS:
        train_base, test_base, classes = _torchvision_set(name, data_dir)
    else:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")

    order = np.random.default_rng(HOLDOUT_SEED).permutation(len(train_base))
    if minival_size >= len(order):
        raise ValueError(
            f"minival_size={minival_size} leaves no training images out of {len(order)}; "
            "lower it (minival_size=0 disables early stopping)"
        )
    val_idx, train_idx = np.sort(order[:minival_size]), order[minival_size:]
    train_idx = np.sort(_limit(train_idx, limit_train_images))
    train = TransformedSubset(train_base, train_idx, augment, classes)
    val = TransformedSubset(train_base, val_idx, evaluate, classes) if minival_size else None
    test = (
        TransformedSubset(test_base, range(len(test_base)), evaluate, classes)
        if test_base is not None
        else None
    )
    return DataSplits(train, val, test, classes, preprocess)


def _limit(indices: Any, limit: int | None) -> list[int]:
    indices = [int(i) for i in indices]
    return indices if limit is None else indices[:limit]


def _torchvision_set(name: str, data_dir: str | None) -> tuple[Any, Any, list[str]]:
    import torchvision.datasets as tvd
    from torch.utils.data import ConcatDataset

    class_name, train_kwargs, test_kwargs = TORCHVISION_SETS[name]
    cls = getattr(tvd, class_name)
    root = data_dir or str(datasets_dir())
    try:
        parts = [cls(root, download=True, **kw) for kw in train_kwargs]
        test = cls(root, download=True, **test_kwargs)
    except (OSError, RuntimeError) as err:
        raise FileNotFoundError(
            f"could not find or download {name} under {root} ({err}); download it with network "
            f"access first, or place torchvision's {class_name} files there"
        ) from None
    classes = list(getattr(parts[0], "classes", []) or [])
    train = parts[0] if len(parts) == 1 else ConcatDataset(parts)
    if not classes:
        labels = getattr(parts[0], "_labels", None) or []
        classes = [str(i) for i in range(int(max(labels)) + 1)] if labels else []
    return train, test, classes
