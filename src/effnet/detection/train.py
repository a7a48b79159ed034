"""Training a detector: the one training loop with :class:`~.task.DetectionTask`.

A :class:`~.config.DetectionConfig` is a training config that names the detection task, so
``effnet.train.train(cfg)`` and ``effnet train --config configs/d0_shapes.py`` train it through
:func:`effnet.train.loop.run` like a classifier: resume, EMA, AMP, DDP through torchrun, gradient
accumulation, the divergence guard, the run-folder lock, ``log.jsonl``, ``curves.png``,
``model.safetensors`` / ``best.safetensors`` (detector files) and ``summary.json``. This module
keeps the detection names people call: :func:`train_detector` and :func:`batch_loss`.
"""

from __future__ import annotations

import torch

from ..train.api import train
from ..train.result import TrainResult
from .config import DetectionConfig
from .model import EfficientDet
from .task import DetectionTask


def train_detector(
    cfg: DetectionConfig, resume: bool = False, overwrite: bool = False
) -> TrainResult:
    """Train ``cfg`` to the end (or ``max_steps``); ``resume`` continues ``output_dir/last.pt``.

    The same call as :func:`effnet.train.train`, typed for a detection config: the result's
    ``best_val_acc`` / ``test_acc`` are mAP@[.5:.95] (fractions), and the run's
    ``model.safetensors`` holds mAP@.5 beside them.
    """
    if not isinstance(cfg, DetectionConfig):
        raise TypeError(f"train_detector takes a DetectionConfig, got {type(cfg).__name__}")
    return train(cfg, resume=resume, overwrite=overwrite)


def batch_loss(
    model: EfficientDet, images: torch.Tensor, targets: list[dict]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, class loss, box loss) of one batch, in the model's current mode: the task's loss
    on the model's own forward pass."""
    return DetectionTask.for_model(model).losses(model(images), targets, images)
