"""Class counts known before any image is read: by name, or from an image folder's layout."""

import subprocess
import sys

import numpy as np
from PIL import Image

from effnet.data.catalog import KNOWN_CLASSES, dataset_classes
from effnet.data.folders import ImageFolder


def make_classes(root, names):
    for name in names:
        (root / name).mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(root / name / "x.png")


def test_named_data_sets_and_the_imagenet_fallback():
    assert dataset_classes("digits") == 10 and dataset_classes("cifar100") == 100
    assert dataset_classes("flowers102") == 102 and KNOWN_CLASSES["oxford_iiit_pet"] == 37
    assert dataset_classes("something_else") == 1000
    assert dataset_classes("imagefolder") == 1000  # no folder given: cannot be told


def test_an_image_folder_counts_what_the_reader_will_find(tmp_path):
    make_classes(tmp_path / "split" / "train", ["a", "b", "c"])
    make_classes(tmp_path / "split" / "val", ["a", "b", "c"])
    assert dataset_classes("imagefolder", str(tmp_path / "split")) == 3  # train/ is used
    make_classes(tmp_path / "flat", ["x", "y"])
    (tmp_path / "flat" / "loose.png").write_bytes(b"")  # a file is not a class
    assert dataset_classes("imagefolder", str(tmp_path / "flat")) == 2
    assert dataset_classes("imagefolder", str(tmp_path / "flat")) == len(
        ImageFolder(tmp_path / "flat").classes
    )
    assert dataset_classes("imagefolder", str(tmp_path / "missing")) == 1000
    (tmp_path / "bare").mkdir()
    assert dataset_classes("imagefolder", str(tmp_path / "bare")) == 1000


def test_counting_classes_does_not_load_torch(tmp_path):
    """Planning a scaling search stays light: catalog (and what it imports) has no torch."""
    make_classes(tmp_path, ["a", "b"])
    code = (
        "import sys; from effnet.data.catalog import dataset_classes; "
        f"n = dataset_classes('imagefolder', {str(tmp_path)!r}); "
        "print(n, 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["2", "False"], result.stderr
