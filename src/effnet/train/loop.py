"""The training loop, readable top to bottom: set up, (resume), train, evaluate, save, report.

One function, :func:`run`, does a whole run on one CPU, one GPU or every process of a torchrun
job. The recipe's pieces live in small modules beside this one (``optim``, ``schedule``, ``ema``,
``checkpoint``, ``distributed``, ``logs``); this file only puts them in order.

Exact resume: the model, optimizer, schedule, EMA, AMP scaler, progress counters and every rank's
RNG state are saved together; the data order is a pure function of (seed, epoch) and augmentation
a pure function of (seed, epoch, sample), so a resumed run replays the same batches with the same
augmentations and, with ``deterministic=True``, ends with bit-identical weights.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from ..data.datasets import DataSplits, build_datasets
from ..data.loading import Skipped, collate_skipping, sample_seed
from ..registry import get_spec
from ..spec import NetSpec
from ..weights.checkpoint import read_metadata, save_model
from ..weights.factory import create_model
from . import distributed
from .amp import resolve_amp
from .api import TrainResult
from .checkpoint import load_state, rng_state, save_atomic, set_rng_state
from .config import TrainConfig
from .ema import ModelEma
from .logs import RunLogger, plot_curves
from .optim import RMSpropTF
from .schedule import PaperSchedule, scaled_lr


@dataclass
class Progress:
    """Counters that say where a run is; saved in every resumable checkpoint."""

    epoch: int = 0  # completed epochs
    step: int = 0  # optimizer updates so far (the schedule's clock)
    step_in_epoch: int = 0  # updates done in the current, unfinished epoch
    best_val_acc: float = -1.0
    best_epoch: float | None = None
    epoch_loss_sum: float = 0.0
    epoch_loss_count: int = 0
    skipped_total: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def run(cfg: TrainConfig, resume: bool = False) -> TrainResult:
    """Train ``cfg``; see :func:`effnet.train.train`."""
    started = time.time()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    d = distributed.setup(cfg.device)
    try:
        return _run(cfg, resume, d, started)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        distributed.teardown(d)


def _run(cfg: TrainConfig, resume: bool, d: distributed.Dist, started: float) -> TrainResult:
    device, out = d.device, Path(cfg.output_dir)
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not cfg.deterministic
    amp_dtype = resolve_amp(cfg.amp, device)
    say = _printer(d)

    # ---- data ------------------------------------------------------------------------------------
    spec = _model_spec(cfg)
    image_size = cfg.image_size or spec.resolution
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
    )
    micro_batch = _micro_batch(cfg, d.world_size)
    per_rank = len(data.train) // d.world_size
    steps_per_epoch = per_rank // micro_batch // cfg.grad_accum_steps
    if steps_per_epoch < 1:
        raise ValueError(
            f"batch_size={cfg.batch_size} is larger than the {len(data.train)} training images; "
            "lower batch_size"
        )
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)

    # ---- model: the same seed on every rank, so every rank starts from the same weights ----------
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, spec, data.num_classes)
    if cfg.zero_init_head and isinstance(model.classifier, nn.Linear):
        nn.init.zeros_(model.classifier.weight)
        nn.init.zeros_(model.classifier.bias)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)
    if cfg.sync_bn and d.enabled:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ema = ModelEma(model, cfg.ema_decay, cfg.ema_warmup) if cfg.ema_decay > 0 else None

    # ---- optimizer, schedule, AMP scaler --------------------------------------------------------
    base_lr = scaled_lr(cfg.lr_per_256, cfg.batch_size)
    optimizer = build_optimizer(cfg, param_groups(model, cfg), base_lr)
    schedule = PaperSchedule(
        optimizer,
        steps_per_epoch,
        base_lr,
        cfg.warmup_epochs,
        cfg.lr_decay_rate,
        cfg.lr_decay_epochs,
        cfg.lr_staircase,
        cfg.freeze_backbone_epochs,
    )
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    # ---- fresh start or resume ------------------------------------------------------------------
    progress = Progress()
    best_state: dict[str, torch.Tensor] | None = None
    if resume:
        state = load_state(out / "last.pt")
        _check_resumable(cfg, state, d)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        scaler.load_state_dict(state["scaler"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        progress = Progress(**state["progress"])
        best_state = state.get("best_model")
        set_rng_state(state["rng"][d.rank])
        say(f"resuming {out} at epoch {progress.epoch}, step {progress.step}/{total_steps}")
    else:
        # Dropout and stochastic-depth masks differ per rank, as each rank sees different images.
        torch.manual_seed(cfg.seed + 1 + d.rank)

    train_model: nn.Module = model
    if d.enabled:
        ids = [device.index] if device.type == "cuda" else None
        # BN buffers are averaged after every step (distributed.average_buffers) instead of
        # broadcast from rank 0 before every forward.
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=ids, broadcast_buffers=False
        )
    if cfg.compile:
        train_model = torch.compile(train_model)
    logger = RunLogger(out, enabled=d.is_main, resume_step=progress.step if resume else None)
    if d.is_main:
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    say(
        f"training {spec.name} on {cfg.dataset} ({len(data.train)} train / "
        f"{_size(data.val)} minival / {_size(data.test)} test images, {data.num_classes} classes) "
        f"at {image_size}px on {device} x{d.world_size}: {cfg.epochs} epochs of "
        f"{steps_per_epoch} steps, batch {cfg.batch_size}, lr {base_lr:.4g}, "
        f"amp {_amp_name(amp_dtype)}"
    )

    # ---- the loop -------------------------------------------------------------------------------
    sampler = DistributedSampler(
        data.train,
        num_replicas=d.world_size,
        rank=d.rank,
        shuffle=True,
        seed=cfg.seed,
        drop_last=True,
    )
    bar = _progress_bar(total_steps, progress.step, d.is_main)
    warned: set[str] = set()
    epoch_skipped: list[Skipped] = []
    done = progress.step >= total_steps
    last_plot = time.time()
    while not done and progress.epoch < cfg.epochs:
        epoch = progress.epoch
        loader = _train_loader(cfg, data, sampler, epoch, micro_batch, steps_per_epoch, progress)
        frozen = epoch < cfg.freeze_backbone_epochs
        _set_train_mode(model, frozen_backbone=frozen)
        window_loss, window_n, window_images, window_start = 0.0, 0, 0, time.time()
        lr = schedule.set_step(progress.step)
        for micro, (images, labels, skipped) in enumerate(loader):
            for item in skipped:
                epoch_skipped.append(item)
                if item.source not in warned:
                    warned.add(item.source)
                    _warn(f"skipping unreadable image {item.source} ({item.reason})")
            closes_step = (micro + 1) % cfg.grad_accum_steps == 0
            if distributed.all_agree(d, images is not None):
                images = images.to(device, non_blocking=True, memory_format=memory_format)
                labels = labels.to(device, non_blocking=True)
                sync = contextlib.nullcontext()
                if d.enabled and not closes_step:
                    sync = train_model.no_sync()  # type: ignore[operator]
                with sync:
                    with torch.autocast(device.type, amp_dtype, enabled=amp_dtype is not None):
                        logits = train_model(images)
                    loss = F.cross_entropy(
                        logits.float(), labels, label_smoothing=cfg.label_smoothing
                    )
                    scaler.scale(loss / cfg.grad_accum_steps).backward()
                loss_value = loss.item()
                window_loss += loss_value * len(labels)
                window_n += len(labels)
                window_images += len(labels) * d.world_size
                progress.epoch_loss_sum += loss_value * len(labels)
                progress.epoch_loss_count += len(labels)
            if not closes_step:
                continue

            # One optimizer update: clip (optional), step, EMA, advance the clock.
            if cfg.grad_clip_norm > 0:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip_norm)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            distributed.average_buffers(d, model)
            if ema is not None:
                ema.update(model)
            progress.step += 1
            progress.step_in_epoch += 1

            if progress.step % cfg.log_every == 0 or progress.step == total_steps:
                seconds = max(time.time() - window_start, 1e-9)
                record = {
                    "epoch": epoch + progress.step_in_epoch / steps_per_epoch,
                    "loss": window_loss / max(window_n, 1),
                    "lr": lr,
                    "img_per_s": window_images / seconds,
                }
                logger.log("train", progress.step, **record)
                bar.set_postfix(
                    loss=f"{record['loss']:.3f}", lr=f"{lr:.3g}", img_s=f"{record['img_per_s']:.0f}"
                )
                window_loss, window_n, window_images, window_start = 0.0, 0, 0, time.time()
            bar.update(1)
            if progress.step >= total_steps:
                done = True
            elif (
                cfg.save_every_steps
                and progress.step % cfg.save_every_steps == 0
                and progress.step_in_epoch < steps_per_epoch  # the epoch's end saves anyway
            ):
                _save_state(
                    out, d, cfg, model, optimizer, schedule, scaler, ema, progress, best_state
                )
            if done:
                break
            lr = schedule.set_step(progress.step)

        # ---- end of an epoch (or of max_steps): count skips, evaluate, keep the best, save ------
        finished_epoch = progress.step_in_epoch >= steps_per_epoch
        if finished_epoch:
            progress.epoch += 1
        skipped_now = _gather_skipped(d, epoch_skipped)
        epoch_skipped = []
        progress.skipped_total += len(skipped_now)
        if skipped_now:
            say(f"epoch {epoch + 1}: skipped {len(skipped_now)} unreadable images", err=True)
            logger.log("skipped", progress.step, epoch=epoch + 1, files=sorted(set(skipped_now)))
        if (finished_epoch and progress.epoch % cfg.eval_every == 0) or done:
            eval_model = ema.module if ema is not None else model
            epoch_pos = progress.epoch + (
                0 if finished_epoch else progress.step_in_epoch / steps_per_epoch
            )
            entry = {
                "epoch": epoch_pos,
                "train_loss": progress.epoch_loss_sum / max(progress.epoch_loss_count, 1),
                "lr": lr,
                "elapsed_s": time.time() - started,
                "skipped": len(skipped_now),
            }
            if data.val is not None:
                val_acc, val_loss = evaluate(
                    eval_model, data.val, d, micro_batch, cfg, amp_dtype, warned
                )
                entry.update(val_acc=val_acc, val_loss=val_loss)
                if val_acc > progress.best_val_acc:
                    progress.best_val_acc, progress.best_epoch = val_acc, epoch_pos
                    best_state = {
                        k: v.detach().cpu().clone() for k, v in eval_model.state_dict().items()
                    }
                    if d.is_main:
                        _export(out / "best.safetensors", eval_model, data, cfg, progress)
            progress.history.append({"step": progress.step, **entry})
            logger.log("eval", progress.step, **entry)
            val_text = "no minival"
            if "val_acc" in entry:
                best = 100 * progress.best_val_acc
                val_text = f"minival top-1 {100 * entry['val_acc']:.2f}% (best {best:.2f}%)"
            if d.is_main:
                bar.write(
                    f"epoch {epoch_pos:g}/{cfg.epochs}  step {progress.step}  "
                    f"train loss {entry['train_loss']:.4f}  {val_text}  lr {lr:.3g}"
                )
            if d.is_main and time.time() - last_plot > 60:
                plot_curves(logger.read(), out / "curves.png", spec.name)
                last_plot = time.time()
        if finished_epoch:
            progress.step_in_epoch = 0
            progress.epoch_loss_sum, progress.epoch_loss_count = 0.0, 0
        _save_state(out, d, cfg, model, optimizer, schedule, scaler, ema, progress, best_state)
    bar.close()

    # ---- final: score the early-stopped and the last weights on the test split, write files ------
    eval_model = ema.module if ema is not None else model
    final_test = best_test = None
    if data.test is not None:
        final_test, _ = evaluate(eval_model, data.test, d, micro_batch, cfg, amp_dtype, warned)
        best_test = final_test
        if best_state is not None:
            best_model = _copy_with_state(eval_model, best_state)
            best_test, _ = evaluate(best_model, data.test, d, micro_batch, cfg, amp_dtype, warned)
    mine = distributed.weights_fingerprint(model)
    if ema is not None:
        mine += "+ema:" + distributed.weights_fingerprint(ema.module)
    fingerprints = distributed.gather_objects(d, mine)
    checkpoint, best_checkpoint = out / "model.safetensors", out / "best.safetensors"
    reported_test = best_test if cfg.select_on_minival else final_test
    wall = time.time() - started
    if d.is_main:
        _export(checkpoint, eval_model, data, cfg, progress, test_acc=final_test)
        if best_state is None:
            _export(best_checkpoint, eval_model, data, cfg, progress, test_acc=final_test)
        else:
            best_model = _copy_with_state(eval_model, best_state)
            _export(best_checkpoint, best_model, data, cfg, progress, test_acc=best_test)
        plot_curves(logger.read(), out / "curves.png", spec.name)
        summary = {
            "model": spec.name,
            "dataset": cfg.dataset,
            "image_size": image_size,
            "steps": progress.step,
            "epochs": progress.epoch,
            "best_val_acc": progress.best_val_acc if data.val is not None else None,
            "best_epoch": progress.best_epoch,
            "test_acc": reported_test,
            "early_stopped_test_acc": best_test,
            "final_test_acc": final_test,
            "skipped_images": progress.skipped_total,
            "wall_time_s": wall,
            "world_size": d.world_size,
            "backend": torch.distributed.get_backend() if d.enabled else None,
            "rank_weight_sha256": fingerprints,
            "checkpoint": str(checkpoint),
            "best_checkpoint": str(best_checkpoint),
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    logger.close()
    if len(set(fingerprints)) > 1:
        _warn("ranks ended with different weights; check the data sharding and BN settings")
    say(_summary_line(spec, cfg, image_size, progress, best_test, final_test, wall, d, checkpoint))
    distributed.barrier(d)
    return TrainResult(
        best_val_acc=progress.best_val_acc if data.val is not None else float("nan"),
        test_acc=reported_test,
        checkpoint=checkpoint,
        best_checkpoint=best_checkpoint,
        history=progress.history,
        wall_time_s=wall,
        output_dir=out,
        final_test_acc=final_test,
        steps=progress.step,
        skipped_images=progress.skipped_total,
    )


# ==================================================================================================
# The pieces the loop calls, in the order it calls them.
# ==================================================================================================
def _model_spec(cfg: TrainConfig) -> NetSpec:
    """The architecture: the init checkpoint's own when fine-tuning, else ``cfg.model``'s.

    ``bn_momentum`` is a training choice, not architecture: short runs (the digits demo) need BN
    running statistics that follow the weights faster than the paper's 0.99 allows.
    """
    if cfg.init_checkpoint:
        spec = read_metadata(cfg.init_checkpoint)["spec"]
    else:
        spec = get_spec(cfg.model)
    if cfg.bn_momentum is not None:
        spec = spec.replace(bn_momentum=cfg.bn_momentum)
    return spec


def build_model(cfg: TrainConfig, spec: NetSpec, num_classes: int) -> nn.Module:
    """A fresh model, or the init checkpoint's (new classifier when the class count differs)."""
    return create_model(
        spec,
        pretrained=cfg.init_checkpoint or False,
        num_classes=num_classes,
        dropout=cfg.dropout,
        drop_path_rate=cfg.drop_path_rate,
    )


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """Weight decay on conv/linear weights only (not BN, not biases); classifier vs backbone lr."""
    groups: dict[tuple[bool, bool], dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        head = name.startswith("classifier.")
        decay = param.ndim > 1
        group = groups.setdefault(
            (head, decay),
            {
                "params": [],
                "weight_decay": cfg.weight_decay if decay else 0.0,
                "lr_scale": 1.0 if head else cfg.backbone_lr_scale,
                "backbone": not head,
            },
        )
        group["params"].append(param)
    return list(groups.values())


def build_optimizer(cfg: TrainConfig, groups: list[dict[str, Any]], lr: float):
    if cfg.optimizer == "rmsprop_tf":
        return RMSpropTF(
            groups, lr=lr, decay=cfg.rmsprop_decay, momentum=cfg.momentum, eps=cfg.rmsprop_eps
        )
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    return torch.optim.AdamW(groups, lr=lr)


def _micro_batch(cfg: TrainConfig, world_size: int) -> int:
    """Images per forward pass on one process: the global batch split over ranks and micro-steps."""
    parts = world_size * cfg.grad_accum_steps
    if cfg.batch_size % parts:
        raise ValueError(
            f"batch_size={cfg.batch_size} must divide evenly into {world_size} processes x "
            f"{cfg.grad_accum_steps} accumulation steps"
        )
    return cfg.batch_size // parts


class EpochBatches(Sampler[list[tuple[int, int]]]):
    """One epoch's micro-batches for this rank, from ``start`` on, each index with its aug seed."""

    def __init__(
        self,
        sampler: DistributedSampler,
        epoch: int,
        micro_batch: int,
        count: int,
        start: int,
        seed: int,
    ) -> None:
        self.sampler, self.epoch, self.micro_batch = sampler, epoch, micro_batch
        self.count, self.start, self.seed = count, start, seed

    def __iter__(self):
        self.sampler.set_epoch(self.epoch)
        order = list(self.sampler)
        for b in range(self.start, self.count):
            chunk = order[b * self.micro_batch : (b + 1) * self.micro_batch]
            yield [(i, sample_seed(self.seed, self.epoch, i)) for i in chunk]

    def __len__(self) -> int:
        return self.count - self.start


def _train_loader(
    cfg: TrainConfig,
    data: DataSplits,
    sampler: DistributedSampler,
    epoch: int,
    micro_batch: int,
    steps_per_epoch: int,
    progress: Progress,
) -> DataLoader:
    batches = EpochBatches(
        sampler,
        epoch,
        micro_batch,
        count=steps_per_epoch * cfg.grad_accum_steps,
        start=progress.step_in_epoch * cfg.grad_accum_steps,
        seed=cfg.seed,
    )
    return DataLoader(
        data.train,
        batch_sampler=batches,
        num_workers=cfg.num_workers,
        collate_fn=collate_skipping,
        pin_memory=torch.cuda.is_available(),
        # A private generator: creating the loader must not draw from the global RNG, whose
        # state (dropout, stochastic depth) a resumed run has to replay exactly.
        generator=torch.Generator(),
    )


def _set_train_mode(model: nn.Module, frozen_backbone: bool) -> None:
    """Train mode; a frozen backbone keeps its BN statistics fixed too (only the head learns)."""
    model.train()
    if frozen_backbone:
        for name, module in model.named_modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and not name.startswith(
                "classifier"
            ):
                module.eval()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Any,
    d: distributed.Dist,
    batch_size: int,
    cfg: TrainConfig,
    amp_dtype: torch.dtype | None,
    warned: set[str] | None = None,
) -> tuple[float, float]:
    """Top-1 accuracy and mean cross-entropy; each rank scores every world_size-th image.

    Unreadable images are left out of the score and warned about once (``warned`` remembers).
    """
    was_training = model.training
    model.eval()
    indices = list(range(d.rank, len(dataset), d.world_size))
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=indices,
        num_workers=cfg.num_workers,
        collate_fn=collate_skipping,
        generator=torch.Generator(),
    )
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    correct = loss_sum = count = 0.0
    warned = set() if warned is None else warned
    for images, labels, skipped in loader:
        for item in skipped:
            if item.source not in warned:
                warned.add(item.source)
                _warn(f"skipping unreadable image {item.source} ({item.reason})")
        if images is None:
            continue
        images = images.to(d.device, memory_format=memory_format)
        labels = labels.to(d.device)
        with torch.autocast(d.device.type, amp_dtype, enabled=amp_dtype is not None):
            logits = model(images)
        loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum").item()
        correct += (logits.argmax(1) == labels).sum().item()
        count += len(labels)
    model.train(was_training)
    correct, loss_sum, count = distributed.all_reduce_sum(d, [correct, loss_sum, count])
    if count == 0:
        return float("nan"), float("nan")
    return correct / count, loss_sum / count


