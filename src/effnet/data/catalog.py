"""What is known about a data set before any image is read: where it lives, its class count.

Torch-free on purpose: planning a scaling search (``effnet search-scaling --dry-run``) counts every
candidate's multiply-adds, classifier included, without loading a data set or torch.

effnet keeps what it downloads or writes once under one folder, :func:`home` (``$EFFNET_HOME``,
by default ``~/.cache/effnet``): weights in ``weights/``, data sets in ``datasets/``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .folders import class_folders, training_root

#: The variable that moves effnet's cache (weights and data sets) elsewhere.
ENV_HOME = "EFFNET_HOME"


def home() -> Path:
    """effnet's cache root: ``$EFFNET_HOME`` or ``~/.cache/effnet``."""
    return Path(os.environ.get(ENV_HOME) or Path.home() / ".cache" / "effnet").expanduser()


def datasets_dir() -> Path:
    """Where a data set named without a ``data_dir`` is downloaded or written."""
    return home() / "datasets"


#: Class counts of the data sets effnet knows by name, so costs can be planned before any data
#: is loaded (the classifier is part of every network's multiply-adds).
KNOWN_CLASSES = {
    "digits": 10,
    "cifar10": 10,
    "cifar100": 100,
    "flowers102": 102,
    "stanford_cars": 196,
    "fgvc_aircraft": 100,
    "oxford_iiit_pet": 37,
    "food101": 101,
}


def dataset_classes(name: str, data_dir: str | None = None) -> int:
    """The class count data set ``name`` will give (an image folder: its class folders), known
    before any image is read; 1000 (ImageNet's) when it cannot be told."""
    if name in KNOWN_CLASSES:
        return KNOWN_CLASSES[name]
    if name == "imagefolder" and data_dir:
        root = training_root(data_dir)
        if root.is_dir():
            classes = class_folders(root)  # the reader's own rule, so the count is the same
            if classes:
                return len(classes)
    return 1000
