"""Batches of image files for prediction: planned, decoded and scored the same way everywhere.

The one-process run (:mod:`effnet.use.predict_stream`) decodes them in DataLoader workers and
the Ray run (:mod:`effnet.use.predict_ray`) in Ray tasks; both cut the image list at the same
places (:class:`AlignedBatches`) and score with :func:`score`, so both write the same answers to
the last bit (a model's output for one image can move in its last bits with the other images of
its batch). An unreadable file never raises here: it travels in its batch as an error, for the
writer to list and skip.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..data.images import UNREADABLE, decode_image


@dataclass
class Batch:
    """One batch: every path with its error (None if readable) and size, the readable images'
    pixels stacked, and once scored their top-k probabilities and class indices."""

    paths: list[str]
    errors: list[str | None]
    sizes: list[tuple[int, int] | None]
    pixels: torch.Tensor | None
    values: list[list[float]] = field(default_factory=list)
    indices: list[list[int]] = field(default_factory=list)


def load_image(path: str, transform: Callable) -> tuple[str, Any, Any, str | None]:
    """(path, preprocessed tensor, (width, height), None), or the error with None for both."""
    try:
        image = decode_image(path)
        return path, transform(image), image.size, None
    except UNREADABLE as err:
        return path, None, None, f"{type(err).__name__}: {err}"


def collate(items: list[tuple[str, Any, Any, str | None]]) -> Batch:
    pixels = [item[1] for item in items if item[1] is not None]
    return Batch(
        [item[0] for item in items],
        [item[3] for item in items],
        [item[2] for item in items],
        torch.stack(pixels) if pixels else None,
    )


def decode_batch(paths: Sequence[str], transform: Callable) -> Batch:
    return collate([load_image(path, transform) for path in paths])


class ImageFiles(torch.utils.data.Dataset):
    """``paths[i]`` decoded and preprocessed (in a DataLoader worker); never raises for a file."""

    def __init__(self, paths: Sequence[str], transform: Callable) -> None:
        self.paths = paths
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[str, Any, Any, str | None]:
        return load_image(self.paths[index], self.transform)


class AlignedBatches:
    """Positions in the image list, in batches cut at multiples of ``size``, less those ``done``.

    The same cuts whether a run starts afresh or resumes, so each image meets the same others in
    its batch either way; a batch the output already holds in full is left out.
    """

    def __init__(self, paths: Sequence[str], size: int, done: Collection[str]) -> None:
        self.paths, self.size, self.done = paths, size, done
        self.todo = sum(path not in done for path in paths)
        self.count = sum(1 for _ in self)

    def __iter__(self) -> Iterator[list[int]]:
        for start in range(0, len(self.paths), self.size):
            stop = min(start + self.size, len(self.paths))
            batch = [i for i in range(start, stop) if self.paths[i] not in self.done]
            if batch:
                yield batch

    def __len__(self) -> int:
        return self.count


@torch.no_grad()
def score(model: Any, batch: Batch, k: int, device: Any) -> Batch:
    """``batch`` with the top ``k`` of its readable images filled in and its pixels dropped."""
    if batch.pixels is not None:
        top = model(batch.pixels.to(device)).float().softmax(dim=1).topk(k, dim=1)
        batch.values, batch.indices = top.values.tolist(), top.indices.tolist()
    batch.pixels = None
    return batch


def model_device(model: Any) -> Any:
    return getattr(model, "device", None) or next(model.parameters()).device
