"""Finding and opening image files, with errors a user can act on.

One extension list and one walk order serve every command: ``predict`` and ``cam`` expand the
files, folders and globs a user types through :func:`collect_images`, and the one image-folder
reader (:class:`effnet.data.folders.ImageFolder`, used by training and ``effnet eval``) lists its
class folders with :func:`images_under`. So a file is an image to every command or to none.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Extensions picked up when a folder or glob is expanded (files named explicitly are always
#: tried): torchvision's ImageFolder list plus GIF, so training and eval read the same files.
IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".gif",
    ".webp",
    ".tif",
    ".tiff",
    ".ppm",
    ".pgm",
)

#: What PIL and the OS raise for a file that is not a readable image (truncated JPEG, a text file
#: named .png, a permission error): the one list behind every skip-or-stop decision.
UNREADABLE = (OSError, ValueError, SyntaxError, IndexError, EOFError)

_GLOB_CHARS = set("*?[")


def is_image_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` has one of :data:`IMAGE_EXTENSIONS` (any letter case)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def images_under(folder: str | os.PathLike) -> list[Path]:
    """Image files below ``folder``, in torchvision's ImageFolder order.

    Sorted folder by folder (a folder's own files before its sub-folders'), following links: the
    order a training run's minival hold-out is drawn from, kept from before effnet read folders
    itself so that the same data set holds out the same images.
    """
    found = []
    for root, _dirs, names in sorted(os.walk(folder, followlinks=True)):
        found.extend(Path(root) / name for name in sorted(names) if is_image_file(name))
    return found


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
            images = images_under(path)
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


def decode_image(path: str | os.PathLike) -> Any:
    """The fully decoded PIL image, or an error that is one of :data:`UNREADABLE`.

    Decoding here, not lazily, makes a truncated file fail while its name is known. A decompression
    bomb (an image of more than PIL's ``MAX_IMAGE_PIXELS`` limit, twice over) is a ``ValueError``
    like any other unreadable file. The 8-bit modes are left as stored except palette images,
    which become RGBA so their transparency survives (:func:`effnet.data.preprocess.to_rgb`
    converts every mode the same way for every command); :func:`to_8bit` brings 16-bit, 32-bit
    and floating-point images to 8 bits by their range instead of clipping them.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in _PREMULTIPLIED:
                return image.convert(_PREMULTIPLIED[image.mode])
            if image.mode in ("P", "PA"):
                return image.convert("RGBA")
            return to_8bit(image) if image.mode in _WIDE_MODES else image.copy()
    except Image.DecompressionBombError as err:
        raise ValueError(f"image too large to decode safely ({err})") from None


#: 16-bit, 32-bit integer and float grey modes: PIL's convert("RGB") clips them, which turns a
#: 16-bit PNG white and a [0, 1] float TIFF black.
_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_PREMULTIPLIED = {"La": "LA", "RGBa": "RGBA"}


def to_8bit(image: Any) -> Any:
    """An 8-bit greyscale (``L``) copy of a 16-bit, 32-bit integer or float image, by its range.

    16-bit values are divided by 257 (65535 -> 255). A 32-bit integer image is read as 8-bit when
    its values fit, else as 16-bit when they fit. A float image is read as [0, 1] when its values
    fit, else as [0, 255]. Anything else (NaN, negative values, a range none of these holds) is
    refused with its range, rather than guessed.
    """
    import numpy as np
    from PIL import Image

    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16"):
        scale = 257.0
    else:
        if not np.isfinite(values).all():
            raise ValueError("floating-point image holds NaN or infinite values")
        low, high = float(values.min()), float(values.max())
        if low < 0 or high > (255 if image.mode == "F" else 65535):
            kind = "floating-point" if image.mode == "F" else "32-bit integer"
            raise ValueError(
                f"{kind} image with values in [{low:g}, {high:g}]: no known range to scale to 8 "
                "bits (expected [0, 1] or [0, 255] for floats, up to 65535 for integers)"
            )
        if image.mode == "F":
            scale = 1 / 255 if high <= 1 else 1.0
        else:
            scale = 1.0 if high <= 255 else 257.0
    pixels = np.clip(np.rint(values / scale), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def open_image(path: str | os.PathLike) -> Any:
    """:func:`decode_image` for a file a user named: any failure is one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    try:
        return decode_image(path)
    except UNREADABLE as err:
        raise ValueError(f"{path} is not a readable image ({err})") from None
