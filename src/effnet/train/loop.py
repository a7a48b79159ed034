"""The training loop as a story: set up; train, evaluate and checkpoint each epoch; finish.

:func:`run` trains any task (:mod:`.task`: classification, detection) on one CPU, one GPU or every
process of a torchrun job, as the phases of one :class:`TrainingRun`:

1. **Set up**: the task's data, which fixes the run's sizes (:mod:`.build`); its model, from the
   same seed on every rank; EMA, optimizer, schedule and AMP scaler. Then a fresh start, or a
   resume from ``last.pt`` (:mod:`.checkpoint`) that puts back every counter and RNG state.
2. **Train an epoch** (:meth:`TrainingRun.train_epoch`): this rank's micro-batches
   (:mod:`.batches`), gradient accumulation, one optimizer and EMA update per
   ``grad_accum_steps``, log records, mid-epoch checkpoints when ``save_every_steps`` asks.
3. **End the epoch** (:meth:`TrainingRun.end_epoch`): count unreadable images over ranks,
   **evaluate** when due (every rank scores its shard, the task combines them, the best weights
   are kept), then **checkpoint**.
4. **Finish** (:meth:`TrainingRun.finish`): score the final and the best weights on the test
   split, export both, draw the curves, write ``summary.json``, return a :class:`TrainResult`.

Exact resume: everything that changes is saved together; the data order is a pure function of
(seed, epoch) and augmentation of (seed, epoch, sample), so a resumed run replays the same batches
and, with ``deterministic=True``, ends with bit-identical weights.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..fileio import atomic_write
from . import batches, build, distributed, report, rundir
from .amp import resolve_amp
from .checkpoint import (
    Progress,
    copy_with_state,
    load_state,
    resume_state,
    save_state,
    saved_classes,
)
from .config import TrainConfig
from .divergence import LossGuard
from .logs import RunLogger, Window, plot_curves, record_due
from .progressive import StageRunner, scored_model
from .result import Outcome, TrainResult
from .task import ExportFacts, ScoreContext, Task, task_for


def run(
    cfg: TrainConfig, resume: bool = False, overwrite: bool = False, task: Task | None = None
) -> TrainResult:
    """Train ``cfg``; see :func:`effnet.train.train`. ``task``: the one ``cfg`` names."""
    started = time.time()
    task = task if task is not None else task_for(cfg)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    d = distributed.setup(cfg.device)
    try:
        # The folder is this run's alone while it trains (rundir: lock, no fresh start over a run).
        inputs = (cfg.init_checkpoint,)
        with rundir.claim(cfg.output_dir, resume, overwrite, d.is_main, inputs):
            training = TrainingRun(cfg, d, resume, started, task)
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

    def __init__(
        self, cfg: TrainConfig, d: distributed.Dist, resume: bool, started: float, task: Task
    ):
        self.cfg, self.d, self.started, self.task = cfg, d, started, task
        self.out = Path(cfg.output_dir)
        build.apply_determinism(cfg, d.device)
        self.amp_dtype = resolve_amp(cfg.amp, d.device)
        self.memory_format = build.memory_format(cfg)
        self.say = report.printer(d)

        self.spec = task.spec(cfg)
        image_size = task.image_size(cfg, self.spec)
        # A resume keeps its label order where the data can follow it (detection: by name).
        saved = load_state(self.out / "last.pt") if resume else None
        self.data = task.load_data(cfg, image_size, self.say, saved_classes(saved))
        self.plan = build.plan_run(cfg, image_size, len(self.data.train), d.world_size)
        self.cfg = cfg = build.as_run(cfg, self.spec, self.plan)  # what config.json records
        model = task.build_model(cfg, self.spec, self.data, d)
        self.state = build.fresh_state(cfg, model, self.plan, self.amp_dtype, d, task.is_head)
        self.stages = None  # V2's progressive learning: sizes and regularization by stage
        if cfg.progressive is not None:
            pre = self.data.preprocess
            self.stages = StageRunner(
                cfg, self.data.train, self.data.num_classes, pre.mean, pre.std, d.rank
            )
        if resume:
            resume_state(self.out / "last.pt", saved, cfg, d, self.state, self.data.class_names)
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
        args = (self.spec.name, cfg, self.data, self.plan, d, self.amp_dtype, task.metric.split)
        self.say(report.start_line(*args))
        if self.plan.note:  # the batch fitted to the data, or an incomplete last batch kept
            self.say(self.plan.note)
        self.sampler = batches.rank_sampler(self.data.train, d, cfg.seed)
        self.bar = report.progress_bar(self.plan.total_steps, self.progress.step, d.is_main)
        self.skips = report.SkipLog()
        self.scoring = ScoreContext(
            d, self.plan.micro_batch, cfg.num_workers, self.amp_dtype, cfg.channels_last,
            self.skips.warn,
        )  # fmt: skip
        self.done = self.progress.step >= self.plan.total_steps
        self.epoch, self.lr, self.window = self.progress.epoch, 0.0, Window()
        self.last_plot = time.time()
        self.val_scores: Any = None  # the latest evaluation's, and (below) the best one's:
        self.best_val_scores: Any = None  # exported beside those weights

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
            accum=cfg.grad_accum_steps,
        )
        loader = batches.train_loader(self.data.train, order, cfg.num_workers, self.task.collate)
        self.task.train_mode(
            self.state.model, frozen_backbone=self.epoch < cfg.freeze_backbone_epochs
        )
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
        labels = self.task.to_device(labels, d.device)
        if self.stages is not None:  # mixup (soft targets) when the stage asks for it
            images, labels = self.stages.mix(images, labels, progress.step)
        sync = contextlib.nullcontext()
        if d.enabled and not closes_step:
            sync = self.train_model.no_sync()  # type: ignore[operator]
        with sync:
            with torch.autocast(d.device.type, self.amp_dtype, enabled=self.amp_dtype is not None):
                outputs = self.train_model(images)
            loss = self.task.loss(outputs, labels, images)
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
        progress, plan, task = self.progress, self.plan, self.task
        eval_model = self.scored_model()
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
            probe = task.probe(self.data, self.plan.micro_batch * self.d.world_size)
            self.check_scores(self.task.score(eval_model, probe, self.scoring), "training images")
        else:
            scores = self.val_scores = self.task.score(eval_model, self.data.val, self.scoring)
            self.check_scores(scores, "minival")
            headline = task.headline(scores)
            entry.update({task.metric.key: headline, "val_loss": task.score_loss(scores)})
            if headline > progress.best_val_acc:
                progress.best_val_acc, progress.best_epoch = headline, position
                self.best_val_scores = scores
                self.state.best_model = {
                    k: v.detach().cpu().clone() for k, v in eval_model.state_dict().items()
                }
                if self.d.is_main:
                    self.export(self.out / "best.safetensors", eval_model, val=scores)
        progress.history.append({"step": progress.step, **entry})
        self.logger.log("eval", progress.step, **entry)
        if self.d.is_main:
            self.bar.write(report.epoch_line(entry, progress, self.cfg.epochs, task.metric))
            if time.time() - self.last_plot > 60:
                self.plot()
                self.last_plot = time.time()

    def scored_model(self) -> nn.Module:
        """The weights scored and shipped: the EMA's (V2's earlier stages: BN re-measured at the
        evaluation size; the task's own recalibration, when it has one)."""
        model = scored_model(self.stages, self.state.eval_model, self.data, self.plan)
        return self.task.prepare_scoring(model, self.data)

    def export(self, path: Path, model: nn.Module, val: Any = None, test: Any = None) -> None:
        """``model`` as the task's shareable checkpoint, with where the run is and its scores."""
        self.task.export(path, model, ExportFacts(self.data, self.cfg, self.progress, val, test))

    def plot(self) -> None:
        """``curves.png`` from the log so far, its axes labelled with the task's metric."""
        m = self.task.metric
        labels = {"loss_label": m.loss_label, "acc_label": m.label, "metric_key": m.key}
        plot_curves(self.logger.read(), self.out / "curves.png", self.spec.name, **labels)

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

    def check_scores(self, scores: Any, split: str) -> None:
        """Stop the run when the weights just scored predict NaN (finite, but far too large)."""
        loss = self.task.score_loss(scores)
        if loss is not None:  # no readable image: no loss, and nothing said about the weights
            self.guard.check_scores(loss, split, self.where(), self.last_lr())

    # ---- finish ---------------------------------------------------------------------------------
    def finish(self) -> TrainResult:
        """Score the final and the best weights on test, write the run's files, say how it went."""
        self.bar.close()
        d, data, state, task = self.d, self.data, self.state, self.task
        final_model = self.scored_model()
        best_model = final_model
        if state.best_model is not None:
            best_model = copy_with_state(final_model, state.best_model)
        final_scores = best_scores = None
        self.check_finite()
        if data.test is not None:
            final_scores = best_scores = self.task.score(final_model, data.test, self.scoring)
            self.check_scores(final_scores, "test split")
            if best_model is not final_model:
                best_scores = self.task.score(best_model, data.test, self.scoring)
        outcome = Outcome(
            cfg=self.cfg,
            model_name=self.spec.name,
            image_size=self.plan.image_size,
            progress=self.progress,
            has_minival=data.val is not None,
            final_test=task.headline(final_scores) if final_scores is not None else None,
            best_test=task.headline(best_scores) if best_scores is not None else None,
            fingerprints=distributed.gather_objects(d, state.fingerprint()),
            wall_time_s=time.time() - self.started,
            device=str(d.device),
            world_size=d.world_size,
            backend=torch.distributed.get_backend() if d.enabled else None,
            facts=task.facts(data, self.spec),  # for the meaningless-result warning
            metric=task.metric.name,
            metric_title=task.metric.title,
            split=task.metric.split,
        )
        if d.is_main:
            self.export(outcome.checkpoint, final_model, self.val_scores, final_scores)
            best_val = self.val_scores if best_model is final_model else self.best_val_scores
            self.export(outcome.best_checkpoint, best_model, best_val, best_scores)
            self.plot()
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
