"""A run's pieces, built from its config in the order the loop sets them up.

The data decides the run's sizes (:class:`Plan`: micro-batch, steps per epoch, total steps), so it
comes first; then the model, built from the same seed on every rank so that every rank starts from
the same weights; then what trains it (:func:`fresh_state`: EMA, optimizer, schedule, AMP scaler);
last the wrapper the forward pass runs through (DDP across ranks, ``torch.compile``). Mistakes in
the config (a batch larger than the data set, a batch that does not split over ranks) surface
here, before anything trains.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..data.datasets import DataSplits, build_datasets
from ..data.folders import training_root
from ..data.loading import TransformedSubset, class_counts
from ..data.preprocess import eval_transform
from ..registry import get_spec
from ..spec import NetSpec
from ..weights.checkpoint import read_metadata
from ..weights.factory import create_model
from ..weights.pretrained import WEIGHTS, WeightSet
from . import fit
from .checkpoint import TrainState
from .config import TrainConfig
from .distributed import Dist, data_parallel
from .ema import ModelEma
from .optim import build_optimizer, param_groups
from .schedule import PaperSchedule, scaled_lr


@dataclass(frozen=True)
class Plan:
    """The run's sizes, fixed before the first step by the data set, the batch and the ranks."""

    image_size: int
    micro_batch: int  # images per forward pass on one rank
    steps_per_epoch: int  # optimizer updates per epoch
    total_steps: int  # all epochs', or max_steps when that is fewer
    base_lr: float  # the learning rate after warm-up, before decay
    batch_size: int = 0  # global images per full step, as fitted (0: the config's)
    tail: tuple[int, ...] = ()  # one rank's micro-batches in a kept incomplete last step
    note: str = ""  # the fit's choice and reason, when it is worth a line

    @property
    def full_steps(self) -> int:
        """Steps of a whole batch an epoch (the last one may be a smaller ``tail``)."""
        return self.steps_per_epoch - (1 if self.tail else 0)


def apply_determinism(cfg: TrainConfig, device: torch.device) -> None:
    """Deterministic kernels when asked (bit-exact reruns), cuDNN autotuning otherwise."""
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not cfg.deterministic


def model_spec(cfg: TrainConfig) -> NetSpec:
    """The architecture: the init checkpoint's own when fine-tuning, else ``cfg.model``'s.

    ``bn_momentum`` is a training choice, not architecture: short runs (the digits demo) need BN
    running statistics that follow the weights faster than the paper's 0.99 allows.
    """
    registered = registered_init(cfg)
    if registered is not None:
        spec = get_spec(registered.model).replace(bn_eps=registered.bn_eps)
    elif cfg.init_checkpoint:
        spec = read_metadata(cfg.init_checkpoint)["spec"]
    else:
        spec = get_spec(cfg.model)
    if cfg.bn_momentum is not None:
        spec = spec.replace(bn_momentum=cfg.bn_momentum)
    return spec


def registered_init(cfg: TrainConfig) -> WeightSet | None:
    """The registered pretrained weights ``init_checkpoint`` names, if it names some.

    ``init_checkpoint`` is an effnet checkpoint file or a registered weight name
    (``efficientnet_lite0.lite_pytorch_in1k``), so a config can start from published weights.
    """
    name = cfg.init_checkpoint
    if not name or os.path.exists(name) or name not in WEIGHTS:
        return None
    return WEIGHTS[name]