def _save_state(
    out: Path,
    d: distributed.Dist,
    cfg: TrainConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: PaperSchedule,
    scaler: torch.amp.GradScaler,
    ema: ModelEma | None,
    progress: Progress,
    best_state: dict[str, torch.Tensor] | None,
) -> None:
    """Everything needed to continue exactly; rank 0 writes it, with every rank's RNG state."""
    rngs = distributed.gather_objects(d, rng_state())
    if not d.is_main:
        return
    save_atomic(
        {
            "config": cfg.to_dict(),
            "world_size": d.world_size,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "scaler": scaler.state_dict(),
            "ema": ema.state_dict() if ema is not None else None,
            "progress": asdict(progress),
            "best_model": best_state,
            "rng": rngs,
        },
        out / "last.pt",
    )


def _check_resumable(cfg: TrainConfig, state: dict[str, Any], d: distributed.Dist) -> None:
    """Resuming under a different recipe would silently train something else; refuse instead."""
    saved = state["config"]
    allowed = {"epochs", "max_steps", "device", "num_workers", "log_every", "save_every_steps",
               "eval_every", "compile", "select_on_minival"}  # fmt: skip
    changed = [k for k, v in cfg.to_dict().items() if k not in allowed and saved.get(k) != v]
    if changed:
        diffs = ", ".join(f"{k}: {saved.get(k)!r} -> {getattr(cfg, k)!r}" for k in changed[:4])
        raise ValueError(f"cannot resume with a different config ({diffs})")
    if state["world_size"] != d.world_size:
        raise ValueError(
            f"the run was saved with {state['world_size']} processes; resume it with the same "
            f"number (got {d.world_size})"
        )


