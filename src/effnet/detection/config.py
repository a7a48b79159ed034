"""A detection training run as one dataclass, read from a config file like classification's.

A config file (``configs/d0_shapes.py``) defines ``get_config()`` returning a
:class:`DetectionConfig`; ``effnet train --config`` tells it from a classification config by that
type. ``--override key=value`` parses values with the same rules as classification
(:func:`effnet.train.config.parse_value`). Reading a config does not load torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..train.config import ConfigModule, apply_overrides, load_config_module

OPTIMIZERS = ("sgd", "adamw", "rmsprop_tf")


@dataclass
class DetectionConfig:
    """One detector training run. Defaults are a short CPU run on the shapes set."""

    # --- model ----------------------------------------------------------------------------------
    model: str = "efficientdet_d0"  # efficientdet_d0 ... d7
    image_size: int | None = None  # None = the model's (512 for D0); training and eval input
    anchor_scale: float | None = None  # None = the model's (4; 5 for D7)
    bn_momentum: float | None = None  # None = the spec's 0.01 (PyTorch terms)
    drop_path_rate: float | None = None  # the backbone's stochastic depth; None = the spec's 0.2

    # --- data -----------------------------------------------------------------------------------
    dataset: str = "shapes"  # "shapes", or "coco": data_dir holds train/ and val/ COCO folders
    data_dir: str | None = None  # COCO folders' root; shapes: None = $EFFNET_HOME/datasets/shapes
    shapes_image_size: int = 64  # the generated images' side
    shapes_train: int = 1200
    shapes_val: int = 200
    shapes_test: int = 200
    shapes_max_shapes: int = 3
    shapes_min_size: int = 12
    shapes_max_size: int = 32
    hflip: bool = True

    # --- schedule and optimiser -----------------------------------------------------------------
    epochs: int = 10
    max_steps: int | None = None  # stop early (tests, quick looks); the schedule still spans epochs
    batch_size: int = 16
    optimizer: str = "adamw"
    lr: float = 2e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4  # on conv weights only, not BN or biases
    warmup_epochs: float = 1.0
    lr_decay_rate: float = 0.5  # smooth exponential decay: x rate every lr_decay_epochs
    lr_decay_epochs: float = 3.0
    grad_clip_norm: float = 10.0  # the official recipe clips at 10
    ema_decay: float = 0.999  # 0 = no EMA; else the EMA weights are evaluated and shipped
    ema_warmup: bool = True
    # BN statistics recomputed on this many training images before scoring ("precise BN"); off:
    # on shapes it cost points (full run: test mAP@.5 52.6 -> 45.9; 40 steps: 2.2% -> 1.4%)
    bn_calibration_images: int = 0

    # --- bookkeeping ----------------------------------------------------------------------------
    device: str = "auto"
    num_workers: int = 0
    output_dir: str = "runs/d0_shapes"
    seed: int = 0
    log_every: int = 10
    eval_every: int = 1  # epochs between validation mAPs

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(f"config: {message}")

        need(self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}")
        need(self.dataset in ("shapes", "coco"), "dataset must be 'shapes' or 'coco'")
        need(self.dataset == "shapes" or self.data_dir is not None, "coco needs a data_dir")
        need(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        need(self.max_steps is None or self.max_steps >= 1, "max_steps must be >= 1")
        need(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        need(self.lr > 0, f"lr must be positive, got {self.lr}")
        need(0 <= self.ema_decay < 1, f"ema_decay must be in [0, 1), got {self.ema_decay}")
        need(self.image_size is None or self.image_size >= 32, "image_size must be >= 32")
        need(self.eval_every >= 1 and self.log_every >= 1, "eval_every and log_every must be >= 1")

    def replace(self, **changes: Any) -> DetectionConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: Fields a resumed run may change: how long and where it runs, not what it trains.
RESUMABLE_CHANGES = frozenset({"epochs", "max_steps", "device", "num_workers", "log_every"})


def apply_detection_overrides(cfg: DetectionConfig, overrides: list[str]) -> DetectionConfig:
    """``["epochs=3", "image_size=none"]`` -> a new config; the training configs' one parser."""
    return apply_overrides(cfg, overrides)


def load_detection_config(
    path_or_name: str | Path, overrides: list[str] | None = None
) -> DetectionConfig | None:
    """The file's :class:`DetectionConfig` with overrides, or None for any other config."""
    return detection_config(load_config_module(path_or_name), overrides)


def detection_config(
    module: ConfigModule, overrides: list[str] | None = None
) -> DetectionConfig | None:
    """The loaded config file's :class:`DetectionConfig` with overrides, or None for any other
    config (``effnet train`` asks this first, then for a training config, of one loaded file)."""
    cfg = module.settings
    if not isinstance(cfg, DetectionConfig):
        return None
    return apply_detection_overrides(cfg, overrides or [])
