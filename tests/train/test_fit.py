"""The batch and the epoch's steps fitted to the data: a small folder gets several steps an epoch
and uses every image; a batch the user set is kept; an epoch never leaves out much."""

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import Dataset

from effnet.train import TrainConfig
from effnet.train.batches import EpochBatches, rank_sampler
from effnet.train.build import as_run, model_spec, plan_run
from effnet.train.checkpoint import check_resumable
from effnet.train.distributed import Dist
from effnet.train.fit import MAX_DROP, MIN_BATCH, MIN_MICRO, MIN_STEPS, choose_batch


class Indices(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, item):
        return item


def epoch_indices(images: int, world: int, accum: int, fitted) -> list[list[int]]:
    """Every rank's indices over one epoch, cut as the loop cuts them."""
    ranks = []
    for r in range(world):
        sampler = rank_sampler(Indices(images), Dist(r, world, r, torch.device("cpu"), False), 3)
        order = EpochBatches(
            sampler, epoch=1, micro_batch=fitted.micro_batch, count=fitted.full_steps * accum,
            start=0, seed=3, tail=fitted.tail,
        )  # fmt: skip
        batches = list(order)
        assert len(batches) == fitted.steps_per_epoch * accum == len(order)
        assert all(len(b) >= MIN_MICRO for b in batches)  # BN in training mode needs 2 values
        ranks.append([i for b in batches for i, _ in b])
    return ranks


def test_108_images_at_the_default_64_train_on_every_image_in_several_steps():
    fitted = choose_batch(64, 108, fit=True)
    assert fitted.steps_per_epoch > 1 and fitted.batch_size < 64
    assert fitted.dropped == 0
    (seen,) = epoch_indices(108, 1, 1, fitted)
    assert sorted(seen) == list(range(108))  # every image, once
    line = fitted.line(0.04 * fitted.batch_size / 256)
    assert "default 64 would give 1 step an epoch on 108 images" in line


def test_the_learning_rate_follows_the_fitted_batch():
    cfg = TrainConfig(batch_size=64, fit_batch=True, lr_per_256=0.04, epochs=4)
    plan = plan_run(cfg, 64, train_images=108, world_size=1)
    assert plan.base_lr == pytest.approx(0.04 * plan.batch_size / 256)  # same lr per image
    assert plan.total_steps == 4 * plan.steps_per_epoch and plan.batch_size < 64
    assert plan.note.startswith(f"batch {plan.batch_size} (default 64")


def test_a_batch_the_user_set_is_kept_and_only_the_last_batch_rule_applies():
    kept = choose_batch(64, 108, fit=False)
    assert kept.batch_size == 64 and kept.full_steps == 1
    assert kept.last_batch == 44 and kept.dropped == 0  # 41% would be lost: kept as a step
    # A drop of under 10% keeps the full batches exactly (drop_last), as before the fit existed.
    digits = choose_batch(32, 1257, fit=False)
    assert (digits.batch_size, digits.steps_per_epoch, digits.tail, digits.dropped) == (
        32, 39, (), 1257 - 39 * 32,
    )  # fmt: skip
    with pytest.raises(ValueError, match="larger than the 20 training images"):
        choose_batch(32, 20, fit=False)
    with pytest.raises(ValueError, match="divide evenly"):
        choose_batch(30, 1000, world_size=1, accum=4, fit=True)


def test_large_data_sets_keep_the_recipes_batch_and_the_fit_is_idempotent():
    assert choose_batch(64, 50_000, fit=True).batch_size == 64
    assert choose_batch(4096, 1_281_167 - 25_000, world_size=8, fit=True).batch_size == 4096
    for images in (10, 40, 108, 300, 1000):
        first = choose_batch(64, images, fit=True)
        again = choose_batch(first.batch_size, images, fit=True)  # what a resume re-fits
        assert again.batch_size == first.batch_size


@settings(max_examples=150, deadline=None)
@given(
    images=st.integers(1, 5000),
    exponent=st.integers(0, 9),
    world=st.sampled_from([1, 2, 4]),
    accum=st.sampled_from([1, 2]),
    fit=st.booleans(),
)
def test_an_epoch_leaves_out_at_most_a_tenth_or_a_remainder_too_small_to_train_on(
    images, exponent, world, accum, fit
):
    batch = world * accum * 2**exponent
    try:
        fitted = choose_batch(batch, images, world, accum, fit)
    except ValueError as err:
        assert "larger than the" in str(err)
        assert images // world < batch // world  # not one full batch per rank
        return
    used = world * (fitted.full_steps * fitted.micro_batch * accum + sum(fitted.tail))
    assert used + fitted.dropped == images
    too_small = MIN_MICRO * accum * world + world  # a tail BN cannot train on, ranks' leftovers
    assert fitted.dropped <= max(MAX_DROP * images, too_small)
    if fit:
        assert fitted.dropped < too_small  # a fitted batch keeps its last batch
        if fitted.steps_per_epoch < MIN_STEPS:  # short only where halving would pass the floor
            parts = world * accum
            assert fitted.batch_size // 2 < MIN_BATCH or fitted.batch_size % (2 * parts)
    assert fitted.batch_size <= batch and fitted.batch_size % (world * accum) == 0


@pytest.mark.parametrize(("world", "accum"), [(1, 2), (2, 1), (2, 2)])
def test_ranks_and_micro_batches_share_the_kept_last_batch_evenly(world, accum):
    fitted = choose_batch(64, 108, world, accum, fit=True)
    ranks = epoch_indices(108, world, accum, fitted)
    assert len({len(r) for r in ranks}) == 1  # the same steps on every rank (DDP in step)
    seen = sorted(i for r in ranks for i in r)
    assert len(seen) == len(set(seen)) == 108 - fitted.dropped


def test_a_resumed_epoch_replays_exactly_the_rest_including_the_kept_last_batch():
    fitted = choose_batch(64, 108, world_size=1, accum=2, fit=True)
    sampler = rank_sampler(Indices(108), Dist(0, 1, 0, torch.device("cpu"), False), 3)

    def cut(start: int) -> list:
        return list(
            EpochBatches(sampler, 2, fitted.micro_batch, fitted.full_steps * 2, start, 3,
                         tail=fitted.tail)
        )  # fmt: skip

    whole = cut(0)
    for start in range(0, 2 * fitted.steps_per_epoch, 2):  # a resume starts at a step's first
        assert cut(start) == whole[start:]


def test_the_recorded_config_plans_the_same_run_when_resumed_and_a_changed_data_set_is_refused():
    cfg = TrainConfig(batch_size=64, fit_batch=True, lr_per_256=0.04, epochs=4)
    spec = model_spec(cfg)
    plan = plan_run(cfg, 64, train_images=108, world_size=1)
    recorded = as_run(cfg, spec, plan)  # what config.json and last.pt hold
    assert recorded.batch_size == plan.batch_size < 64
    again = plan_run(recorded, 64, train_images=108, world_size=1)
    assert dataclasses.replace(again, note=plan.note) == plan  # its line names no default
    saved = {"config": recorded.to_dict(), "world_size": 1}
    check_resumable(recorded, saved, 1)  # resumed with the default batch: re-fitted the same
    explicit = cfg.replace(batch_size=plan.batch_size, fit_batch=False)
    check_resumable(as_run(explicit, spec, plan_run(explicit, 64, 108, 1)), saved, 1)
    grown = as_run(cfg, spec, plan_run(cfg, 64, train_images=600, world_size=1))
    with pytest.raises(ValueError, match=f"batch_size: {plan.batch_size} -> 64"):
        check_resumable(grown, saved, 1)
