"""Training a detector with the classification engine's parts.

The loop is detection's own (targets per anchor, focal + box loss, mAP instead of accuracy), but
everything around it is the engine's: :func:`effnet.train.optim.build_optimizer` and
``param_groups`` (no weight decay on BN and biases), :class:`~effnet.train.schedule.PaperSchedule`
(linear warm-up, exponential decay), :class:`~effnet.train.ema.ModelEma` (the EMA weights are
evaluated and shipped), :class:`~effnet.train.logs.RunLogger` (``log.jsonl`` + TensorBoard) and
``plot_curves``, and the resumable ``last.pt`` of :mod:`effnet.train.checkpoint` with every RNG
state, so ``--resume`` continues a run as if it had never stopped. A run writes
``model.safetensors`` (a detector checkpoint that ``effnet eval`` and ``effnet detect`` read on
their own), ``last.pt``, ``log.jsonl`` and ``curves.png`` into ``output_dir``.
"""

from __future__ import annotations

import copy
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..models import resolve_device
from ..train import rundir
from ..train.checkpoint import load_state, rng_state, save_atomic, set_rng_state
from ..train.config import TrainConfig
from ..train.ema import ModelEma
from ..train.logs import RunLogger, Window, plot_curves
from ..train.optim import build_optimizer, param_groups
from ..train.schedule import PaperSchedule
from ..weights.fetch import home
from .anchors import anchors_for, batch_targets
from .checkpoint import save_detector
from .coco import CocoFolder, collate
from .config import RESUMABLE_CHANGES, DetectionConfig
from .evaluate import evaluate_detector
from .loss import detection_loss, flatten_outputs
from .model import EfficientDet
from .shapes import ShapesSpec, ensure_shapes
from .spec import DetSpec, get_det_spec


@dataclass
class DetProgress:
    epoch: int = 0  # completed epochs
    step: int = 0  # optimizer updates so far
    step_in_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DetTrainResult:
    output_dir: str
    steps: int
    epochs: int
    val_map: float | None
    val_map50: float | None
    test_map: float | None
    test_map50: float | None


def det_spec_for(cfg: DetectionConfig) -> DetSpec:
    """The model's spec with the config's input size, anchor scale and BN momentum."""
    spec = get_det_spec(cfg.model)
    changes: dict[str, Any] = {}
    for key in ("image_size", "anchor_scale", "bn_momentum", "drop_path_rate"):
        if getattr(cfg, key) is not None:
            changes[key] = getattr(cfg, key)
    return spec.replace(**changes)


def data_folders(cfg: DetectionConfig) -> dict[str, Path]:
    """train/val(/test) COCO folders: the shapes set (written on first use) or ``data_dir``'s."""
    if cfg.data_dir is not None:
        root = Path(cfg.data_dir).expanduser()
    else:  # the shapes set, written once beside the weights cache (~/.cache/effnet)
        root = home() / "datasets" / "shapes"
    if cfg.dataset == "shapes":
        shapes = ShapesSpec(
            image_size=cfg.shapes_image_size,
            train=cfg.shapes_train,
            val=cfg.shapes_val,
            test=cfg.shapes_test,
            max_shapes=cfg.shapes_max_shapes,
            min_size=cfg.shapes_min_size,
            max_size=cfg.shapes_max_size,
        )
        ensure_shapes(root, shapes)
    folders = {split: root / split for split in ("train", "val", "test")}
    for split in ("train", "val"):
        if not (folders[split] / "annotations.json").is_file():
            raise FileNotFoundError(f"{folders[split]} has no annotations.json (a COCO folder)")
    return {k: v for k, v in folders.items() if (v / "annotations.json").is_file()}


def _engine_config(cfg: DetectionConfig) -> TrainConfig:
    """The classification config fields the engine's optimizer builders read."""
    return TrainConfig(
        optimizer=cfg.optimizer, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )


def _build(cfg: DetectionConfig, num_classes: int, steps_per_epoch: int) -> dict[str, Any]:
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    model = EfficientDet(det_spec_for(cfg), num_classes)
    engine = _engine_config(cfg)
    optimizer = build_optimizer(engine, param_groups(model, engine), cfg.lr)
    schedule = PaperSchedule(
        optimizer,
        steps_per_epoch,
        cfg.lr,
        cfg.warmup_epochs,
        cfg.lr_decay_rate,
        cfg.lr_decay_epochs,
        staircase=False,
    )
    ema = ModelEma(model, cfg.ema_decay, cfg.ema_warmup) if cfg.ema_decay > 0 else None
    return {"model": model, "optimizer": optimizer, "schedule": schedule, "ema": ema}


def _save(path: Path, cfg: DetectionConfig, run: dict[str, Any], progress: DetProgress) -> None:
    ema = run["ema"]
    save_atomic(
        {
            "config": cfg.to_dict(),
            "world_size": 1,
            "model": run["model"].state_dict(),
            "optimizer": run["optimizer"].state_dict(),
            "schedule": run["schedule"].state_dict(),
            "scaler": {},
            "ema": ema.state_dict() if ema is not None else None,
            "progress": asdict(progress),
            "rng": [rng_state()],
        },
        path,
    )


