"""What a task hands the one training loop: the parts that differ between classification and
detection, and nothing the loop owns.

The loop (:mod:`.loop`) owns how a run trains: resume, EMA, AMP, DDP, gradient accumulation, the
divergence guard, the run-folder lock, logs, curves, ``best.safetensors`` and ``summary.json``.
A :class:`Task` owns what is trained and how it is judged:

* **what is trained** -- :meth:`~Task.spec` (the architecture from the config),
  :meth:`~Task.load_data` (train / val / test splits and their class names),
  :meth:`~Task.build_model`, :meth:`~Task.is_head` (which parameters are the head, for the
  backbone's learning-rate scale and freezing) and :meth:`~Task.train_mode`;
* **one batch** -- :meth:`~Task.collate` (a batch as ``(images, targets, unreadable)``: targets
  are a tensor of labels for one task and a list of box dictionaries for another),
  :meth:`~Task.to_device`, and :meth:`~Task.loss`, which the loop calls on the outputs of its own
  forward pass (under autocast, through DDP) and outside autocast, so every task's loss is fp32
  and the loop's gradient scaling and accumulation apply the same way to all;
* **how it is judged** -- :attr:`~Task.metric` (the headline's name, its key in ``log.jsonl``
  and the curves' labels, so a detector's plot says mAP, not top-1), :meth:`~Task.score` (a
  model on a split, over every rank), :meth:`~Task.headline` (the value that picks the best
  weights) and :meth:`~Task.score_loss` (what the divergence guard reads);
* **what ships** -- :meth:`~Task.export` (``model.safetensors`` / ``best.safetensors`` with the
  header's ``task`` field that ``effnet.load``, ``eval``, ``export`` and ``predict`` dispatch on)
  and :meth:`~Task.facts` (what the meaningless-result check needs; None where chance has no
  meaning).

A config names its task (:attr:`TrainConfig.TASK <effnet.train.config.TrainConfig>`, a
``module:Class`` string): :func:`task_for` builds it, so ``effnet.train.train(cfg)`` trains a
classifier or a detector alike while this package imports nothing of detection's.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from .. import evaluation
from ..data.loading import collate_skipping
from . import batches, build, distributed, sanity
from .config import TrainConfig


@dataclass(frozen=True)
class Metric:
    """A task's headline metric and how its curves are labelled.

    ``key`` is the name of the minival value in ``log.jsonl`` and ``history`` (``val_acc`` for
    classification, kept so existing logs, plots and summaries read the same), ``name`` the
    metric's name in ``summary.json``, ``title`` its name in the lines a run prints, ``label``
    and ``loss_label`` the curves' axes.
    """

    name: str
    key: str
    title: str
    label: str
    loss_label: str
    split: str = "minival"  # what the scored held-out images are called in the lines printed


@dataclass(frozen=True)
class ScoreContext:
    """How the loop scores a split: on which ranks and device, in batches of what size."""

    d: distributed.Dist
    batch_size: int
    num_workers: int
    amp_dtype: torch.dtype | None
    channels_last: bool
    on_skipped: Callable[[Any], None]

    def loader(self, dataset: Any, collate: Callable) -> torch.utils.data.DataLoader:
        """This rank's shard of ``dataset`` (every world_size-th item)."""
        return batches.shard_loader(dataset, self.d, self.batch_size, self.num_workers, collate)


@runtime_checkable
class Task(Protocol):
    """The parts of a run that depend on what is learned (see the module docstring)."""

    name: str
    metric: Metric

    def spec(self, cfg: TrainConfig) -> Any:
        """The architecture to build (``.name``, ``.bn_momentum``), with the config's changes."""
        ...

    def image_size(self, cfg: TrainConfig, spec: Any) -> int:
        """The input size the run trains and scores at."""
        ...

    def load_data(
        self,
        cfg: TrainConfig,
        image_size: int,
        say: Callable[..., None],
        classes: list[str] | None = None,
    ) -> Any:
        """The splits: ``train``, ``val``, ``test`` (None when absent), ``class_names``,
        ``num_classes``; warnings about them go to ``say(text, err=True)``. ``classes``: a resumed
        run's label order, for data that can follow it (the loop checks it either way)."""
        ...

    def build_model(self, cfg: TrainConfig, spec: Any, data: Any, d: distributed.Dist) -> nn.Module:
        """A fresh model on ``d.device``, from ``cfg.seed`` alone (every rank the same)."""
        ...

    def is_head(self, parameter: str) -> bool:
        """Whether the parameter named so belongs to the head (not the pretrained backbone)."""
        ...

    def collate(self, batch: list[Any]) -> tuple[torch.Tensor | None, Any, list[Any]]:
        """Loaded items -> (images or None, targets, unreadable items)."""
        ...

    def train_mode(self, model: nn.Module, frozen_backbone: bool) -> None:
        """Put ``model`` in training mode; with a frozen backbone only the head's BN updates."""
        ...

    def to_device(self, targets: Any, device: torch.device) -> Any:
        """``targets`` on ``device``, in the form :meth:`loss` reads them."""
        ...

    def loss(self, outputs: Any, targets: Any, images: torch.Tensor) -> torch.Tensor:
        """The batch's mean training loss (a scalar), from the model's ``outputs``."""
        ...

    def prepare_scoring(self, model: nn.Module, data: Any) -> nn.Module:
        """The weights to score and ship (``model``, or a copy with recalibrated statistics)."""
        ...

    def score(self, model: nn.Module, dataset: Any, ctx: ScoreContext) -> Any:
        """``model`` on ``dataset``, every rank scoring its shard; the same result on all ranks."""
        ...

    def headline(self, scores: Any) -> float:
        """The value of :attr:`metric` in ``scores`` as a fraction (higher is better)."""
        ...

    def score_loss(self, scores: Any) -> float | None:
        """The mean loss on the scored images (None: none could be read)."""
        ...

    def probe(self, data: Any, count: int) -> Any:
        """``count`` training images without augmentation, for a run with no val split."""
        ...

    def export(self, path: Any, model: nn.Module, run: ExportFacts) -> None:
        """Write ``model`` as a shareable checkpoint of this task."""
        ...

    def facts(self, data: Any, spec: Any) -> sanity.RunFacts | None:
        """What :mod:`.sanity` reads to call a result meaningless; None where it cannot judge."""
        ...


