"""Finding and opening image files, with errors a user can act on.

One extension list and one walk order serve every command: ``predict`` and ``cam`` expand the
files, folders and globs a user types through :func:`collect_images`, and the one image-folder
reader (:class:`effnet.data.folders.ImageFolder`, used by training and ``effnet eval``) lists its
class folders with :func:`images_under`. So a file is an image to every command or to none.

The walk follows links (a class folder may live on another disk) and enters each real folder
once, so a link to a parent or to itself neither counts a folder twice nor loops. Only regular
files are read: a FIFO, socket or device named like an image is skipped with a warning, never
opened (opening a FIFO waits for a writer forever). Every image is decoded by
:func:`decode_image`, which turns it upright by its EXIF orientation, as people see it.
"""

from __future__ import annotations

import glob
import os
import stat
import struct
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

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


def images_under(
    folder: str | os.PathLike, exclude: Iterable[str | os.PathLike] = ()
) -> list[Path]:
    """Image files below ``folder``, in torchvision's ImageFolder order, each folder once.

    Sorted folder by folder (a folder's own files before its sub-folders'), following links: the
    order a training run's minival hold-out is drawn from, kept from before effnet read folders
    itself so that the same data set holds out the same images. A folder reached twice (a link to
    a parent, to itself, or to a folder already listed) is listed once, under the path without
    links when it has one; the folders in ``exclude`` are never entered (a data root, so that a
    link inside one class folder cannot reach the other classes).
    """
    found = []
    for root, names in sorted(_folders(os.fspath(folder), exclude)):
        found.extend(Path(root) / name for name in names)
    return found


def _folders(
    top: str, exclude: Iterable[str | os.PathLike] = (), warn: bool = True
) -> list[tuple[str, list[str]]]:
    """(folder, its image file names, sorted) for ``top`` and every folder below it.

    Real sub-folders are walked first and the folders behind links after them, skipping any real
    folder (device, inode) already listed: one listing per folder, and no walk can loop. ``warn``:
    name each file skipped for not being a regular file.
    """
    seen = {key for key in map(_identity, exclude) if key is not None}
    listed: list[tuple[str, list[str]]] = []
    links = [top]
    while links:
        stack = [links.pop(0)]
        while stack:
            root = stack.pop()
            key = _identity(root)
            if key is None or key in seen:
                continue
            seen.add(key)
            names, folders, linked = _scan(root, warn)
            listed.append((root, names))
            stack.extend(reversed(folders))
            links.extend(linked)
    return listed


def _identity(path: str | os.PathLike) -> tuple[int, int] | None:
    """The real folder behind ``path`` (device, inode); None if it cannot be read."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def _scan(root: str, warn: bool) -> tuple[list[str], list[str], list[str]]:
    """One folder: (image file names, real sub-folders, linked sub-folders), each sorted.

    A folder that cannot be listed has nothing in it, as for ``os.walk``. A name that points
    nowhere (a broken link) is kept, for the decoder to report as unreadable like any file.
    """
    names: list[str] = []
    folders: list[str] = []
    linked: list[str] = []
    try:
        with os.scandir(root) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError:
        return names, folders, linked
    for entry in entries:
        path = os.path.join(root, entry.name)
        if _is_folder(entry):
            (linked if entry.is_symlink() else folders).append(path)
        elif is_image_file(entry.name) and not _skipped_special(entry, path, warn):
            names.append(entry.name)
    return names, folders, linked


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _skipped_special(entry: os.DirEntry, path: str, warn: bool) -> bool:
    """Whether ``entry`` exists but is not a regular file (warned about, once, if ``warn``)."""
    if entry.is_file():  # the folder listing's file type: no system call for a plain file
        return False
    try:
        kind = special_kind(entry.stat().st_mode)
    except OSError:
        return False  # a broken link: the decoder says so when it is read
    if kind is not None and warn:
        warn_skipped(path, kind)
    return kind is not None


#: What a file that is not a regular one is, for the warning that names it.
_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISDIR, "a folder"),
)


def special_kind(mode: int) -> str | None:
    """What a file of ``mode`` is when it is not a regular file ("a FIFO", ...), else None."""
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


#: Files already warned about in this process: a data set is walked more than once per command
#: (counted, then read), and each file is named once.
_WARNED: set[str] = set()


def warn_skipped(path: str | os.PathLike, kind: str) -> None:
    """The one warning line for a file that is not read because it is ``kind``, once per file."""
    text = os.fspath(path)
    if text in _WARNED:
        return
    _WARNED.add(text)
    print(f"warning: skipping {text}: {kind}, not a regular file", file=sys.stderr, flush=True)


def _glob(pattern: str) -> list[str]:
    """``glob.glob(pattern, recursive=True)``, with ``**`` expanded over the one folder walk.

    Python's own ``**`` follows links without remembering where it has been: a link to a parent
    repeats every file below it, and two links to themselves never finish. A final ``**`` is
    ``**/*``: only files are wanted.
    """
    parts = pattern.split(os.sep)
    if "**" not in parts:
        return glob.glob(pattern)
    at = parts.index("**")
    head, rest = os.sep.join(parts[:at]), os.sep.join(parts[at + 1 :]) or "*"
    if at == 1 and parts[0] == "":
        head = os.sep  # "/**/...": the root folder
    bases = glob.glob(head) if glob.has_magic(head) else [head]
    found: list[str] = []
    for base in bases:
        if base and not os.path.isdir(base):
            continue
        for root, _names in _folders(base or os.curdir, warn=False):
            relative = os.path.relpath(root, base or os.curdir)
            if relative != os.curdir and any(p.startswith(".") for p in relative.split(os.sep)):
                continue  # glob's rule: ** does not enter hidden folders
            folder = os.path.join(base, relative) if relative != os.curdir else base
            found.extend(_glob(os.path.join(glob.escape(folder), rest) if folder else rest))
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
        elif path.exists():
            raise OSError(f"image {path} is {file_kind(path)}, not a regular file")
        elif _GLOB_CHARS & set(text):
            matches = sorted(Path(m) for m in _glob(text))
            images = [m for m in matches if is_image_file(m) and _regular_match(m)]
            if not images:
                raise FileNotFoundError(f"no image files match {text!r}")
            found.extend(images)
        else:
            raise FileNotFoundError(f"image {path} does not exist")
    return list(dict.fromkeys(found))


