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

A diverged run is no success: the engine's :class:`~effnet.train.divergence.LossGuard` checks
every step's loss, and :func:`~effnet.train.divergence.check_finite_weights` the weights before
each scoring and save; NaN or infinite values stop the run with a ``DivergedError`` (exit 2 from
the CLI) and ``last.pt`` keeps the last finite state.
"""

from __future__ import annotations

import copy
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..models import resolve_device
from ..train import rundir
from ..train.checkpoint import load_state
from ..train.config import TrainConfig
from ..train.divergence import LossGuard, check_finite_weights
from ..train.ema import ModelEma
from ..train.logs import RunLogger, Window, plot_curves
from ..train.optim import build_optimizer, param_groups
from ..train.schedule import PaperSchedule
from .anchors import anchors_for, batch_targets
from .checkpoint import save_detector
from .coco import CocoFolder
from .config import DetectionConfig
from .evaluate import evaluate_detector
from .loss import detection_loss, flatten_outputs
from .model import EfficientDet
from .rundata import (
    DetProgress,
    RunData,
    epoch_batches,
    load_run_data,
    restore,
    save_state,
    saved_class_names,
)
from .spec import DetSpec, get_det_spec


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


def _say(text: str, err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout)


def _check_weights(run: dict[str, Any], progress: DetProgress) -> None:
    """Refuse NaN or infinite weights (model and EMA), or finite ones so large that they predict
    NaN (the probe batch's loss), before they are scored or saved (once per step)."""
    if run.get("checked_step") == progress.step:
        return
    models = {"model weights": run["model"]}
    if run["ema"] is not None:
        models["EMA weights"] = run["ema"].module
    where = f"after step {progress.step}, epoch {progress.epoch}"
    lr = run["optimizer"].param_groups[0]["lr"]
    check_finite_weights(models, where, lr, run["guard"].last_state)
    images, targets = run["probe"]
    for model in models.values():
        was_training = model.training
        with torch.no_grad():
            loss = batch_loss(model.eval(), images.to(run["device"]), targets)[0]
        model.train(was_training)
        run["guard"].check_scores(float(loss), "training images", where, lr)
    run["checked_step"] = progress.step


def _save(path: Path, cfg: DetectionConfig, run: dict[str, Any], progress: DetProgress) -> None:
    _check_weights(run, progress)
    save_state(path, cfg, run, progress, run["class_names"])


def batch_loss(
    model: EfficientDet, images: torch.Tensor, targets: list[dict]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, class loss, box loss) of one batch, in the model's current mode."""
    anchors = anchors_for(model.spec, tuple(images.shape[-2:]), images.device)
    moved = [{k: t[k].to(images.device) for k in ("boxes", "labels")} for t in targets]
    classes, codes, positive = batch_targets(anchors, moved)
    class_maps, box_maps = model(images)
    return detection_loss(
        flatten_outputs(class_maps, model.num_classes),
        flatten_outputs(box_maps, 4),
        classes,
        codes,
        positive,
    )


def train_step(
    model: EfficientDet, images: torch.Tensor, targets: list[dict], clip: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward + backward of one batch; returns (loss, class loss, box loss), gradients set."""
    losses = batch_loss(model, images, targets)
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
    for images, targets in epoch_batches(data, cfg, progress.epoch, progress.step_in_epoch):
        if cfg.max_steps is not None and progress.step >= cfg.max_steps:
            return False
        lr = schedule.set_step(progress.step)
        optimizer.zero_grad(set_to_none=True)
        loss, cls, box = train_step(model, images.to(device), targets, cfg.grad_clip_norm)
        run["guard"].check(float(loss.detach()), progress.step, lr)
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
    _check_weights(run, progress)
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
    spec = det_spec_for(cfg)
    saved = load_state(out / "last.pt") if resume else None
    data = load_run_data(cfg, spec.image_size, saved_class_names(saved) if saved else None)
    train_data, names = data.train, data.class_names
    steps_per_epoch = max(1, len(train_data) // cfg.batch_size)
    run = _build(cfg, len(names), steps_per_epoch)
    run.update(calibration=data.calibration, class_names=names, probe=data.probe, device=device)
    run["guard"] = LossGuard(len(names), out / "last.pt", _say)
    progress = restore(saved, cfg, run) if saved is not None else DetProgress()
    for part in ("model", "ema"):
        if run[part] is not None:
            target = run[part].module if part == "ema" else run[part]
            target.to(device)
            target.class_names = list(names)
    logger = RunLogger(out, resume_step=progress.step if resume else None)
    print(
        f"{spec.name} at {spec.image_size}px: {len(train_data)} training images, "
        f"{steps_per_epoch} steps/epoch, {cfg.epochs} epochs on {device}"
    )
    while progress.epoch < cfg.epochs:
        finished = _run_epoch(cfg, run, train_data, progress, logger, device)
        if finished and (progress.epoch % cfg.eval_every == 0 or progress.epoch == cfg.epochs):
            _validate(cfg, run, data.val, progress, logger, device)
        _save(out / "last.pt", cfg, run, progress)
        if not finished:
            break
    return _finish(cfg, run, data, progress, logger, device)


def _finish(
    cfg: DetectionConfig,
    run: dict[str, Any],
    data: RunData,
    progress: DetProgress,
    logger: RunLogger,
    device: torch.device,
) -> DetTrainResult:
    _check_weights(run, progress)
    model = _eval_model(run)
    val = evaluate_detector(model, data.val, batch_size=32, device=str(device))
    test = None
    if data.test is not None:
        test = evaluate_detector(model, data.test, batch_size=32, device=str(device))
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
