"""A detection training run: the training config with a detector's defaults and fields.

:class:`DetectionConfig` is a :class:`~effnet.train.config.TrainConfig`, so the one training loop
trains it (resume, EMA, AMP, DDP through torchrun, gradient accumulation, the divergence guard)
and ``--override key=value`` parses its fields with the same rules; it names
:class:`effnet.detection.task.DetectionTask` as its task. What it adds is a detector's own: the
anchor scale, the generated shapes set, BN recalibration. A config file (``configs/d0_shapes.py``)
defines ``get_config()`` returning one. Reading a config does not load torch.

Defaults differ from a classifier's where detection differs: a val folder instead of a minival
held out of training (``minival_size=0``), an absolute learning rate (``lr``, not scaled by the
batch), smooth decay, no label smoothing, AutoAugment or crops, gradient clipping at 10 as the
official recipe, fp32 and NCHW (the recipe was measured so), the user's batch (never fitted).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from ..train.config import TrainConfig

OPTIMIZERS = ("sgd", "adamw", "rmsprop_tf")
#: Classification settings a detection run has no use for: left at their defaults, or refused.
CLASSIFICATION_ONLY = (
    "minival_size", "limit_train_images", "fit_batch", "lr_staircase", "label_smoothing",
    "autoaugment", "crop_scale_min", "dropout", "eval_crop_pct", "interpolation", "progressive",
    "init_checkpoint", "zero_init_head",
)  # fmt: skip


@dataclass
class DetectionConfig(TrainConfig):
    """One detector training run. Defaults are a short CPU run on the shapes set."""

    TASK: ClassVar[str] = "effnet.detection.task:DetectionTask"

    # --- model (image_size None = the model's: 512 for D0) --------------------------------------
    model: str = "efficientdet_d0"  # efficientdet_d0 ... d7
    drop_path_rate: float | None = None  # the backbone's stochastic depth; None = the spec's 0.2

    # --- data -----------------------------------------------------------------------------------
    dataset: str = "shapes"  # "shapes", or "coco": data_dir holds train/ and val/ COCO folders
    #                          (shapes: data_dir None = $EFFNET_HOME/datasets/shapes)
    minival_size: int = 0  # detection scores its own val/ folder
    autoaugment: str | None = None
    label_smoothing: float = 0.0

    # --- schedule and optimiser -----------------------------------------------------------------
    epochs: int = 10
    batch_size: int = 16
    optimizer: str = "adamw"
    lr: float | None = 2e-3  # absolute: the lr after warm-up whatever the batch
    weight_decay: float = 1e-4  # on conv weights only, not BN or biases
    warmup_epochs: float = 1.0
    lr_decay_rate: float = 0.5  # smooth exponential decay: x rate every lr_decay_epochs
    lr_decay_epochs: float = 3.0
    lr_staircase: bool = False
    grad_clip_norm: float = 10.0  # the official recipe clips at 10
    ema_decay: float = 0.999  # 0 = no EMA; else the EMA weights are evaluated and shipped

    # --- hardware and bookkeeping ---------------------------------------------------------------
    amp: str = "none"  # the recipe was measured in fp32; "bf16" (CPU or GPU) or "auto" to change
    channels_last: bool = False
    num_workers: int = 0
    output_dir: str = "runs/d0_shapes"
    log_every: int = 10
    select_on_minival: bool = False  # report the final weights' test mAP, as detection does

    # --- detection's own ------------------------------------------------------------------------
    anchor_scale: float | None = None  # None = the model's (4; 5 for D7)
    shapes_image_size: int = 64  # the generated images' side
    shapes_train: int = 1200
    shapes_val: int = 200
    shapes_test: int = 200
    shapes_max_shapes: int = 3
    shapes_min_size: int = 12
    shapes_max_size: int = 32
    # BN statistics recomputed on this many training images before scoring ("precise BN"); off:
    # on shapes it cost points (full run: test mAP@.5 52.6 -> 45.9; 40 steps: 2.2% -> 1.4%)
    bn_calibration_images: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()

        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(f"config: {message}")

        need(self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}")
        need(self.dataset in ("shapes", "coco"), "dataset must be 'shapes' or 'coco'")
        need(self.dataset == "shapes" or self.data_dir is not None, "coco needs a data_dir")
        need(self.lr is not None, "lr must be set (a detection config's lr is absolute)")
        need(self.image_size is None or self.image_size >= 32, "image_size must be >= 32")
        defaults = {f.name: f.default for f in dataclasses.fields(DetectionConfig)}
        changed = [k for k in CLASSIFICATION_ONLY if getattr(self, k) != defaults[k]]
        need(not changed, f"{', '.join(changed)}: a classifier's setting, unused by detection")

    def replace(self, **changes: Any) -> DetectionConfig:
        return dataclasses.replace(self, **changes)
