"""Data sets, image folders and transforms (torchvision), and the embedded digits default.

``preprocess`` (evaluation preprocessing as data) has no torch import; the data sets and training
transforms are loaded on first use so that reading a checkpoint's metadata stays light.
"""

from ..lazy import lazy_exports
from .preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocess,
    default_preprocess,
    eval_transform,
    to_rgb,
)

_LAZY = {
    "DATASETS": "datasets",
    "DataSplits": "datasets",
    "build_datasets": "datasets",
    "DigitsImages": "digits",
    "ImageFolder": "folders",
    "SkipWarner": "loading",
    "Skipped": "loading",
    "train_transform": "transforms",
}

__all__ = [
    "DATASETS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DataSplits",
    "DigitsImages",
    "ImageFolder",
    "Preprocess",
    "SkipWarner",
    "Skipped",
    "build_datasets",
    "default_preprocess",
    "eval_transform",
    "to_rgb",
    "train_transform",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
