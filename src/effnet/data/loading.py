"""Samples that never crash a run, and augmentation that is reproducible sample by sample.

:class:`TransformedSubset` applies a transform to a subset of any (PIL image, label) data set.
An image that cannot be read (truncated JPEG, a text file named .png, a permission error) comes
back as :class:`Skipped` naming the file; :func:`collate_skipping` drops those from the batch and
hands them to the caller, which warns once per file (:class:`SkipWarner`), counts them and goes
on: the one unreadable-image policy of training and ``effnet eval``. When the sampler
passes ``(index, seed)`` pairs, the transform's random draws are seeded per sample, so the same
image gets the same augmentation whatever the worker count, world size, or where a run resumed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import torch

from .images import UNREADABLE


@dataclass(frozen=True)
class Skipped:
    """A sample that could not be loaded: which file and why."""

    source: str
    reason: str


class SkipWarner:
    """Warns once per unreadable file, one line naming it, and remembers which it warned about.

    Called with each :class:`Skipped` a loader yields (``on_skipped`` of
    :func:`effnet.evaluation.evaluate`); an epoch that comes round to the same file again stays
    quiet, while the caller still counts every skip.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.warned: set[str] = set()
        self.stream = stream

    def __call__(self, item: Skipped) -> None:
        if item.source in self.warned:
            return
        self.warned.add(item.source)
        print(
            f"warning: skipping unreadable image {item.source} ({item.reason})",
            file=self.stream or sys.stderr,
            flush=True,
        )


def describe_sample(dataset: Any, index: int) -> str:
    """The file behind a sample when the data set knows it (ImageFolder), else ``name[index]``."""
    if hasattr(dataset, "describe"):
        return dataset.describe(index)
    samples = getattr(dataset, "samples", None)
    if samples is not None:
        return str(samples[index][0])
    return f"{type(dataset).__name__}[{index}]"


class TransformedSubset(torch.utils.data.Dataset):
    """``base[indices[i]]`` with ``transform`` applied; unreadable ones become :class:`Skipped`."""

    def __init__(
        self, base: Any, indices: Sequence[int], transform: Callable, classes: list[str]
    ) -> None:
        self.base = base
        self.indices = list(indices)
        self.transform = transform
        self.classes = classes

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int | tuple[int, int]):
        index, seed = item if isinstance(item, tuple) else (item, None)
        source = self.indices[index]
        try:
            image, label = self.base[source]
            if seed is None:
                return self.transform(image), int(label)
            return _seeded(self.transform, image, seed), int(label)
        except UNREADABLE as err:
            return Skipped(describe_sample(self.base, source), f"{type(err).__name__}: {err}")


def class_counts(subset: TransformedSubset) -> list[int] | None:
    """Images per class index in ``subset``; None when its data set does not list its labels.

    Read from the labels (``targets``), not the images, so counting decodes nothing.
    """
    targets = getattr(subset.base, "targets", None)
    if targets is None:
        return None
    counts = [0] * len(subset.classes)
    for index in subset.indices:
        counts[int(targets[index])] += 1
    return counts


def _seeded(transform: Callable, image: Any, seed: int) -> torch.Tensor:
    """Run ``transform`` with torch's CPU generator seeded, then put the generator back."""
    generator = torch.random.default_generator
    saved = generator.get_state()
    generator.manual_seed(seed)
    try:
        return transform(image)
    finally:
        generator.set_state(saved)


def sample_seed(run_seed: int, epoch: int, index: int) -> int:
    """A per-(run, epoch, sample) seed: new augmentations each epoch, the same ones on a rerun."""
    return (run_seed * 1_000_003 + epoch * 7_919 + 1) * 2_654_435_761 + index & (2**62 - 1)


def collate_skipping(batch: list[Any]) -> tuple[torch.Tensor | None, torch.Tensor, list[Skipped]]:
    """Stack the readable samples; return the unreadable ones beside them."""
    good = [b for b in batch if not isinstance(b, Skipped)]
    skipped = [b for b in batch if isinstance(b, Skipped)]
    if not good:
        return None, torch.empty(0, dtype=torch.long), skipped
    images = torch.stack([image for image, _ in good])
    labels = torch.tensor([label for _, label in good], dtype=torch.long)
    return images, labels, skipped


#: Libraries whose worker thread pools make forking this process unsafe: a forked child inherits
#: their locks and state but not their threads (seen here: a segfault when a training loader
#: forked its workers after OpenVINO had run in the same process).
FORK_UNSAFE_MODULES = ("openvino", "onnxruntime")


def worker_context(num_workers: int) -> str | None:
    """The multiprocessing start method for ``num_workers`` loader processes.

    None (the platform's default, fork on Linux: the fastest start) unless an inference engine
    with its own thread pool is loaded here; then "forkserver", which starts workers from a clean
    single-threaded server process.
    """
    if num_workers == 0 or sys.platform != "linux":
        return None
    return "forkserver" if any(name in sys.modules for name in FORK_UNSAFE_MODULES) else None
