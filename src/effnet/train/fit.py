"""The batch and the epoch's steps, fitted to the training set: one rule for every run.

Recipes set their batch for data sets of thousands of images (4096 for ImageNet, 64 for
fine-tuning). On a folder of 108 images a batch of 64 is one update an epoch, and dropping the
incomplete last batch throws away 44 of the 108 images every epoch. :func:`choose_batch` decides,
for every run the engine trains:

* **The batch.** One the config leaves to the data (``fit_batch``, the fine-tuning default) is
  halved while an epoch would take fewer than :data:`MIN_STEPS` updates, but not below
  :data:`MIN_BATCH` images (nor below what divides over the ranks and accumulation steps). Halving
  keeps the batch a divisor of the recipe's, so it still splits over ranks and micro-batches.
  Eight updates an epoch is what the fine-tuning recipe needs to work as written: it warms up over
  the first epoch and trains the new head alone in it (``freeze_backbone_epochs=1``); with one or
  two updates the warm-up is a single jump and the head gets one step before the backbone thaws.
  Sixteen images is the floor because batch norm normalises with the batch's own statistics,
  which grow noisy below that. The rule is idempotent (re-fitting a fitted batch keeps it), so a
  resumed run, whose recorded config holds the fitted batch, fits the same one. A batch the user
  set (flag, config field, override) is never changed.
* **The last incomplete batch.** It is dropped (as ``drop_last``) only when that leaves out at
  most :data:`MAX_DROP` of the images and the batch was set by the user, whose full batches are
  then kept exactly (large data sets: no change). A fitted batch, or a drop above that fraction,
  keeps it as a smaller last step, split over the ranks and micro-batches like a full one, if each
  micro-batch gets at least two images (batch norm in training mode needs more than one value per
  channel); a remainder smaller than that is dropped, being a few images.

The learning rate follows the batch through ``lr_per_256`` (linear scaling), so the per-image
recipe is the same whatever batch the fit picks.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_STEPS = 8  # optimizer updates an epoch that a fitted batch aims for
MIN_BATCH = 16  # a fitted batch is not halved below this many images
MAX_DROP = 0.10  # the largest fraction of the images an epoch may leave out
MIN_MICRO = 2  # images a micro-batch of the kept last step needs (batch norm in training mode)


@dataclass(frozen=True)
class BatchFit:
    """What one epoch is made of; the ranks each take ``len(images) // world_size`` images."""

    batch_size: int  # global images per full optimizer step
    requested: int  # the config's batch_size before fitting
    images: int  # training images
    world_size: int
    micro_batch: int  # images per forward pass on one rank in a full step
    full_steps: int  # full steps an epoch
    tail: tuple[int, ...]  # one rank's micro-batch sizes in the kept last step; () when none
    dropped: int  # images an epoch leaves out (drop_last, and the ranks' uneven share)

    @property
    def steps_per_epoch(self) -> int:
        return self.full_steps + (1 if self.tail else 0)

    @property
    def last_batch(self) -> int:
        """Global images in the kept incomplete last step (0 when there is none)."""
        return sum(self.tail) * self.world_size

    def worth_saying(self) -> bool:
        """True when the run differs from "the config's batch, full batches only, nothing lost"."""
        return self.batch_size != self.requested or bool(self.tail) or self.dropped > 0

    def line(self, lr: float) -> str:
        """The choice and its reason, e.g. ``batch 16 (default 64 would give 1 step an epoch on
        108 images), lr 0.0025, 7 steps an epoch, last batch of 12 kept``."""
        batch = f"batch {self.batch_size}"
        if self.batch_size != self.requested:
            before = self.images // self.requested
            batch += (
                f" (default {self.requested} would give {before} step"
                f"{'' if before == 1 else 's'} an epoch on {self.images} images)"
            )
        steps = f"{self.steps_per_epoch} step{'' if self.steps_per_epoch == 1 else 's'} an epoch"
        parts = [batch, f"lr {lr:.4g}", steps]
        if self.tail:
            parts.append(f"last batch of {self.last_batch} kept")
        if self.dropped:
            parts.append(f"{self.dropped} of {self.images} images left out each epoch")
        return ", ".join(parts)


def micro_batch(batch_size: int, world_size: int, accum: int) -> int:
    """Images per forward pass on one process: the global batch over ranks and micro-steps."""
    parts = world_size * accum
    if batch_size % parts:
        raise ValueError(
            f"batch_size={batch_size} must divide evenly into {world_size} processes x "
            f"{accum} accumulation steps"
        )
    return batch_size // parts


def fitted_size(requested: int, images: int, world_size: int, accum: int) -> int:
    """The default batch halved while an epoch would be short (see the module docstring)."""
    parts = world_size * accum

    def short(batch: int) -> bool:  # the epoch's steps as :func:`choose_batch` will cut them
        full, tail = _epoch(batch, images, world_size, accum, fit=True)
        return full + (1 if tail else 0) < MIN_STEPS

    batch = requested
    while batch % (2 * parts) == 0 and (
        batch > images or (short(batch) and batch // 2 >= MIN_BATCH)
    ):
        batch //= 2
    return batch


def _epoch(
    batch: int, images: int, world_size: int, accum: int, fit: bool
) -> tuple[int, tuple[int, ...]]:
    """(full steps, one rank's micro-batches of a kept last step) of an epoch at ``batch``."""
    step = batch // world_size  # one rank's images per full step
    share = images // world_size  # every rank the same count (DistributedSampler drop_last)
    full, rest = divmod(share, step)
    tail: tuple[int, ...] = ()
    small_loss = rest * world_size + images % world_size <= MAX_DROP * images
    if rest and not (small_loss and not fit) and rest >= MIN_MICRO * accum:
        tail = tuple(rest // accum + (1 if i < rest % accum else 0) for i in range(accum))
    return full, tail


def choose_batch(
    requested: int, images: int, world_size: int = 1, accum: int = 1, fit: bool = False
) -> BatchFit:
    """The batch, the steps and the last incomplete batch for ``images`` training images.

    ``fit``: ``requested`` is a default the data may lower; otherwise it is the user's and kept.
    """
    micro_batch(requested, world_size, accum)  # the recipe's own batch must split too
    batch = fitted_size(requested, images, world_size, accum) if fit else requested
    micro = micro_batch(batch, world_size, accum)
    full, tail = _epoch(batch, images, world_size, accum, fit)
    if full < 1:
        raise ValueError(
            f"batch_size={batch} is larger than the {images} training images; lower batch_size"
        )
    step = micro * accum
    dropped = images - world_size * (full * step + sum(tail))
    return BatchFit(batch, requested, images, world_size, micro, full, tail, dropped)
