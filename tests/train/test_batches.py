"""Data order: a pure function of (seed, epoch), dealt over ranks, resumable mid-epoch."""

import pytest
import torch
from torch.utils.data import Dataset

from effnet.data.loading import Skipped
from effnet.train.batches import EpochBatches, rank_sampler, shard_loader, train_loader
from effnet.train.distributed import Dist


class Numbers(Dataset):
    """Sample i is (a 1x1x1 image holding i, label i); multiples of 7 are unreadable."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, item):
        index, _seed = item if isinstance(item, tuple) else (item, None)
        if index % 7 == 0:
            return Skipped(f"file{index}", "OSError: broken")
        return torch.full((1, 1, 1), float(index)), index


def rank(r: int, world: int) -> Dist:
    return Dist(r, world, r, torch.device("cpu"), owns_group=False)


def epoch_batches(dataset, world, r, epoch, micro=2, count=4, start=0, seed=5):
    sampler = rank_sampler(dataset, rank(r, world), seed)
    return list(EpochBatches(sampler, epoch, micro, count=count, start=start, seed=seed))


def test_ranks_get_disjoint_shares_of_the_same_shuffle():
    data = Numbers(20)
    shares = [[i for b in epoch_batches(data, 2, r, epoch=0) for i, _ in b] for r in range(2)]
    assert all(len(s) == 8 for s in shares)  # 4 micro-batches of 2
    assert not set(shares[0]) & set(shares[1])
    assert sorted(shares[0] + shares[1]) != list(range(16))  # shuffled, not the first 16


def test_order_and_seeds_repeat_for_an_epoch_and_change_between_epochs():
    data = Numbers(20)
    first = epoch_batches(data, 1, 0, epoch=3)
    assert epoch_batches(data, 1, 0, epoch=3) == first
    later = epoch_batches(data, 1, 0, epoch=4)
    assert [i for b in later for i, _ in b] != [i for b in first for i, _ in b]
    seeds = {i: s for b in first for i, s in b}
    seeds_later = {i: s for b in later for i, s in b}
    assert all(seeds[i] != seeds_later[i] for i in seeds.keys() & seeds_later.keys())
    assert len(set(seeds.values())) == len(seeds)  # every sample its own augmentation seed


def test_a_resumed_epoch_replays_exactly_the_remaining_batches():
    data = Numbers(20)
    whole = epoch_batches(data, 2, 1, epoch=2, count=4)
    rest = EpochBatches(rank_sampler(data, rank(1, 2), 5), 2, 2, count=4, start=3, seed=5)
    assert len(rest) == 1
    assert list(rest) == whole[3:]


@pytest.mark.parametrize(("world", "accum"), [(2, 1), (2, 2), (4, 1), (3, 2)])
def test_ranks_and_micro_batches_cut_a_step_into_the_same_shards(world, accum):
    """W processes of A micro-batches and one process of W x A micro-batches: each step's shards
    hold the same images, so a one-process run can stand in for a distributed one exactly. The
    incomplete last step (2 micro-batches of 3, 2 images) is dealt the same way too."""
    data, micro, steps = Numbers(200), 2, 3
    parts = world * accum
    tail = (3, 2) if accum == 2 else ()
    ranks = [
        list(EpochBatches(rank_sampler(data, rank(r, world), 5), 1, micro, count=steps * accum,
                          start=0, seed=5, tail=tail, accum=accum))
        for r in range(world)
    ]  # fmt: skip
    one_tail = tuple(tail[j % accum] for j in range(parts)) if tail else ()
    shares = []
    for r in range(world):
        sampler = rank_sampler(data, rank(r, world), 5)
        sampler.set_epoch(1)
        shares.append(list(sampler))
    order = [i for dealt in zip(*shares, strict=True) for i in dealt]  # the whole shuffle
    single = list(_dealt(order, micro, steps, parts, one_tail))
    for step, shards in enumerate(single):
        mine = {
            frozenset(i for i, _ in ranks[r][step * accum + j])
            for r in range(world)
            for j in range(accum)
        }
        assert mine == {frozenset(shard) for shard in shards}, step


def _dealt(order, micro, steps, parts, tail):
    """One process's micro-batches of ``order`` by the documented rule (round-robin in a step)."""
    at = 0
    for size in [micro * parts] * steps + ([sum(tail)] if tail else []):
        step = order[at : at + size]
        at += size
        yield [step[j::parts] for j in range(parts)]


def test_building_and_iterating_the_train_loader_leaves_the_global_rng_alone():
    data = Numbers(20)
    before = torch.get_rng_state()
    batches = EpochBatches(rank_sampler(data, rank(0, 1), 0), 0, 4, count=3, start=0, seed=0)
    loaded = list(train_loader(data, batches, num_workers=0))
    assert torch.equal(torch.get_rng_state(), before)
    assert len(loaded) == 3
    for (images, labels, skipped), batch in zip(loaded, batches, strict=True):
        indices = [i for i, _ in batch]
        readable = [i for i in indices if i % 7]
        assert labels.tolist() == readable
        assert images[:, 0, 0, 0].tolist() == [float(i) for i in readable]
        assert [s.source for s in skipped] == [f"file{i}" for i in indices if i % 7 == 0]


def test_evaluation_shards_cover_every_image_once():
    data = Numbers(23)
    seen = []
    for r in range(3):
        for _images, labels, skipped in shard_loader(data, rank(r, 3), batch_size=4, num_workers=0):
            seen += labels.tolist() + [int(s.source[4:]) for s in skipped]
    assert sorted(seen) == list(range(23))
