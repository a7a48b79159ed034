"""The training loop as a story: set up; train, evaluate and checkpoint each epoch; finish.

:func:`run` does a whole run on one CPU, one GPU or every process of a torchrun job, as the phases
of one :class:`TrainingRun`:

1. **Set up** (``TrainingRun(...)``): the data, which fixes the run's sizes; the model, from the
   same seed on every rank so every rank starts from the same weights; EMA, optimizer, schedule and
   AMP scaler (:mod:`.build`). Then a fresh start, or a resume from ``last.pt`` (:mod:`.checkpoint`)
   that puts back every counter and RNG state.
2. **Train an epoch** (:meth:`TrainingRun.train_epoch`): this rank's micro-batches
   (:mod:`.batches`), gradient accumulation, one optimizer update and EMA update per
   ``grad_accum_steps``, a log record every ``log_every`` steps (more often in a short epoch:
   :func:`.logs.log_interval`), mid-epoch checkpoints when ``save_every_steps`` asks for them.
3. **End the epoch** (:meth:`TrainingRun.end_epoch`): count the unreadable images over ranks,
   **evaluate** on the minival when it is due (:meth:`TrainingRun.evaluate`: every rank scores its
   shard with :func:`effnet.evaluation.evaluate`, the counts are summed, the best weights kept),
   then **checkpoint** (:meth:`TrainingRun.checkpoint`).
4. **Finish** (:meth:`TrainingRun.finish`): score the final and the best weights on the test split,
   export both, draw the curves, write ``summary.json`` and return the
   :class:`~.result.TrainResult` (:mod:`.result`).

Exact resume: the model, optimizer, schedule, EMA, AMP scaler, progress counters and every rank's
RNG state are saved together; the data order is a pure function of (seed, epoch) and augmentation
a pure function of (seed, epoch, sample), so a resumed run replays the same batches with the same
augmentations and, with ``deterministic=True``, ends with bit-identical weights.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import evaluation
from ..data.loading import TransformedSubset
from ..fileio import atomic_write
from . import batches, build, distributed, report, rundir, sanity
from .amp import resolve_amp
from .checkpoint import (
    Progress,
    copy_with_state,
    export_weights,
    resume_state,
    save_state,
)
from .config import TrainConfig
from .divergence import LossGuard
from .logs import RunLogger, Window, plot_curves, record_due
from .progressive import StageRunner, scored_model
from .result import Outcome, TrainResult


def run(cfg: TrainConfig, resume: bool = False, overwrite: bool = False) -> TrainResult:
    """Train ``cfg``; see :func:`effnet.train.train`."""
    started = time.time()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    d = distributed.setup(cfg.device)
    try:
        # The folder is this run's alone while it trains (rundir: lock, no fresh start over a run).
        inputs = (cfg.init_checkpoint,)
        with rundir.claim(cfg.output_dir, resume, overwrite, d.is_main, inputs):
            training = TrainingRun(cfg, d, resume, started)
            try:
                while not training.done and training.progress.epoch < cfg.epochs:
                    training.train_epoch()
                    training.end_epoch()
                return training.finish()
            except BaseException:
                training.bar.close()  # so an error is a line of its own, not the bar's tail
                raise
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        distributed.teardown(d)


class TrainingRun:
    """One run's pieces and where it stands; each public method is one phase of the story above.

    Every rank builds one and calls the same methods in the same order: several of them are
    collectives (gathering skipped files and RNG states, summing scores).
    """

    def __init__(self, cfg: TrainConfig, d: distributed.Dist, resume: bool, started: float):
        self.cfg, self.d, self.started = cfg, d, started
        self.out = Path(cfg.output_dir)
        build.apply_determinism(cfg, d.device)
        self.amp_dtype = resolve_amp(cfg.amp, d.device)
        self.memory_format = build.memory_format(cfg)
        self.say = report.printer(d)

        self.spec = build.model_spec(cfg)
        image_size = cfg.image_size or self.spec.resolution
        self.data = build.load_data(cfg, image_size)
        if (warning := build.split_warning(self.data)) is not None:
            self.say(warning, err=True)
        self.plan = build.plan_run(cfg, image_size, len(self.data.train), d.world_size)
        self.cfg = cfg = build.as_run(cfg, self.spec, self.plan)  # what config.json records
        model = build.prepare_model(cfg, self.spec, self.data.num_classes, d)
        self.state = build.fresh_state(cfg, model, self.plan, self.amp_dtype, d)
        pre = self.data.preprocess  # V2's progressive learning: sizes and regularization by stage
        self.stages = (
            StageRunner(cfg, self.data.train, self.data.num_classes, pre.mean, pre.std, d.rank)
            if cfg.progressive is not None
            else None
        )
        if resume:
            resume_state(self.out / "last.pt", cfg, d, self.state, self.data.class_names)
            self.say(
                f"resuming {self.out} at epoch {self.progress.epoch}, "
                f"step {self.progress.step}/{self.plan.total_steps}"
            )
        else:
            # Dropout and stochastic-depth masks differ per rank, as ranks see different images.
            torch.manual_seed(cfg.seed + 1 + d.rank)
        self.train_model = build.wrap_for_training(model, cfg, d)

        self.logger = RunLogger(
            self.out, enabled=d.is_main, resume_step=self.progress.step if resume else None
        )
        if d.is_main:
            with atomic_write(self.out / "config.json") as tmp:
                tmp.write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
        self.guard = LossGuard(self.data.num_classes, self.out / "last.pt", self.say)
        self.say(report.start_line(self.spec.name, cfg, self.data, self.plan, d, self.amp_dtype))
        if self.plan.note:  # the batch fitted to the data, or an incomplete last batch kept
            self.say(self.plan.note)
        self.sampler = batches.rank_sampler(self.data.train, d, cfg.seed)
        self.bar = report.progress_bar(self.plan.total_steps, self.progress.step, d.is_main)
        self.skips = report.SkipLog()
        self.done = self.progress.step >= self.plan.total_steps
        self.epoch, self.lr, self.window = self.progress.epoch, 0.0, Window()
        self.last_plot = time.time()

    @property
    def progress(self) -> Progress:
        return self.state.progress

    # ---- train an epoch -------------------------------------------------------------------------
    def train_epoch(self) -> None:
        """This rank's share of one epoch (what is left of it, after a resume), update by update."""
        cfg, progress = self.cfg, self.progress
        self.epoch = progress.epoch
        if self.stages is not None and (stage := self.stages.enter(self.epoch, self.state.model)):
            self.say(stage.line(self.stages.schedule.stages))
            self.logger.log("stage", progress.step, epoch=self.epoch, **stage.__dict__)
        order = batches.EpochBatches(
            self.sampler,
            self.epoch,
            self.plan.micro_batch,
            count=self.plan.full_steps * cfg.grad_accum_steps,
            start=progress.step_in_epoch * cfg.grad_accum_steps,
            seed=cfg.seed,
            tail=self.plan.tail,
        )
        loader = batches.train_loader(self.data.train, order, cfg.num_workers)
        _set_train_mode(self.state.model, frozen_backbone=self.epoch < cfg.freeze_backbone_epochs)
        self.window = Window()
        self.lr = self.state.schedule.set_step(progress.step)
        for micro, (images, labels, skipped) in enumerate(loader):
            self.skips.count(skipped)
            closes_step = (micro + 1) % cfg.grad_accum_steps == 0
            # A micro-batch with no readable image is skipped by every rank together (DDP would
            # wait forever for the gradients of a rank that sat one out).
            if distributed.all_agree(self.d, images is not None):
                self._forward_backward(images, labels, closes_step)
            if not closes_step:
                continue
            self._update()
            if self._after_update():
                break
            self.lr = self.state.schedule.set_step(progress.step)

    def _forward_backward(self, images: torch.Tensor, labels: torch.Tensor, closes_step: bool):
        """Accumulate one micro-batch's gradients; DDP syncs only on the step's last micro-batch."""
        d, cfg, progress = self.d, self.cfg, self.progress
        images = images.to(d.device, non_blocking=True, memory_format=self.memory_format)
        labels = labels.to(d.device, non_blocking=True)
        if self.stages is not None:  # mixup (soft targets) when the stage asks for it
            images, labels = self.stages.mix(images, labels, progress.step)
        sync = contextlib.nullcontext()
        if d.enabled and not closes_step:
            sync = self.train_model.no_sync()  # type: ignore[operator]
        with sync:
            with torch.autocast(d.device.type, self.amp_dtype, enabled=self.amp_dtype is not None):
                logits = self.train_model(images)
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=cfg.label_smoothing)
            self.state.scaler.scale(loss / cfg.grad_accum_steps).backward()
        loss_value = loss.item()
        self.guard.check(loss_value, progress.step, self.lr)  # NaN stops the run, unsaved
        self.window.add(loss_value, len(labels), d.world_size)
        progress.epoch_loss_sum += loss_value * len(labels)
        progress.epoch_loss_count += len(labels)

    def _update(self) -> None:
        """One optimizer update: clip (optional), step, average BN buffers, EMA, tick the clock."""
        state, cfg = self.state, self.cfg
        if cfg.grad_clip_norm > 0:
            state.scaler.unscale_(state.optimizer)
            nn.utils.clip_grad_norm_(state.model.parameters(), cfg.grad_clip_norm)
        state.scaler.step(state.optimizer)
        state.scaler.update()
        state.optimizer.zero_grad(set_to_none=True)
        distributed.average_buffers(self.d, state.model)
        if state.ema is not None:
            state.ema.update(state.model)
        state.progress.step += 1
        state.progress.step_in_epoch += 1

    def _after_update(self) -> bool:
        """Log, advance the bar, checkpoint mid-epoch when due; True after the run's last step."""
        cfg, progress, plan = self.cfg, self.progress, self.plan
        if record_due(progress.step, cfg.log_every, plan):
            position = self.epoch + progress.step_in_epoch / plan.steps_per_epoch
            record = self.window.record(position, self.lr)
            self.logger.log("train", progress.step, **record)
            self.bar.set_postfix(
                loss=f"{record['loss']:.3f}",
                lr=f"{self.lr:.3g}",
                img_s=f"{record['img_per_s']:.0f}",
            )
            self.window = Window()
        self.bar.update(1)
        if progress.step >= plan.total_steps:
            self.done = True
        elif (
            cfg.save_every_steps
            and progress.step % cfg.save_every_steps == 0
            and progress.step_in_epoch < plan.steps_per_epoch  # the epoch's end saves anyway
        ):
            self.checkpoint()
        return self.done

    # ---- end of an epoch (or of max_steps): count skips, evaluate, checkpoint --------------------
    def end_epoch(self) -> None:
        """Count the epoch's unreadable images, evaluate when due, and save where the run is."""
        cfg, progress = self.cfg, self.progress
        finished = progress.step_in_epoch >= self.plan.steps_per_epoch
        if finished:
            progress.epoch += 1
        skipped = self.skips.take_epoch(self.d)
        progress.skipped_total += len(skipped)
        if skipped:
            self.say(f"epoch {self.epoch + 1}: skipped {len(skipped)} unreadable images", err=True)
            self.logger.log(
                "skipped", progress.step, epoch=self.epoch + 1, files=sorted(set(skipped))
            )
        if (finished and progress.epoch % cfg.eval_every == 0) or self.done:
            self.evaluate(finished, len(skipped))
        if finished:
            progress.step_in_epoch = 0
            progress.epoch_loss_sum, progress.epoch_loss_count = 0.0, 0
        self.checkpoint()

    def evaluate(self, finished_epoch: bool, skipped: int) -> None:
        """Score the minival, keep the best weights so far, log and print where the run stands."""
        progress, plan = self.progress, self.plan
        eval_model = scored_model(self.stages, self.state.eval_model, self.data, plan)
        position = progress.epoch + (
            0 if finished_epoch else progress.step_in_epoch / plan.steps_per_epoch
        )
        entry = {
            "epoch": position,
            "train_loss": progress.epoch_loss_sum / max(progress.epoch_loss_count, 1),
            "lr": self.lr,
            "elapsed_s": time.time() - self.started,
            "skipped": skipped,
        }
        self.check_finite()
        if self.data.val is None:  # still, no weights that predict NaN are saved after this
            probe = build.probe_images(self.data, self.plan.micro_batch * self.d.world_size)
            self.check_scores(self.score(eval_model, probe), "training images")
        else:
            scores = self.score(eval_model, self.data.val)
            self.check_scores(scores, "minival")
            entry.update(val_acc=scores.top1, val_loss=scores.loss)
            if scores.top1 > progress.best_val_acc:
                progress.best_val_acc, progress.best_epoch = scores.top1, position
                self.state.best_model = {
                    k: v.detach().cpu().clone() for k, v in eval_model.state_dict().items()
                }
                if self.d.is_main:
                    path = self.out / "best.safetensors"
                    export_weights(path, eval_model, self.data, self.cfg, progress)
        progress.history.append({"step": progress.step, **entry})
        self.logger.log("eval", progress.step, **entry)
        if self.d.is_main:
            self.bar.write(report.epoch_line(entry, progress, self.cfg.epochs))
            if time.time() - self.last_plot > 60:
                plot_curves(self.logger.read(), self.out / "curves.png", self.spec.name)
                self.last_plot = time.time()

    def score(self, model: nn.Module, dataset: TransformedSubset) -> evaluation.Scores:
        """``model`` on ``dataset``: each rank scores every world_size-th image, counts summed."""
        loader = batches.shard_loader(dataset, self.d, self.plan.micro_batch, self.cfg.num_workers)
        scores = evaluation.evaluate(
            model,
            loader,
            device=self.d.device,
            amp_dtype=self.amp_dtype,
            channels_last=self.cfg.channels_last,
            on_skipped=self.skips.warn,
        )
        return scores.merge(distributed.all_reduce_sum(self.d, scores.totals()))

    def checkpoint(self) -> None:
        """Save everything needed to continue exactly from here (``last.pt``), if it is finite."""
        self.check_finite()
        save_state(self.out / "last.pt", self.d, self.cfg, self.state, self.data.class_names)

    # ---- divergence: nothing non-finite is saved ------------------------------------------------
    def where(self) -> str:
        return f"after step {self.progress.step}, epoch {self.epoch + 1}"

    def last_lr(self) -> float:
        """The learning rate of the last update (``self.lr`` may be the next one's already)."""
        return self.state.schedule.lr_at(max(self.progress.step - 1, 0))

    def check_finite(self) -> None:
        """Stop the run (:class:`~.divergence.DivergedError`) before saving NaN or inf weights."""
        models = {"weights": self.state.model}
        if self.state.ema is not None:
            models["EMA weights"] = self.state.ema.module
        self.guard.check_weights(models, self.where(), self.last_lr())

    def check_scores(self, scores: evaluation.Scores, split: str) -> None:
        """Stop the run when the weights just scored predict NaN (finite, but far too large)."""
        if scores.count:  # no readable image: no loss, and nothing said about the weights
            self.guard.check_scores(scores.loss, split, self.where(), self.last_lr())

    # ---- finish ---------------------------------------------------------------------------------
    def finish(self) -> TrainResult:
        """Score the final and the best weights on test, write the run's files, say how it went."""
        self.bar.close()
        d, data, state = self.d, self.data, self.state
        final_model = scored_model(self.stages, state.eval_model, data, self.plan)
        best_model = final_model
        if state.best_model is not None:
            best_model = copy_with_state(final_model, state.best_model)
        final_test = best_test = None
        self.check_finite()
        if data.test is not None:
            scores = self.score(final_model, data.test)
            self.check_scores(scores, "test split")
            final_test = best_test = scores.top1
            if best_model is not final_model:
                best_test = self.score(best_model, data.test).top1
        outcome = Outcome(
            cfg=self.cfg,
            model_name=self.spec.name,
            image_size=self.plan.image_size,
            progress=self.progress,
            has_minival=data.val is not None,
            final_test=final_test,
            best_test=best_test,
            fingerprints=distributed.gather_objects(d, state.fingerprint()),
            wall_time_s=time.time() - self.started,
            device=str(d.device),
            world_size=d.world_size,
            backend=torch.distributed.get_backend() if d.enabled else None,
            facts=sanity.run_facts(data, self.spec),  # for the meaningless-result warning
        )
        if d.is_main:
            export_weights(
                outcome.checkpoint, final_model, data, self.cfg, self.progress, final_test
            )
            export_weights(
                outcome.best_checkpoint, best_model, data, self.cfg, self.progress, best_test
            )
            plot_curves(self.logger.read(), self.out / "curves.png", self.spec.name)
            with atomic_write(self.out / "summary.json") as tmp:
                tmp.write_text(json.dumps(outcome.summary(), indent=2) + "\n")
        self.logger.close()
        if len(set(outcome.fingerprints)) > 1:
            report.warn(
                "ranks ended with different weights; check the data sharding and BN settings"
            )
        self.say(outcome.line())
        if (warning := outcome.warning) is not None:
            self.say(f"warning: {warning}", err=True)
        distributed.barrier(d)
        return outcome.result()


def _set_train_mode(model: nn.Module, frozen_backbone: bool) -> None:
    """Train mode; a frozen backbone keeps its BN statistics fixed too (only the head learns)."""
    model.train()
    if frozen_backbone:
        for name, module in model.named_modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and not name.startswith(
                "classifier"
            ):
                module.eval()
