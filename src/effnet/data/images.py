"""Finding and opening the images a user points a command at, with errors a user can act on.

``predict`` and ``cam`` take files, folders and globs; ``eval`` takes an ImageFolder tree. Both
go through here so that a typo, an empty folder or a truncated JPEG is reported as one line that
names the file, never as a PIL traceback from deep inside a data loader.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: Extensions picked up when a folder or glob is expanded (files named explicitly are always tried).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")

_GLOB_CHARS = set("*?[")


def is_image_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p))


def collect_images(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Expand files, folders (searched recursively) and glob patterns into a list of image files.

    Order is kept (folders and globs sorted within themselves) and duplicates are dropped, so the
    output lines up with what the user typed.
    """
    if not inputs:
        raise ValueError(
            "no images given; pass image files, a folder or a glob such as 'pics/*.jpg'"
        )
    found: list[Path] = []
    for item in inputs:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            images = _images_under(path)
            if not images:
                raise ValueError(
                    f"no images in folder {path} (looked for {', '.join(IMAGE_EXTENSIONS)})"
                )
            found.extend(images)
        elif path.is_file():
            found.append(path)
        elif _GLOB_CHARS & set(text):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            images = [m for m in matches if m.is_file() and is_image_file(m)]
            if not images:
                raise FileNotFoundError(f"no image files match {text!r}")
            found.extend(images)
        else:
            raise FileNotFoundError(f"image {path} does not exist")
    return list(dict.fromkeys(found))


def open_image(path: str | os.PathLike):
    """Decode an image fully (so a truncated file fails here, not later) and return the PIL image.

    The mode is left as stored: :func:`effnet.data.preprocess.eval_transform` converts grayscale,
    palette and RGBA images the same way for every command.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy() if image.mode != "P" else image.convert("RGBA")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"{path} is not a readable image ({err})") from None


def to_rgb(image):
    """An RGB copy for display: alpha is composited on white, as the model's transform does."""
    from PIL import Image

    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


class ImageFolder:
    """A ``root/<class>/<image>`` tree as (image, class index) samples, with checked errors.

    Like torchvision's ``ImageFolder`` but with messages that say what the layout should be, and a
    ``__getitem__`` that survives data-loader workers: an unreadable file yields ``ok=False`` so the
    main process can name it (an exception raised in a worker arrives wrapped in a traceback).
    ``class_to_idx`` may be given to label samples with a checkpoint's class indices.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        transform: Callable[[Any], Any] | None = None,
        class_to_idx: dict[str, int] | None = None,
    ) -> None:
        self.root = Path(root)
        if not self.root.exists():
            raise FileNotFoundError(f"data folder {self.root} does not exist")
        if not self.root.is_dir():
            raise NotADirectoryError(
                f"{self.root} is not a folder; expected an ImageFolder tree ROOT/<class>/<image>"
            )
        folders = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        if not folders:
            loose = _images_under(self.root)
            hint = f" ({len(loose)} images lie loose in it)" if loose else ""
            raise ValueError(
                f"no class folders in {self.root}{hint}; expected ROOT/<class name>/<image files>"
            )
        self.classes = folders
        self.class_to_idx = class_to_idx or {name: i for i, name in enumerate(folders)}
        unknown = [name for name in folders if name not in self.class_to_idx]
        if unknown:
            known = list(self.class_to_idx)
            shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
            raise ValueError(
                f"class folder(s) {', '.join(unknown[:5])} in {self.root} are not classes of the "
                f"model (it knows {len(known)}: {shown})"
            )
        self.samples = [
            (path, self.class_to_idx[name])
            for name in folders
            for path in _images_under(self.root / name)
        ]
        if not self.samples:
            raise ValueError(
                f"no images in the class folders of {self.root} "
                f"(looked for {', '.join(IMAGE_EXTENSIONS)})"
            )
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int, int, bool]:
        """(image, target, index, ok); a failed decode gives the transform of a blank image."""
        from PIL import Image

        path, target = self.samples[index]
        try:
            image, ok = open_image(path), True
        except ValueError:
            image, ok = Image.new("RGB", (8, 8)), False
        if self.transform is not None:
            image = self.transform(image)
        return image, target, index, ok
