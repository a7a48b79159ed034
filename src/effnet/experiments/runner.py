"""Cached, resumable, optionally parallel training of a list of networks (search and study).

Training is the expensive part of every experiment, so each finished run is cached as one JSON
record named after the job and a hash of (network spec, training config): an experiment that is
interrupted, or rerun with more networks, trains only what is missing, and a run cut off mid-way
resumes from its ``last.pt``. ``effnet search-scaling`` (:mod:`.grid_search`) and ``effnet
study`` (:mod:`.study`) both train through :func:`run_jobs`. A run that diverges (NaN loss or
weights: the loop's :class:`~effnet.train.divergence.DivergedError`) is recorded as diverged,
with its message and no scores, and named in the log: one bad candidate neither stops the
experiment nor is ranked as if its weights had scored.

The trainer is a parameter (default :func:`effnet.train.train`) so that tests and other tools can
count or wrap training calls; with ``workers > 1`` it must be a module-level function, because the
jobs then train in spawned processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import flops
from ..fileio import atomic_write
from ..spec import NetSpec
from ..train.config import TrainConfig
from ..train.divergence import DivergedError

if TYPE_CHECKING:
    from tqdm import tqdm

    from ..train import TrainResult

#: Config fields that change where or how fast a run goes, not what it learns: an experiment moved
#: to another device or folder, or logging more often, still reuses its cached runs.
NON_RESULT_FIELDS = frozenset(
    {"model", "output_dir", "device", "num_workers", "log_every", "save_every_steps", "compile"}
)

#: Bump when the cached record's meaning changes, so stale caches are retrained, not misread.
CACHE_VERSION = 1

#: ``trainer(cfg, resume=...)``: the result is read for TrainResult's attributes (best_val_acc,
#: test_acc, wall_time_s, steps, best_checkpoint, minival_images, test_images, warning), each
#: optional, so stand-ins need only those.
Trainer = Callable[..., Any]
Log = Callable[[str], None]
Record = dict[str, Any]


@dataclass(frozen=True)
class TrainJob:
    """One network to train: its spec, a label for files and tables, and columns to carry along."""

    label: str
    spec: NetSpec
    meta: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None  # None = the config's own


def seed_values(first: int, count: int) -> list[int]:
    """The seeds of ``count`` repeats: ``first`` (the config's seed) and the ones after it, so an
    experiment with more seeds reuses the cached runs of one with fewer."""
    return [first + i for i in range(int(count))]


def config_fingerprint(cfg: TrainConfig) -> dict[str, Any]:
    """The training config as it affects results (see :data:`NON_RESULT_FIELDS`)."""
    return {k: v for k, v in sorted(cfg.to_dict().items()) if k not in NON_RESULT_FIELDS}


def job_config(job: TrainJob, cfg: TrainConfig, run_dir: Path) -> TrainConfig:
    """The config one job trains with: its own spec file, resolution, folder and seed."""
    changes: dict[str, Any] = {
        "model": str(run_dir / "spec.json"),
        "image_size": None,  # the scaled spec carries its own resolution
        "output_dir": str(run_dir),
    }
    if job.seed is not None:
        changes["seed"] = job.seed
    return cfg.replace(**changes)


def job_key(job: TrainJob, cfg: TrainConfig) -> str:
    """A short hash of everything that decides a run's outcome: the spec and the config."""
    fingerprint = config_fingerprint(job_config(job, cfg, Path(".")))
    payload = json.dumps(
        {"version": CACHE_VERSION, "spec": job.spec.to_dict(), "config": fingerprint},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def read_cached(path: Path) -> Record | None:
    """A finished run's record, or None when absent or unreadable (then it is simply retrained)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("cache_version") != CACHE_VERSION:
        return None
    return record


def default_trainer(cfg: TrainConfig, resume: bool = False) -> TrainResult:
    """effnet's own training loop; imported lazily so planning an experiment needs no torch."""
    from ..train import train

    return train(cfg, resume=resume)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class RunCache:
    """The finished runs of one training config: a record and a run folder per job in ``folder``.

    Plain data (picklable), so spawned workers get the same cache to train into.
    """

    cfg: TrainConfig
    folder: Path
    num_classes: int = 1000

    def record_path(self, job: TrainJob) -> Path:
        return Path(self.folder) / f"{job.label}-{job_key(job, self.cfg)}.json"

    def read(self, job: TrainJob) -> Record | None:
        return read_cached(self.record_path(job))

    def train(self, job: TrainJob, trainer: Trainer, quiet: bool = False) -> Record:
        """Train one job (resuming its ``last.pt`` if an earlier attempt was cut off), cache it.

        ``quiet`` sends the run's console output to ``<run dir>/train.log``, so parallel runs do
        not interleave on the console.
        """
        key = job_key(job, self.cfg)
        run_dir = Path(self.folder) / f"{job.label}-{key}"
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "spec.json").write_text(job.spec.to_json() + "\n")
        run_cfg = job_config(job, self.cfg, run_dir)
        resume = (run_dir / "last.pt").is_file()
        result, diverged = None, None
        with contextlib.ExitStack() as stack:
            if quiet:
                log = stack.enter_context(open(run_dir / "train.log", "a"))
                stack.enter_context(contextlib.redirect_stdout(log))
                stack.enter_context(contextlib.redirect_stderr(log))
            try:
                result = trainer(run_cfg, resume=resume)
            except DivergedError as err:  # deterministic: a rerun would diverge again
                diverged = str(err)
        record = self._record(job, key, run_cfg, result)
        if diverged is not None:
            record["diverged"] = diverged
        with atomic_write(self.record_path(job)) as tmp:  # a kill never leaves half a record
            tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
        return record

    def _record(self, job: TrainJob, key: str, run_cfg: TrainConfig, result: Any) -> Record:
        cost = flops.count(job.spec, num_classes=self.num_classes)
        return {
            "cache_version": CACHE_VERSION,
            "label": job.label,
            "key": key,
            **job.meta,
            "seed": run_cfg.seed,
            "spec_name": job.spec.name,
            "resolution": job.spec.resolution,
            "num_classes": self.num_classes,
            "params": cost.params,
            "macs": cost.macs,
            "best_val_acc": _number(getattr(result, "best_val_acc", None)),
            "test_acc": _number(getattr(result, "test_acc", None)),
            "wall_time_s": _number(getattr(result, "wall_time_s", None)),
            "steps": getattr(result, "steps", None),
            "minival_images": getattr(result, "minival_images", None),
            "test_images": getattr(result, "test_images", None),
            "warning": getattr(result, "warning", None),
            "checkpoint": str(getattr(result, "best_checkpoint", "") or ""),
            "run_dir": str(run_cfg.output_dir),
            "config": config_fingerprint(run_cfg),
        }


@dataclass(frozen=True)
class RunOptions:
    """How the missing runs train: the trainer (None = :func:`default_trainer`, looked up when
    the runs start), how many spawned processes, and where progress lines go (None = nowhere)."""

    trainer: Trainer | None = None
    workers: int = 1
    log: Log | None = print


def run_jobs(
    jobs: Sequence[TrainJob], cache: RunCache, options: RunOptions | None = None
) -> list[Record]:
    """Train every job that has no cached record; return all records in ``jobs`` order.

    ``workers > 1`` trains in that many spawned processes with ``cpu_count // workers`` torch
    threads each; their console output goes to ``<run dir>/train.log``.
    """
    options = options or RunOptions()
    Path(cache.folder).mkdir(parents=True, exist_ok=True)
    labels = [job.label for job in jobs]
    if len(set(labels)) != len(labels):
        raise ValueError("every job needs a distinct label")
    records: dict[int, Record] = {}
    for i, job in enumerate(jobs):
        cached = cache.read(job)
        if cached is not None:
            records[i] = cached
    todo = [i for i in range(len(jobs)) if i not in records]
    say = options.log or (lambda _msg: None)
    say(f"{len(jobs)} runs: {len(records)} cached, {len(todo)} to train (cache: {cache.folder})")
    if todo:
        trainer = options.trainer or default_trainer
        missing = {i: jobs[i] for i in todo}
        records.update(_train_missing(missing, cache, trainer, options.workers, say))
    for i in sorted(records):
        if records[i].get("diverged"):
            say(f"warning: {jobs[i].label} diverged and has no scores: {records[i]['diverged']}")
    return [records[i] for i in range(len(jobs))]


def _train_missing(
    jobs: dict[int, TrainJob], cache: RunCache, trainer: Trainer, workers: int, say: Log
) -> dict[int, Record]:
    from .. import progress

    bar = progress.bar(total=len(jobs), desc="runs", unit="run", file=sys.stderr)
    try:
        if workers <= 1:
            return _train_serially(jobs, cache, trainer, say, bar)
        return _train_in_processes(jobs, cache, trainer, workers, say, bar)
    finally:
        bar.close()


def _train_serially(
    jobs: dict[int, TrainJob], cache: RunCache, trainer: Trainer, say: Log, bar: tqdm
) -> dict[int, Record]:
    records = {}
    for i, job in jobs.items():
        say(f"training {job.label} ({job.spec.resolution}px)")
        records[i] = cache.train(job, trainer)
        bar.update(1)
    return records


def _init_worker(threads: int) -> None:
    """Each spawned worker gets its share of the cores, so N jobs do not fight over them."""
    import torch

    torch.set_num_threads(threads)


def _train_in_processes(
    jobs: dict[int, TrainJob], cache: RunCache, trainer: Trainer, workers: int, say: Log, bar: tqdm
) -> dict[int, Record]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // workers)
    records = {}
    with ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(threads,),
    ) as pool:
        futures = {pool.submit(cache.train, job, trainer, True): i for i, job in jobs.items()}
        for future in as_completed(futures):
            i = futures[future]
            records[i] = future.result()
            say(f"finished {jobs[i].label}: {_acc_text(records[i])}")
            bar.update(1)
    return records


def _acc_text(record: Record) -> str:
    if record.get("diverged"):
        return "diverged"
    val, test = record.get("best_val_acc"), record.get("test_acc")
    parts = [f"minival {100 * val:.2f}%" if val is not None else "no minival"]
    if test is not None:
        parts.append(f"test {100 * test:.2f}%")
    return ", ".join(parts)