@dataclass(frozen=True)
class ExportFacts:
    """What a run knows when it writes weights: their data, recipe, progress and scores."""

    data: Any
    cfg: TrainConfig
    progress: Any  # a checkpoint.Progress: epochs and steps done, the best val headline
    val_scores: Any = None  # the exported weights' scores on the val split, when known
    test_scores: Any = None  # ... and on the test split


def set_train_mode(model: nn.Module, frozen_backbone: bool, is_head: Callable[[str], bool]) -> None:
    """Train mode; while the backbone is frozen its BN layers keep their statistics too, and only
    the modules ``is_head`` names (by a parameter-style ``name.`` prefix) update theirs."""
    model.train()
    if frozen_backbone:
        for name, module in model.named_modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and not is_head(name + "."):
                module.eval()


def task_for(cfg: TrainConfig) -> Task:
    """The task ``cfg`` names (:attr:`TrainConfig.TASK`), built from it."""
    module_name, _, class_name = type(cfg).TASK.partition(":")
    return getattr(importlib.import_module(module_name), class_name)(cfg)


class ClassificationTask:
    """A classifier: cross-entropy (with label smoothing) on logits, judged by top-1."""

    name = "classification"
    metric = Metric(
        name="top1",
        key="val_acc",
        title="top-1",
        label="minival top-1 (%)",
        loss_label="cross-entropy",
    )

    def __init__(self, cfg: TrainConfig | None = None):
        self.label_smoothing = cfg.label_smoothing if cfg is not None else 0.0

    def spec(self, cfg: TrainConfig) -> Any:
        """The init checkpoint's architecture when fine-tuning, else ``cfg.model``'s."""
        return build.model_spec(cfg)

    def image_size(self, cfg: TrainConfig, spec: Any) -> int:
        return cfg.image_size or spec.resolution

    def load_data(
        self,
        cfg: TrainConfig,
        image_size: int,
        say: Callable[..., None],
        classes: list[str] | None = None,
    ) -> Any:
        """Image folders are labelled by their sorted names: ``classes`` cannot reorder them."""
        data = build.load_data(cfg, image_size)
        if (warning := build.split_warning(data)) is not None:
            say(warning, err=True)
        return data

    def build_model(self, cfg: TrainConfig, spec: Any, data: Any, d: distributed.Dist) -> nn.Module:
        return build.prepare_model(cfg, spec, data.num_classes, d)

    def is_head(self, parameter: str) -> bool:
        return parameter.startswith("classifier.")

    def collate(self, batch: list[Any]) -> tuple[torch.Tensor | None, Any, list[Any]]:
        return collate_skipping(batch)

    def train_mode(self, model: nn.Module, frozen_backbone: bool) -> None:
        """Train mode; a frozen backbone keeps its BN statistics fixed too (only the head
        learns)."""
        set_train_mode(model, frozen_backbone, self.is_head)

    def to_device(self, targets: torch.Tensor, device: torch.device) -> torch.Tensor:
        """Class indices (or mixup's soft targets) on ``device``."""
        return targets.to(device, non_blocking=True)

    def loss(
        self, outputs: torch.Tensor, targets: torch.Tensor, images: torch.Tensor
    ) -> torch.Tensor:
        """Cross-entropy in fp32 (logits from an autocast forward may be fp16/bf16)."""
        return F.cross_entropy(outputs.float(), targets, label_smoothing=self.label_smoothing)

    def prepare_scoring(self, model: nn.Module, data: Any) -> nn.Module:
        return model

    def score(self, model: nn.Module, dataset: Any, ctx: ScoreContext) -> evaluation.Scores:
        """Top-1/top-5/loss counts of every rank's shard, summed."""
        scores = evaluation.evaluate(
            model,
            ctx.loader(dataset, self.collate),
            device=ctx.d.device,
            amp_dtype=ctx.amp_dtype,
            channels_last=ctx.channels_last,
            on_skipped=ctx.on_skipped,
        )
        return scores.merge(distributed.all_reduce_sum(ctx.d, scores.totals()))

    def headline(self, scores: evaluation.Scores) -> float:
        """Top-1 accuracy on the scored images."""
        return scores.top1

    def score_loss(self, scores: evaluation.Scores) -> float | None:
        return scores.loss if scores.count else None

    def probe(self, data: Any, count: int) -> Any:
        return build.probe_images(data, count)

    def export(self, path: Any, model: nn.Module, run: ExportFacts) -> None:
        """An effnet classifier checkpoint: weights, classes, preprocessing and provenance."""
        from ..weights.checkpoint import save_model

        test = self.headline(run.test_scores) if run.test_scores is not None else None
        extra = {
            "trained_on": run.cfg.dataset,
            "epochs": run.progress.epoch,
            "steps": run.progress.step,
            "best_val_acc": run.progress.best_val_acc,
            "test_acc": test,
        }
        save_model(path, model, run.data.class_names, run.data.preprocess, extra=extra)

    def facts(self, data: Any, spec: Any) -> sanity.RunFacts | None:
        return sanity.run_facts(data, spec)
