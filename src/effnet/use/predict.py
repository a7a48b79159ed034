"""Top-k labels with probabilities for image files, named by the checkpoint's own classes.

A file the user named must be readable: an unreadable one stops with one line naming it. Files
found by expanding a folder or glob follow the policy of training and ``effnet eval`` instead:
skipped with a warning naming each (once), so one bad file in a folder of thousands costs one
line, not the run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..data.images import UNREADABLE, decode_image, open_image
from ..data.loading import Skipped, SkipWarner
from ..data.preprocess import Preprocess, eval_transform
from ..models import EfficientNet
from ..weights.hub import preprocess_for

if TYPE_CHECKING:
    from ..deploy.artifact import DeployedModel


@dataclass
class Prediction:
    """The ``k`` most probable classes of one image, most probable first."""

    path: Path
    indices: list[int]
    labels: list[str]
    probabilities: list[float]

    @property
    def label(self) -> str:
        return self.labels[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "top": [
                {"label": label, "index": index, "probability": prob}
                for label, index, prob in zip(
                    self.labels, self.indices, self.probabilities, strict=True
                )
            ],
        }

    def format(self) -> str:
        ranked = ", ".join(
            f"{label} {_percent(prob)}"
            for label, prob in zip(self.labels, self.probabilities, strict=True)
        )
        return f"{self.path}: {ranked}"


def _percent(prob: float) -> str:
    """Percent with one decimal; tiny probabilities keep two significant digits, not "0.0%"."""
    return f"{prob:.1%}" if prob >= 0.001 else f"{100 * prob:.2g}%"


#: Below this input size a model was trained on small images (digits, icons, thumbnails).
SMALL_INPUT_PX = 64


def input_mismatch(size: tuple[int, int], preprocess: Preprocess) -> str | None:
    """Why an image of ``size`` (width, height) is unlike what a small-input model was trained on.

    A model trained at a few dozen pixels (the digits demo: 24 px) answers confidently about any
    picture, a photograph included; when the picture is many times its input size, the answer is
    most likely meaningless, and saying so costs one line.
    """
    width, height = size
    if preprocess.resolution >= SMALL_INPUT_PX or min(width, height) < 4 * preprocess.resize_size:
        return None
    shrink = min(width, height) / preprocess.resize_size
    return (
        f"the model was trained on {preprocess.resolution}px images and this {width}x{height} "
        f"image is shrunk {shrink:.0f}x to fit; a model trained on small images answers about "
        "anything, so check that the image is the kind it was trained on"
    )


def in_memory_images(images: Any) -> list[tuple[Path, Any]] | None:
    """``(name, PIL image)`` pairs for images already in memory: a PIL image, a uint8 ``HWC``
    numpy array, a ``CHW`` or ``NCHW`` tensor of pixels (uint8, or float in [0, 1]), or a list
    of them, named ``image[i]``; None for paths. Anything else is one ValueError naming its type
    (a path would otherwise be made of it, and the error be about a missing file)."""
    import numpy as np
    from PIL import Image

    from ..data.images import upright

    def pictures(item: Any) -> list[Any]:
        if isinstance(item, Image.Image):  # as a file of it would be read: EXIF orientation applied
            return [upright(item)]
        if isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.ndim in (2, 3):
            return [Image.fromarray(item)]
        if isinstance(item, torch.Tensor) and item.ndim in (3, 4):
            from torchvision.transforms.functional import to_pil_image

            pixels = item.detach().cpu()
            if pixels.is_floating_point() and not bool(((pixels >= 0) & (pixels <= 1)).all()):
                raise ValueError("a float image tensor must hold pixels in [0, 1]")
            return [to_pil_image(x) for x in (pixels if pixels.ndim == 4 else [pixels])]
        shape = (
            f" of shape {tuple(item.shape)} and dtype {item.dtype}"
            if hasattr(item, "shape")
            else ""
        )
        raise ValueError(
            f"cannot predict on a {type(item).__name__}{shape}: give image paths, PIL images, "
            "uint8 HWC arrays or CHW/NCHW tensors"
        )

    items = images if isinstance(images, (list, tuple)) else [images]
    if all(isinstance(item, (str, os.PathLike)) for item in items):
        return None
    found = [picture for item in items for picture in pictures(item)]
    return [(Path(f"image[{i}]"), picture) for i, picture in enumerate(found)]


def _inputs(paths: Any) -> list[Any]:
    """``paths`` as a list: paths, or ``(name, image)`` pairs for images in memory (a list of
    pairs has been converted already, by ``effnet.predict``)."""
    if isinstance(paths, list) and all(isinstance(p, tuple) for p in paths):
        return paths
    return in_memory_images(paths) or list(paths)


def _readable(
    paths: list[str | os.PathLike],
    skippable: Collection[Path],
    on_skipped: Callable[[Skipped], None],
) -> list[tuple[Path, Any]]:
    """(path, PIL image) of each readable path; a skippable unreadable one goes to on_skipped.
    Images already in memory (:func:`in_memory_images`) pass through with their names."""
    images: list[tuple[Path, Any]] = []
    for path in paths:
        if isinstance(path, tuple):
            images.append(path)
            continue
        path = Path(path)
        if path not in skippable:
            images.append((path, open_image(path)))  # named: unreadable is an error
            continue
        try:
            images.append((path, decode_image(path)))
        except UNREADABLE as err:
            on_skipped(Skipped(str(path), f"{type(err).__name__}: {err}"))
    return images


@torch.no_grad()
def predict(
    model: EfficientNet | DeployedModel,
    paths: Sequence[str | os.PathLike],
    top_k: int = 5,
    batch_size: int = 32,
    progress: bool = False,
    *,
    skippable: Collection[str | os.PathLike] = (),
    on_skipped: Callable[[Skipped], None] | None = None,
) -> list[Prediction]:
    """Classify ``paths`` in batches; a missing or unreadable file stops with its name.
    ``paths`` may also be images in memory (see :func:`in_memory_images`).

    ``skippable``: paths found by expanding a folder or glob, which are skipped when unreadable
    (handed to ``on_skipped``, default one warning per file) and absent from the result; if no
    image at all could be read that is an error.
    """
    from ..progress import bar

    if top_k < 1:
        raise ValueError(f"--top-k must be >= 1, got {top_k}")
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    names = model.labels()
    preprocess = preprocess_for(model)
    transform = eval_transform(preprocess)
    mismatched: list[tuple[Path, str]] = []
    model.eval()
    device = getattr(model, "device", None) or next(model.parameters()).device
    k = min(top_k, len(names))
    lenient = {Path(p) for p in skippable}
    warn = on_skipped or SkipWarner()
    results: list[Prediction] = []
    paths = _inputs(paths)
    chunks = [list(paths[i : i + batch_size]) for i in range(0, len(paths), batch_size)]
    for chunk in bar(chunks, desc="predict", unit="batch", disable=not progress, leave=False):
        readable = _readable(chunk, lenient, warn)
        if not readable:
            continue
        for path, image in readable:
            if reason := input_mismatch(image.size, preprocess):
                mismatched.append((path, reason))
        batch = torch.stack([transform(image) for _, image in readable]).to(device)
        top = model(batch).float().softmax(dim=1).topk(k, dim=1)
        for (path, _), values, indices in zip(
            readable, top.values.tolist(), top.indices.tolist(), strict=True
        ):
            results.append(Prediction(path, indices, [names[i] for i in indices], values))
    if paths and not results:
        raise ValueError(f"none of the {len(paths)} images could be read")
    if mismatched:
        others = len(mismatched) - 1
        more = f" (and {others} more image{'s' * (others > 1)} like it)" if others else ""
        print(f"warning: {mismatched[0][0]}: {mismatched[0][1]}{more}", file=sys.stderr)
    return results