def _resume(path: Path, cfg: DetectionConfig, run: dict[str, Any]) -> DetProgress:
    saved = load_state(path)
    before = saved["config"]
    changed = [
        k for k, v in cfg.to_dict().items() if k not in RESUMABLE_CHANGES and before.get(k) != v
    ]
    if changed:
        diffs = ", ".join(f"{k}: {before.get(k)!r} -> {getattr(cfg, k)!r}" for k in changed[:4])
        raise ValueError(f"cannot resume with a different config ({diffs})")
    run["model"].load_state_dict(saved["model"])
    run["optimizer"].load_state_dict(saved["optimizer"])
    run["schedule"].load_state_dict(saved["schedule"])
    if run["ema"] is not None:
        run["ema"].load_state_dict(saved["ema"])
    set_rng_state(saved["rng"][0])
    return DetProgress(**saved["progress"])


def _batches(data: CocoFolder, cfg: DetectionConfig, epoch: int, skip: int) -> DataLoader:
    """The epoch's batches in a seeded order (the same after a resume), ``skip`` already done."""
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(cfg.seed + epoch))
    usable = len(order) // cfg.batch_size * cfg.batch_size  # whole batches only: BN needs > 1
    indices = order[skip * cfg.batch_size : usable].tolist()
    return DataLoader(
        torch.utils.data.Subset(data, indices),
        batch_size=cfg.batch_size,
        shuffle=False,
        collate_fn=collate,
        num_workers=cfg.num_workers,
    )