def _export(
    path: Path,
    model: nn.Module,
    data: DataSplits,
    cfg: TrainConfig,
    progress: Progress,
    test_acc: float | None = None,
) -> None:
    extra = {
        "trained_on": cfg.dataset,
        "epochs": progress.epoch,
        "steps": progress.step,
        "best_val_acc": progress.best_val_acc,
        "test_acc": test_acc,
    }
    save_model(path, model, data.class_names, data.preprocess, extra=extra)


def _copy_with_state(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    import copy

    other = copy.deepcopy(model)
    other.load_state_dict(state)
    return other


def _gather_skipped(d: distributed.Dist, items: list[Skipped]) -> list[str]:
    return [s for part in distributed.gather_objects(d, [i.source for i in items]) for s in part]


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        disable=not enabled,
        unit="step",
        dynamic_ncols=True,
        mininterval=1.0,
        file=sys.stderr,
    )


def _printer(d: distributed.Dist):
    def say(text: str, err: bool = False) -> None:
        if d.is_main:
            print(text, file=sys.stderr if err else sys.stdout, flush=True)

    return say


def _warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr, flush=True)


def _size(dataset: Any) -> int:
    return len(dataset) if dataset is not None else 0


def _amp_name(dtype: torch.dtype | None) -> str:
    return {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def _summary_line(
    spec: NetSpec,
    cfg: TrainConfig,
    image_size: int,
    progress: Progress,
    best_test: float | None,
    final_test: float | None,
    wall: float,
    d: distributed.Dist,
    checkpoint: Path,
) -> str:
    def pct(x: float | None) -> str:
        return "n/a" if x is None or math.isnan(x) else f"{100 * x:.2f}%"

    best = (
        f"best minival {pct(progress.best_val_acc)} at epoch {progress.best_epoch:g}"
        if progress.best_epoch is not None
        else "no minival"
    )
    if cfg.select_on_minival:
        scores = (
            f"test top-1 {pct(best_test)} (early-stopped), {best}; last weights {pct(final_test)}"
        )
    else:
        scores = f"test top-1 {pct(final_test)} (final weights); {best}: {pct(best_test)} on test"
    return (
        f"done: {spec.name} on {cfg.dataset} at {image_size}px, {progress.step} steps "
        f"({progress.epoch} epochs) in {wall:.1f} s on {d.device} x{d.world_size}: {scores}; "
        f"skipped {progress.skipped_total} unreadable images; wrote {checkpoint}, "
        f"{checkpoint.with_name('best.safetensors').name}, curves.png"
    )
