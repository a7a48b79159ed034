"""Progressive learning (EfficientNetV2, section 4.2, Algorithm 1): image size and regularization
grow together over the stages of training.

Training is cut into ``stages`` equal runs of epochs. Stage ``i`` of ``M`` trains at
``S_i = S_0 + (S_e - S_0) * i / (M - 1)`` pixels with every regularization interpolated the same
way (dropout before the classifier, RandAugment magnitude, mixup alpha): small images with weak
regularization first, which train fast and need little, then large images with strong
regularization. The paper's values (Table 6) are in ``configs/v2_{s,m,l}_imagenet.py``.

Augmentation is torchvision's: ``RandAugment`` (in place of AutoAugment; ``randaugment_ops`` ops
at the stage's magnitude, on torchvision's 31-bin scale, 0-30) in the training transform, and
``transforms.v2.MixUp`` on each batch. Everything a stage sets is a function of the epoch, and
mixup's draws are seeded by (run seed, step, micro-batch, rank) without touching the global RNG,
so a run killed in one stage and resumed in the next replays bit-exactly.

Scoring an earlier stage: the minival is scored at the evaluation size (``image_size``) from the
first epoch, but batch norm's running statistics are those of the stage's smaller images, and
they do not carry over: on the digits, the weights after a 16 px epoch score a minival loss of
2.4 at 16 px and of 2e4 at 24 px (2.5 once the statistics are measured at 24 px); a feature map of
1x1 pixels at 16 px is 2x2 at 24 px, and every layer's mismatch compounds through ~40 BN layers.
So before a stage other than the last is scored (or shipped, by a run that ends in it),
:meth:`StageRunner.scoring_model` measures the statistics again at the evaluation size, on a copy,
from unaugmented training images (the same ones on every rank); the weights trained on, and
``last.pt``, are untouched. The last stage is scored as trained: the paper's protocol, which
evaluates V2-S trained at 300 px at 384 px.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

# The schedule is plain values, in a module of its own that the config imports; config files
# import ``Progressive`` from here too.
from .stages import Progressive as Progressive
from .stages import StageSettings

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ..data.datasets import DataSplits
    from ..data.loading import TransformedSubset
    from .build import Plan
    from .config import TrainConfig

#: Training images on which an earlier stage's batch-norm statistics are measured again before
#: it is scored at the evaluation size.
CALIBRATION_IMAGES = 256  # on the digits: minival loss 2.44 (256), 2.47 (512), 2.92 (64)


def mixup_seed(run_seed: int, step: int, micro: int, rank: int) -> int:
    """A per-(run, step, micro-batch, rank) seed: replayed exactly by a resumed run."""
    return ((run_seed * 1_000_003 + step) * 7_919 + micro * 131 + rank) & (2**62 - 1)


class StageRunner:
    """Applies a :class:`Progressive` schedule to a training run, epoch by epoch and batch by batch.

    ``enter`` (at the start of each epoch, and of a resumed one) swaps the training transform for
    the stage's size and RandAugment magnitude and sets the classifier's dropout; ``mix`` mixes a
    batch when the stage's mixup alpha is above 0, returning soft targets.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        train: TransformedSubset,
        num_classes: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        rank: int = 0,
    ) -> None:
        if cfg.progressive is None:
            raise ValueError("StageRunner needs a config with a progressive schedule")
        self.cfg, self.schedule, self.train = cfg, cfg.progressive, train
        self.num_classes, self.mean, self.std, self.rank = num_classes, mean, std, rank
        self.current: StageSettings | None = None
        self._micro = (-1, 0)  # (step, micro-batches seen in it)

    def transform(self, settings: StageSettings) -> Callable[[Any], Any]:
        from ..data.transforms import train_transform

        cfg = self.cfg
        return train_transform(
            settings.image_size,
            cfg.crop_scale_min,
            cfg.hflip,
            None,
            cfg.interpolation,
            self.mean,
            self.std,
            randaugment=settings.randaugment,
            randaugment_ops=self.schedule.randaugment_ops,
        )

    def enter(self, epoch: int, model: nn.Module) -> StageSettings | None:
        """Set up ``epoch``'s stage; returns its settings when they changed (a new stage)."""
        settings = self.schedule.at_epoch(epoch, self.cfg.epochs)
        if settings == self.current:
            return None
        self.current = settings
        self.train.transform = self.transform(settings)
        from torch import nn

        dropout = getattr(model, "dropout", None)
        if isinstance(dropout, nn.Dropout):
            dropout.p = settings.dropout
        return settings

    def mix(
        self, images: torch.Tensor, labels: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """torchvision's MixUp at the stage's alpha (hard labels unchanged when it is 0)."""
        last_step, seen = self._micro
        micro = seen if step == last_step else 0
        self._micro = (step, micro + 1)
        alpha = self.current.mixup if self.current is not None else 0.0
        if alpha <= 0:
            return images, labels
        import torch
        from torchvision.transforms import v2

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(mixup_seed(self.cfg.seed, step, micro, self.rank))
            return v2.MixUp(alpha=alpha, num_classes=self.num_classes)(images, labels)

    def scoring_model(
        self, model: nn.Module, images: TransformedSubset, eval_size: int, batch_size: int
    ) -> nn.Module:
        """The weights to score at ``eval_size``: ``model`` itself in the last stage or at that
        size; in an earlier stage, a copy with its BN statistics measured at ``eval_size`` on
        ``images``, ``batch_size`` at a time (see the module's notes)."""
        current = self.current
        last = self.schedule.stages - 1
        if current is None or current.stage == last or current.image_size == eval_size:
            return model
        return with_measured_bn(model, images, batch_size)


def scored_model(
    stages: StageRunner | None, model: nn.Module, data: DataSplits, plan: Plan
) -> nn.Module:
    """The weights a run scores (and ships): ``model``, or, in an earlier progressive stage, a
    copy with BN statistics measured at ``plan.image_size`` on the first
    :data:`CALIBRATION_IMAGES` training images (:meth:`StageRunner.scoring_model`)."""
    if stages is None:
        return model
    from ..data.loading import TransformedSubset
    from ..data.preprocess import eval_transform

    train, transform = data.train, eval_transform(data.preprocess)  # the evaluation's own size
    probe = TransformedSubset(
        train.base, train.indices[:CALIBRATION_IMAGES], transform, train.classes
    )
    return stages.scoring_model(model, probe, plan.image_size, plan.micro_batch)


def with_measured_bn(model: nn.Module, images: TransformedSubset, batch_size: int) -> nn.Module:
    """A copy of ``model`` whose BN running statistics are the plain average of their batch
    statistics over ``images`` (unreadable ones left out; none readable: ``model`` itself).

    Only the BN layers run in training mode, so dropout and stochastic depth do not change what
    they measure; no gradient, no random draw.
    """
    import copy

    import torch
    from torch import nn

    from ..data.loading import Skipped

    measured = copy.deepcopy(model).eval()
    norms = [m for m in measured.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: every batch counts the same
        norm.train()
    device = next(measured.parameters()).device
    seen = 0
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            samples = [images[i] for i in range(start, min(start + batch_size, len(images)))]
            batch = [image for image, *_ in (s for s in samples if not isinstance(s, Skipped))]
            if len(batch) > 1:  # BN cannot measure a batch of one
                measured(torch.stack(batch).to(device))
                seen += len(batch)
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
        norm.eval()
    return measured if seen else model