def _regular_match(path: Path) -> bool:
    """Whether a file a glob matched is read: a regular file; anything else but a folder or a
    broken link is warned about."""
    try:
        kind = file_kind(path)
    except OSError:
        return False
    if kind not in (None, "a folder"):
        warn_skipped(path, kind)
    return kind is None


def file_kind(path: str | os.PathLike) -> str | None:
    """What ``path`` is when it is not a regular file ("a FIFO", "a folder", ...), None when it
    is one; links are followed, and a missing file is the OS's ``FileNotFoundError``."""
    return special_kind(os.stat(path).st_mode)


def decode_image(path: str | os.PathLike | BinaryIO, orient: bool = True) -> Any:
    """The fully decoded PIL image, upright, or an error that is one of :data:`UNREADABLE`.

    The one decoder of every image a user gives (files, uploads' bytes), so that every command
    sees the same pixels. A path must name a regular file: a FIFO or device is refused before it
    is opened. The image is turned by its EXIF orientation (a phone stores a portrait photo
    sideways and tags it "rotate 90"): classified as people see it, not on its side.
    ``orient=False`` keeps the stored pixels, for annotations drawn on them (see
    :class:`effnet.detection.coco.CocoFolder`).

    Decoding here, not lazily, makes a truncated file fail while its name is known. A decompression
    bomb (an image of more than PIL's ``MAX_IMAGE_PIXELS`` limit, twice over) is a ``ValueError``
    like any other unreadable file. The 8-bit modes are left as stored except palette images,
    which become RGBA so their transparency survives (:func:`effnet.data.preprocess.to_rgb`
    converts every mode the same way for every command); :func:`to_8bit` brings 16-bit, 32-bit
    and floating-point images to 8 bits by their range instead of clipping them.
    """
    from PIL import Image

    if isinstance(path, (str, os.PathLike)) and (kind := file_kind(path)) is not None:
        raise OSError(f"{kind}, not a regular file")
    try:
        with Image.open(path) as stored:
            stored.load()
            image = upright(stored) if orient else stored.copy()  # the file closes on return
    except Image.DecompressionBombError as err:
        raise ValueError(f"image too large to decode safely ({err})") from None
    if image.mode in _PREMULTIPLIED:
        return image.convert(_PREMULTIPLIED[image.mode])
    if image.mode in ("P", "PA"):
        return image.convert("RGBA")
    return to_8bit(image) if image.mode in _WIDE_MODES else image


def upright(image: Any) -> Any:
    """A copy of a loaded PIL image turned as its EXIF orientation tag says (PIL's
    ``exif_transpose``); as stored when it has no tag, or an EXIF block PIL cannot parse (the
    pixels are still good)."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(image)
    except (*UNREADABLE, TypeError, KeyError, struct.error):
        return image.copy()


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


def open_image(path: str | os.PathLike, orient: bool = True) -> Any:
    """:func:`decode_image` for a file a user named: any failure is one line naming the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"image {path} does not exist")
    try:
        return decode_image(path, orient)
    except UNREADABLE as err:
        raise ValueError(f"{path} is not a readable image ({err})") from None