def train_step(
    model: EfficientDet, images: torch.Tensor, targets: list[dict], clip: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward + backward of one batch; returns (loss, class loss, box loss), gradients set."""
    anchors = anchors_for(model.spec, tuple(images.shape[-2:]), images.device)
    moved = [{k: t[k].to(images.device) for k in ("boxes", "labels")} for t in targets]
    classes, codes, positive = batch_targets(anchors, moved)
    class_maps, box_maps = model(images)
    losses = detection_loss(
        flatten_outputs(class_maps, model.num_classes),
        flatten_outputs(box_maps, 4),
        classes,
        codes,
        positive,
    )
    losses[0].backward()
    if clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), clip)
    return losses


def _eval_model(run: dict[str, Any]) -> EfficientDet:
    """The weights that are scored and shipped (the EMA's), with recalibrated BN statistics."""
    model = run["ema"].module if run["ema"] is not None else run["model"]
    calibration = run.get("calibration")
    if calibration is None:
        return model
    return recalibrate_bn(copy.deepcopy(model), calibration)


@torch.no_grad()
def recalibrate_bn(model: EfficientDet, batches: list[torch.Tensor]) -> EfficientDet:
    """Re-estimate every BN's running mean and variance as the plain average over ``batches``.

    "Precise BN" (Wu & Johnson, 2021): the running statistics are an exponential average over
    steps whose weights kept moving. Off by default (``bn_calibration_images=0``): on the shapes
    set the EMA's own averaged statistics scored better (see :class:`DetectionConfig`), likely
    because these batches run in train mode, with stochastic depth. Returns ``model`` in eval mode.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    model.train()
    device = next(model.parameters()).device
    for images in batches:
        model(images.to(device))
    for bn, momentum in zip(norms, momenta, strict=True):
        bn.momentum = momentum
    return model.eval()


def calibration_batches(data: CocoFolder, cfg: DetectionConfig) -> list[torch.Tensor] | None:
    """The first ``bn_calibration_images`` training images (no flips), in batches; None if off."""
    count = min(cfg.bn_calibration_images, len(data))
    if count < 2:
        return None
    images = torch.stack([data[i][0] for i in range(count)])
    return list(images.split(cfg.batch_size))


def _run_epoch(
    cfg: DetectionConfig,
    run: dict[str, Any],
    data: CocoFolder,
    progress: DetProgress,
    logger: RunLogger,
    device: torch.device,
) -> bool:
    """Train one epoch (or its rest, after a resume); False when ``max_steps`` stopped it."""
    model, optimizer, schedule, ema = run["model"], run["optimizer"], run["schedule"], run["ema"]
    steps_per_epoch = schedule.steps_per_epoch
    window = Window()
    model.train()
    for images, targets in _batches(data, cfg, progress.epoch, progress.step_in_epoch):
        if cfg.max_steps is not None and progress.step >= cfg.max_steps:
            return False
        lr = schedule.set_step(progress.step)
        optimizer.zero_grad(set_to_none=True)
        loss, cls, box = train_step(model, images.to(device), targets, cfg.grad_clip_norm)
        optimizer.step()
        if ema is not None:
            ema.update(model)
        progress.step += 1
        progress.step_in_epoch += 1
        window.add(float(loss.detach()), len(images), 1)
        if progress.step % cfg.log_every == 0:
            epoch = progress.epoch + progress.step_in_epoch / steps_per_epoch
            record = window.record(epoch, lr)
            logger.log(
                "train",
                progress.step,
                **record,
                cls_loss=float(cls.detach()),
                box_loss=float(box.detach()),
            )
            print(
                f"step {progress.step}  epoch {epoch:.2f}  loss {record['loss']:.4f}  lr {lr:.2e}"
            )
            window = Window()
    progress.epoch += 1
    progress.step_in_epoch = 0
    return not (cfg.max_steps is not None and progress.step >= cfg.max_steps)


def _validate(
    cfg: DetectionConfig,
    run: dict[str, Any],
    val: CocoFolder,
    progress: DetProgress,
    logger: RunLogger,
    device: torch.device,
) -> dict[str, float]:
    result = evaluate_detector(_eval_model(run), val, batch_size=32, device=str(device))
    entry = {
        "epoch": progress.epoch,
        "step": progress.step,
        "val_map": result.map,
        "val_map50": result.map50,
    }
    progress.history.append(entry)
    logger.log(
        "eval",
        progress.step,
        epoch=progress.epoch,
        val_map=result.map,
        val_map50=result.map50,
        val_acc=result.map50,
    )
    print(f"epoch {progress.epoch}: val {result.format()}")
    return entry


def train_detector(
    cfg: DetectionConfig, resume: bool = False, overwrite: bool = False
) -> DetTrainResult:
    """Train ``cfg`` to the end (or ``max_steps``); ``resume`` continues ``output_dir/last.pt``.

    The run folder is held as a classifier's is (:func:`..train.rundir.claim`): no second run
    into it while this one trains, no fresh run over a finished one unless ``overwrite``.
    """
    with rundir.claim(cfg.output_dir, resume, overwrite):
        return _train_detector(cfg, resume)


def _train_detector(cfg: DetectionConfig, resume: bool) -> DetTrainResult:
    device = resolve_device(cfg.device)
    out = Path(cfg.output_dir)
    folders = data_folders(cfg)
    spec = det_spec_for(cfg)
    train_data = CocoFolder(folders["train"], spec.image_size, hflip=cfg.hflip)
    val_data = CocoFolder(folders["val"], spec.image_size)
    calibration = calibration_batches(CocoFolder(folders["train"], spec.image_size), cfg)
    steps_per_epoch = max(1, len(train_data) // cfg.batch_size)
    run = _build(cfg, len(train_data.class_names), steps_per_epoch)
    run["calibration"] = calibration
    progress = _resume(out / "last.pt", cfg, run) if resume else DetProgress()
    for part in ("model", "ema"):
        if run[part] is not None:
            target = run[part].module if part == "ema" else run[part]
            target.to(device)
            target.class_names = list(train_data.class_names)
    logger = RunLogger(out, resume_step=progress.step if resume else None)
    print(
        f"{spec.name} at {spec.image_size}px: {len(train_data)} training images, "
        f"{steps_per_epoch} steps/epoch, {cfg.epochs} epochs on {device}"
    )
    while progress.epoch < cfg.epochs:
        finished = _run_epoch(cfg, run, train_data, progress, logger, device)
        if finished and (progress.epoch % cfg.eval_every == 0 or progress.epoch == cfg.epochs):
            _validate(cfg, run, val_data, progress, logger, device)
        _save(out / "last.pt", cfg, run, progress)
        if not finished:
            break
    return _finish(cfg, run, folders, progress, logger, device)


def _finish(
    cfg: DetectionConfig,
    run: dict[str, Any],
    folders: dict[str, Path],
    progress: DetProgress,
    logger: RunLogger,
    device: torch.device,
) -> DetTrainResult:
    model = _eval_model(run)
    size = model.spec.image_size
    val = evaluate_detector(
        model, CocoFolder(folders["val"], size), batch_size=32, device=str(device)
    )
    test = None
    if "test" in folders:
        test = evaluate_detector(
            model, CocoFolder(folders["test"], size), batch_size=32, device=str(device)
        )
        print(f"test {test.format()}")
    extra = {
        "trained_on": cfg.dataset,
        "epochs": progress.epoch,
        "steps": progress.step,
        "val_map": val.map,
        "val_map50": val.map50,
        "test_map": test.map if test else None,
        "test_map50": test.map50 if test else None,
    }
    save_detector(Path(cfg.output_dir) / "model.safetensors", model, extra)
    logger.log("final", progress.step, **{k: v for k, v in extra.items() if k != "trained_on"})
    records = logger.read()
    logger.close()
    plot_curves(
        records,
        Path(cfg.output_dir) / "curves.png",
        f"{model.spec.name} on {cfg.dataset}",
        loss_label="focal + 50 x box loss",
        acc_label="val mAP@.5 (%)",
    )
    return DetTrainResult(
        cfg.output_dir,
        progress.step,
        progress.epoch,
        val.map,
        val.map50,
        test.map if test else None,
        test.map50 if test else None,
    )
