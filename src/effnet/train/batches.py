"""Which images each rank sees, and in which order: training epochs and evaluation shards.

Training order is a pure function of (seed, epoch): a :class:`~torch.utils.data.DistributedSampler`
shuffles the whole set and deals every rank its share, and :class:`EpochBatches` cuts that share
into micro-batches, pairing each index with its augmentation seed
(:func:`effnet.data.loading.sample_seed`). Nothing here draws from the global RNG, so a run resumed
mid-epoch (``start``) replays exactly the batches, and the augmentations, it would have seen.
Evaluation needs no order: rank r scores images r, r + world_size, ...
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from ..data.loading import collate_skipping, sample_seed, worker_context
from .distributed import Dist


def rank_sampler(dataset: Dataset, d: Dist, seed: int) -> DistributedSampler:
    """This rank's share of each epoch's shuffle: every rank the same count, the few images
    (fewer than the ranks) that do not deal evenly left out; :mod:`.fit` decides the batches."""
    return DistributedSampler(
        dataset, num_replicas=d.world_size, rank=d.rank, shuffle=True, seed=seed, drop_last=True
    )


class EpochBatches(Sampler[list[tuple[int, int]]]):
    """One epoch's micro-batches for this rank, from ``start`` on, each index with its aug seed.

    ``count`` micro-batches of ``micro_batch`` images, then the ``tail``: the sizes of the
    micro-batches of an incomplete last step (:mod:`.fit` decides whether there is one), cut from
    the images that follow. The cut is a pure function of its arguments, so a resume replays it.

    A step's ``accum`` micro-batches deal its images round-robin (micro-batch j takes the step's
    images j, j + accum, ...), as the sampler deals the shuffle to the ranks: so W processes of
    A micro-batches and one process of W x A micro-batches train each step on the same shards of
    the same images, and a one-process run can stand in for a distributed one, exactly.
    """

    def __init__(
        self,
        sampler: DistributedSampler,
        epoch: int,
        micro_batch: int,
        count: int,
        start: int,
        seed: int,
        tail: Sequence[int] = (),
        accum: int = 1,
    ) -> None:
        self.sampler, self.epoch, self.micro_batch = sampler, epoch, micro_batch
        self.count, self.start, self.seed, self.accum = count, start, seed, accum
        sizes = [micro_batch] * count + list(tail)
        self.bounds = list(itertools.accumulate(sizes, initial=0))

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        self.sampler.set_epoch(self.epoch)
        order = list(self.sampler)
        for b in range(self.start, len(self.bounds) - 1):
            first = b - b % self.accum  # the step's first micro-batch
            last = min(first + self.accum, len(self.bounds) - 1)
            step = order[self.bounds[first] : self.bounds[last]]
            chunk = step[b - first :: last - first]
            yield [(i, sample_seed(self.seed, self.epoch, i)) for i in chunk]

    def __len__(self) -> int:
        return len(self.bounds) - 1 - self.start


def train_loader(
    dataset: Dataset, batches: EpochBatches, num_workers: int, collate: Any = collate_skipping
) -> DataLoader:
    """Loads ``batches``; unreadable images come out as ``Skipped`` beside each batch."""
    return DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=num_workers,
        multiprocessing_context=worker_context(num_workers),
        collate_fn=collate,
        pin_memory=torch.cuda.is_available(),
        # A private generator: creating the loader must not draw from the global RNG, whose
        # state (dropout, stochastic depth) a resumed run has to replay exactly.
        generator=torch.Generator(),
    )


def shard_loader(
    dataset: Any, d: Dist, batch_size: int, num_workers: int, collate: Any = collate_skipping
) -> DataLoader:
    """Every ``world_size``-th image from this rank's on: the ranks' shards cover the set once."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=list(range(d.rank, len(dataset), d.world_size)),
        num_workers=num_workers,
        multiprocessing_context=worker_context(num_workers),
        collate_fn=collate,
        generator=torch.Generator(),  # as above: scoring must not move the training RNG
    )