def init_normalization(cfg: TrainConfig) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The (mean, std) the starting weights were trained with; None (ImageNet's) from scratch.

    Fine-tuning feeds the data the way the weights expect it: TensorFlow's Lite weights take
    (x - 127) / 128, which ImageNet's mean/std would shift and stretch by about 2x.
    """
    registered = registered_init(cfg)
    if registered is not None:
        pre = registered.preprocess
    elif cfg.init_checkpoint:
        pre = read_metadata(cfg.init_checkpoint)["preprocess"]
    else:
        return None
    return (tuple(pre.mean), tuple(pre.std)) if pre is not None else None


def load_data(cfg: TrainConfig, image_size: int) -> DataSplits:
    """The train / minival / test splits with the config's augmentation and evaluation crop.

    One class is refused: a classifier of one class is right on every image without learning
    anything (its minival says 100%).
    """
    data = build_datasets(
        cfg.dataset,
        cfg.data_dir,
        image_size,
        minival_size=cfg.minival_size,
        limit_train_images=cfg.limit_train_images,
        crop_scale_min=cfg.crop_scale_min,
        hflip=cfg.hflip,
        autoaugment=cfg.autoaugment,
        eval_crop_pct=cfg.eval_crop_pct,
        interpolation=cfg.interpolation,
        normalization=init_normalization(cfg),
    )
    if data.num_classes < 2:
        where = training_root(cfg.data_dir) if cfg.dataset == "imagefolder" else cfg.dataset
        found = f"one class folder, {data.class_names[0]!r}" if data.class_names else "no classes"
        raise ValueError(
            f"{where} has {found}; a classifier needs at least two classes (one sub-folder of "
            "images per class)"
        )
    return data


def probe_images(data: DataSplits, count: int) -> TransformedSubset:
    """The first ``count`` training images, without augmentation: what a run without a minival
    scores its weights on at each evaluation, to see that they predict numbers before saving."""
    train = data.train
    transform = eval_transform(data.preprocess)
    return TransformedSubset(train.base, train.indices[:count], transform, train.classes)


def split_warning(data: DataSplits) -> str | None:
    """A warning naming the classes the minival hold-out cannot split, or None.

    The minival is drawn from the training images at random, not per class: a class of one image
    cannot be both trained on and validated, and one whose images all went to the minival is
    never trained on at all.
    """
    if data.val is None:
        return None
    train, val = class_counts(data.train), class_counts(data.val)
    if train is None or val is None:
        return None
    names = data.class_names
    single = [names[i] for i, (t, v) in enumerate(zip(train, val, strict=True)) if t + v == 1]
    unseen = [names[i] for i, (t, v) in enumerate(zip(train, val, strict=True)) if t == 0 < v]
    if not single and not unseen:
        return None

    def some(items: list[str]) -> str:
        return ", ".join(items[:5]) + (", ..." if len(items) > 5 else "")

    parts = []
    if single:
        parts.append(
            f"{len(single)} of {len(names)} classes have a single image and cannot be split "
            f"between training and the minival ({some(single)})"
        )
    if unseen:
        parts.append(
            f"{len(unseen)} classes have every image in the minival and are never trained on "
            f"({some(unseen)})"
        )
    return (
        f"warning: {'; '.join(parts)}; add images to those classes, or set minival_size=0 to "
        "train on every image"
    )


def micro_batch(cfg: TrainConfig, world_size: int) -> int:
    """Images per forward pass on one process: the global batch split over ranks and micro-steps."""
    return fit.micro_batch(cfg.batch_size, world_size, cfg.grad_accum_steps)


def plan_run(cfg: TrainConfig, image_size: int, train_images: int, world_size: int) -> Plan:
    """Sizes from the data: the batch and the epoch's steps as :func:`.fit.choose_batch` fits
    them (every rank the same steps), the learning rate following the batch."""
    chosen = fit.choose_batch(
        cfg.batch_size, train_images, world_size, cfg.grad_accum_steps, fit=cfg.fit_batch
    )
    total_steps = chosen.steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    base_lr = cfg.lr if cfg.lr is not None else scaled_lr(cfg.lr_per_256, chosen.batch_size)
    note = chosen.line(base_lr) if chosen.worth_saying() else ""
    return Plan(
        image_size, chosen.micro_batch, chosen.steps_per_epoch, total_steps, base_lr,
        chosen.batch_size, chosen.tail, note,
    )  # fmt: skip


def as_run(cfg: TrainConfig, spec: NetSpec, plan: Plan) -> TrainConfig:
    """``cfg`` as it trains: the model it names is the architecture built (a fine-tune's init
    checkpoint decides it, not ``model``), and its batch the one :func:`plan_run` fitted.

    This is what config.json and last.pt record, so a resume re-fits to the same batch (the fit
    is idempotent) and a changed data set that would fit another is refused by name.
    """
    model = spec.name if cfg.init_checkpoint else cfg.model
    return cfg.replace(model=model, batch_size=plan.batch_size or cfg.batch_size)


def build_model(cfg: TrainConfig, spec: NetSpec, num_classes: int) -> nn.Module:
    """A fresh model, or the init checkpoint's (new classifier when the class count differs)."""
    registered = registered_init(cfg)
    model = create_model(
        registered.model if registered is not None else spec,
        pretrained=registered.name if registered is not None else (cfg.init_checkpoint or False),
        num_classes=num_classes,
        dropout=cfg.dropout,
        drop_path_rate=cfg.drop_path_rate,
    )
    if registered is not None:  # converted with the publisher's numerics; train with the config's
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = spec.bn_momentum
        model.spec = spec
    return model


def prepare_model(cfg: TrainConfig, spec: NetSpec, num_classes: int, d: Dist) -> nn.Module:
    """The model on its device, seeded by ``cfg.seed`` alone: every rank holds the same weights."""
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, spec, num_classes)
    if cfg.zero_init_head and isinstance(model.classifier, nn.Linear):
        nn.init.zeros_(model.classifier.weight)
        nn.init.zeros_(model.classifier.bias)
    model.to(device=d.device, memory_format=memory_format(cfg))
    if cfg.sync_bn and d.enabled:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def fresh_state(
    cfg: TrainConfig,
    model: nn.Module,
    plan: Plan,
    amp_dtype: torch.dtype | None,
    d: Dist,
    is_head: Callable[[str], bool] | None = None,
) -> TrainState:
    """What trains ``model`` from step 0: EMA, optimizer, the paper's schedule, the AMP scaler.

    ``is_head`` names the head's parameters (the task's), for ``backbone_lr_scale`` and freezing.

    The scaler only scales for fp16; bf16 and fp32 gradients do not underflow.
    """
    ema = ModelEma(model, cfg.ema_decay, cfg.ema_warmup) if cfg.ema_decay > 0 else None
    optimizer = build_optimizer(cfg, param_groups(model, cfg, is_head), plan.base_lr)
    schedule = PaperSchedule(
        optimizer,
        plan.steps_per_epoch,
        plan.base_lr,
        cfg.warmup_epochs,
        cfg.lr_decay_rate,
        cfg.lr_decay_epochs,
        cfg.lr_staircase,
        cfg.freeze_backbone_epochs,
        cosine_total_steps=plan.total_steps if cfg.lr_schedule == "cosine" else None,
    )
    scaler = torch.amp.GradScaler(d.device.type, enabled=amp_dtype == torch.float16)
    return TrainState(model, optimizer, schedule, scaler, ema)


def wrap_for_training(model: nn.Module, cfg: TrainConfig, d: Dist) -> nn.Module:
    """What the forward pass runs through: DDP across ranks, compiled when asked."""
    train_model = model
    if d.enabled:
        train_model = data_parallel(model, d)  # BN buffers: averaged, not broadcast
    if cfg.compile:
        train_model = torch.compile(train_model)
    return train_model


def memory_format(cfg: TrainConfig) -> torch.memory_format:
    """NHWC when ``channels_last`` (faster depthwise convolutions on GPUs), else NCHW."""
    return torch.channels_last if cfg.channels_last else torch.contiguous_format
