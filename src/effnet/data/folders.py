"""Image folders (``ROOT/<class>/<image>``): the one reader of training and ``effnet eval``.

Training (``build_datasets("imagefolder", ...)``) and evaluation read the same files, with the
same extension list (:data:`effnet.data.images.IMAGE_EXTENSIONS`) and the same decoder, so a
folder scores the images it trained on. A layout mistake is reported as one line that says what
the layout should be. An unreadable image is not the reader's business: it raises the decoder's
error, which :class:`effnet.data.loading.TransformedSubset` turns into a skipped sample, so every
command follows one policy (warn once per file, count it, go on).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .images import IMAGE_EXTENSIONS, decode_image, images_under

#: Sub-folders of a data folder that hold the evaluation split, in order of preference.
TEST_SPLITS = ("val", "test")


def class_folders(root: str | os.PathLike) -> list[str]:
    """Names of the sub-folders of ``root``, sorted: its classes (torchvision's rule)."""
    return sorted(entry.name for entry in os.scandir(root) if entry.is_dir())


def training_root(data_dir: str | os.PathLike) -> Path:
    """``data_dir/train`` when there is one (the ImageNet layout), else ``data_dir`` itself."""
    root = Path(data_dir)
    return root / "train" if (root / "train").is_dir() else root


def _looked_for() -> str:
    return f"looked for {', '.join(IMAGE_EXTENSIONS)}"


def _checked_root(root: str | os.PathLike) -> Path:
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"data folder {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(
            f"{root} is not a folder; expected an ImageFolder tree ROOT/<class>/<image>"
        )
    return root


class ImageFolder:
    """A ``root/<class>/<image>`` tree as (PIL image, class index) samples, with checked errors.

    Without ``class_to_idx`` the sorted class folders are the classes (training), and each must
    hold images: a class without examples cannot be learned. With it (a checkpoint's class names)
    folders are labelled by name, not by sorted position, so a test folder holding some of the
    model's classes still scores correctly; a folder that is not a class of the model is an error.
    ``samples`` (path, index) are listed in torchvision's ImageFolder order.
    """

    def __init__(self, root: str | os.PathLike, class_to_idx: dict[str, int] | None = None) -> None:
        self.root = _checked_root(root)
        folders = class_folders(self.root)
        if not folders:
            loose = images_under(self.root)
            hint = f" ({len(loose)} images lie loose in it)" if loose else ""
            raise ValueError(
                f"no class folders in {self.root}{hint}; expected ROOT/<class name>/<image files>"
            )
        self.classes = folders
        every_class_needs_images = class_to_idx is None
        self.class_to_idx = class_to_idx or {name: i for i, name in enumerate(folders)}
        self._check_known(folders)
        # The root is never re-entered: a link inside one class cannot reach another class.
        per_class = {name: images_under(self.root / name, [self.root]) for name in folders}
        self.samples = [
            (str(path), self.class_to_idx[name])
            for name, paths in per_class.items()
            for path in paths
        ]
        if not self.samples:
            raise ValueError(f"no images in the class folders of {self.root} ({_looked_for()})")
        empty = [name for name, paths in per_class.items() if not paths]
        if every_class_needs_images and empty:
            raise ValueError(
                f"class folder(s) {', '.join(empty[:5])} in {self.root} hold no images "
                f"({_looked_for()}); every class needs examples"
            )
        self.targets = [target for _, target in self.samples]

    def _check_known(self, folders: list[str]) -> None:
        unknown = [name for name in folders if name not in self.class_to_idx]
        if unknown:
            known = list(self.class_to_idx)
            shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
            raise ValueError(
                f"class folder(s) {', '.join(unknown[:5])} in {self.root} are not classes of the "
                f"model (it knows {len(known)}: {shown})"
            )

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        """(decoded PIL image, class index); an unreadable file raises the decoder's error."""
        path, target = self.samples[index]
        return decode_image(path), target

    def describe(self, index: int) -> str:
        """The file behind sample ``index``, for skip warnings."""
        return self.samples[index][0]


def image_folder_splits(data_dir: str | None) -> tuple[ImageFolder, ImageFolder | None]:
    """The training folder and the test folder (``val/`` or ``test/``, if any) of ``data_dir``.

    Both splits must have the same class folders: one index per class name across them.
    """
    if not data_dir:
        raise ValueError("dataset 'imagefolder' needs data_dir (a folder of class sub-folders)")
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"data_dir {root} does not exist or is not a folder")
    train_root = training_root(root)
    test_root = next((root / n for n in TEST_SPLITS if (root / n).is_dir()), None)
    train = ImageFolder(train_root)
    test = ImageFolder(test_root) if test_root is not None else None
    if test is not None and test.classes != train.classes:
        raise ValueError(
            f"{test_root} has classes {test.classes[:5]}... but {train_root} has "
            f"{train.classes[:5]}...; both splits need the same class folders"
        )
    return train, test
