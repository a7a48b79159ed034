"""Step 1 of compound scaling: grid-search alpha, beta, gamma at phi = 1 (paper section 3.3).

The paper fixes phi = 1 (twice the base network's resources), enumerates depth/width/resolution
coefficients with alpha * beta**2 * gamma**2 ~ 2, trains each candidate and keeps the best; for
B0 that gave alpha = 1.2, beta = 1.1, gamma = 1.15. This module does the same for any base spec
and any training config.

Training is the expensive part, so every finished run is cached as one JSON file named after the
candidate and a hash of (scaled spec, training config): a search that is interrupted, or rerun
with more candidates, trains only what is missing. The same cached runner trains the models of
``effnet study`` (:mod:`effnet.experiments.study`).

The trainer is a parameter (default :func:`effnet.train.train`) so that tests and other tools can
count or wrap training calls; with ``jobs > 1`` it must be a module-level function, because the
candidates then train in spawned processes.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import itertools
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import flops
from ..data.catalog import dataset_classes
from ..fileio import atomic_write
from ..scaling import compound, scale
from ..spec import NetSpec

#: Config fields that change where or how fast a run goes, not what it learns: a search moved to
#: another device or folder, or logging more often, still reuses its cached candidates.
NON_RESULT_FIELDS = frozenset(
    {"model", "output_dir", "device", "num_workers", "log_every", "save_every_steps", "compile"}
)

#: Bump when the cached record's meaning changes, so stale caches are retrained, not misread.
CACHE_VERSION = 1

Trainer = Callable[..., Any]


# ------------------------------------------------------------------------------------------------
# The grid
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class Candidate:
    """One (alpha, beta, gamma): depth, width and resolution growth per unit of phi."""

    alpha: float
    beta: float
    gamma: float

    @property
    def flops_factor(self) -> float:
        """alpha * beta**2 * gamma**2: the multiply-add growth per unit of phi, before rounding."""
        return self.alpha * self.beta**2 * self.gamma**2

    @property
    def label(self) -> str:
        return f"a{self.alpha:.3f}_b{self.beta:.3f}_g{self.gamma:.3f}"


def parse_axis(text: str, step: float) -> tuple[float, ...]:
    """Grid values of one coefficient: ``"1.0:1.4"`` (inclusive, every ``step``) or ``"1,1.2"``.

    Values are rounded to 6 decimals so that 1.0 + 4 * 0.05 is 1.2, not 1.2000000000000002, and
    every value must be >= 1: compound scaling only grows a network.
    """
    text = text.strip()
    if ":" in text:
        lo_text, _, hi_text = text.partition(":")
        try:
            lo, hi = float(lo_text), float(hi_text)
        except ValueError:
            raise ValueError(f"grid range {text!r} is not LOW:HIGH (e.g. 1.0:1.4)") from None
        if not step > 0:
            raise ValueError(f"grid step must be positive, got {step}")
        if hi < lo:
            raise ValueError(f"grid range {text!r} runs backwards")
        count = math.floor((hi - lo) / step + 1e-9) + 1
        values = tuple(round(lo + i * step, 6) for i in range(count))
    else:
        try:
            values = tuple(round(float(v), 6) for v in text.split(",") if v.strip())
        except ValueError:
            raise ValueError(f"grid values {text!r} are not numbers (e.g. 1.0,1.1,1.2)") from None
    if not values:
        raise ValueError(f"grid axis {text!r} has no values")
    low = min(values)
    if low < 1:
        raise ValueError(f"grid value {low} is below 1; alpha, beta and gamma must be >= 1")
    return values


def enumerate_grid(
    alphas: Iterable[float],
    betas: Iterable[float],
    gammas: Iterable[float],
    target: float = 2.0,
    tolerance: float = 0.1,
) -> list[Candidate]:
    """Every combination with ``|alpha * beta**2 * gamma**2 - target| <= tolerance``.

    The paper's constraint is ``~= 2``; its B0 answer (1.2, 1.1, 1.15) gives 1.92, so the default
    tolerance of 0.1 keeps it on a 0.05 grid. Ordered by alpha, beta, gamma.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    found = [
        Candidate(a, b, g)
        for a, b, g in itertools.product(
            sorted(set(alphas)), sorted(set(betas)), sorted(set(gammas))
        )
        if abs(a * b * b * g * g - target) <= tolerance + 1e-9
    ]
    if not found:
        raise ValueError(
            f"no (alpha, beta, gamma) on this grid has alpha*beta^2*gamma^2 within {tolerance} of "
            f"{target}; widen the ranges or the tolerance"
        )
    return found


def candidate_spec(base: NetSpec, candidate: Candidate, phi: float = 1.0) -> NetSpec:
    """The base network compound-scaled by ``candidate`` at ``phi`` (paper step 1: phi = 1)."""
    m = compound(phi, candidate.alpha, candidate.beta, candidate.gamma)
    return scale(
        base,
        width=m.width,
        depth=m.depth,
        resolution=m.resolution,
        name=f"{base.name}_{candidate.label}",
    )


# ------------------------------------------------------------------------------------------------
# Cached training of a list of specs (shared with effnet study)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainJob:
    """One network to train: its spec, a label for files and tables, and columns to carry along."""

    label: str
    spec: NetSpec
    meta: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None  # None = the config's own


def config_fingerprint(cfg: Any) -> dict[str, Any]:
    """The training config as it affects results (see :data:`NON_RESULT_FIELDS`)."""
    data = cfg.to_dict() if hasattr(cfg, "to_dict") else dataclasses.asdict(cfg)
    return {k: v for k, v in sorted(data.items()) if k not in NON_RESULT_FIELDS}


def job_key(job: TrainJob, cfg: Any) -> str:
    """A short hash of everything that decides a run's outcome: the spec and the config."""
    fingerprint = config_fingerprint(_job_config(job, cfg, Path(".")))
    payload = json.dumps(
        {"version": CACHE_VERSION, "spec": job.spec.to_dict(), "config": fingerprint},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _job_config(job: TrainJob, cfg: Any, run_dir: Path) -> Any:
    changes: dict[str, Any] = {
        "model": str(run_dir / "spec.json"),
        "image_size": None,  # the scaled spec carries its own resolution
        "output_dir": str(run_dir),
    }
    if job.seed is not None:
        changes["seed"] = job.seed
    return dataclasses.replace(cfg, **changes)


def cache_file(cache_dir: Path, job: TrainJob, cfg: Any) -> Path:
    return Path(cache_dir) / f"{job.label}-{job_key(job, cfg)}.json"


def read_cached(path: Path) -> dict[str, Any] | None:
    """A finished run's record, or None when absent or unreadable (then it is simply retrained)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("cache_version") != CACHE_VERSION:
        return None
    return record


def _write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary file beside ``path`` and rename: a kill never leaves half a record."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")


def default_trainer(cfg: Any, resume: bool = False) -> Any:
    """effnet's own training loop; imported lazily so planning a search needs no torch."""
    from ..train import train

    return train(cfg, resume=resume)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def train_job(
    job: TrainJob,
    cfg: Any,
    cache_dir: Path,
    trainer: Trainer,
    num_classes: int = 1000,
    quiet: bool = False,
) -> dict[str, Any]:
    """Train one job (resuming its ``last.pt`` if an earlier attempt was cut off) and cache it."""
    key = job_key(job, cfg)
    run_dir = Path(cache_dir) / f"{job.label}-{key}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "spec.json").write_text(job.spec.to_json() + "\n")
    run_cfg = _job_config(job, cfg, run_dir)
    resume = (run_dir / "last.pt").is_file()
    log = open(run_dir / "train.log", "a") if quiet else None  # noqa: SIM115
    try:
        with contextlib.ExitStack() as stack:
            if log is not None:
                stack.enter_context(contextlib.redirect_stdout(log))
                stack.enter_context(contextlib.redirect_stderr(log))
            result = trainer(run_cfg, resume=resume)
    finally:
        if log is not None:
            log.close()
    cost = flops.count(job.spec, num_classes=num_classes)
    record = {
        "cache_version": CACHE_VERSION,
        "label": job.label,
        "key": key,
        **job.meta,
        "seed": run_cfg.seed,
        "spec_name": job.spec.name,
        "resolution": job.spec.resolution,
        "num_classes": num_classes,
        "params": cost.params,
        "macs": cost.macs,
        "best_val_acc": _number(getattr(result, "best_val_acc", None)),
        "test_acc": _number(getattr(result, "test_acc", None)),
        "wall_time_s": _number(getattr(result, "wall_time_s", None)),
        "steps": getattr(result, "steps", None),
        "checkpoint": str(getattr(result, "best_checkpoint", "") or ""),
        "run_dir": str(run_dir),
        "config": config_fingerprint(run_cfg),
    }
    _write_json_atomic(cache_file(cache_dir, job, cfg), record)
    return record


def _init_worker(threads: int) -> None:
    """Each spawned worker gets its share of the cores, so N jobs do not fight over them."""
    import torch

    torch.set_num_threads(threads)


def run_jobs(
    jobs: Sequence[TrainJob],
    cfg: Any,
    cache_dir: str | Path,
    trainer: Trainer | None = None,
    workers: int = 1,
    num_classes: int = 1000,
    log: Callable[[str], None] | None = print,
) -> list[dict[str, Any]]:
    """Train every job that has no cached record; return all records in ``jobs`` order.

    ``workers > 1`` trains in that many spawned processes with ``cpu_count // workers`` torch
    threads each; their console output goes to ``<run dir>/train.log``. ``trainer`` defaults
    to :func:`default_trainer`, looked up when called.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    labels = [job.label for job in jobs]
    if len(set(labels)) != len(labels):
        raise ValueError("every job needs a distinct label")
    records: dict[int, dict[str, Any]] = {}
    todo: list[int] = []
    for i, job in enumerate(jobs):
        cached = read_cached(cache_file(cache_dir, job, cfg))
        if cached is not None:
            records[i] = cached
        else:
            todo.append(i)
    say = log or (lambda _msg: None)
    trainer = trainer or default_trainer
    say(f"{len(jobs)} runs: {len(records)} cached, {len(todo)} to train (cache: {cache_dir})")
    if todo:
        _train_missing(jobs, todo, cfg, cache_dir, trainer, workers, num_classes, records, say)
    return [records[i] for i in range(len(jobs))]


def _train_missing(jobs, todo, cfg, cache_dir, trainer, workers, num_classes, records, say) -> None:
    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc="runs", unit="run", file=sys.stderr, disable=None)
    try:
        if workers <= 1:
            for i in todo:
                say(f"training {jobs[i].label} ({jobs[i].spec.resolution}px)")
                records[i] = train_job(jobs[i], cfg, cache_dir, trainer, num_classes)
                bar.update(1)
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(
            max_workers=min(workers, len(todo)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(threads,),
        ) as pool:
            futures = {
                pool.submit(train_job, jobs[i], cfg, cache_dir, trainer, num_classes, True): i
                for i in todo
            }
            for future in as_completed(futures):
                i = futures[future]
                records[i] = future.result()
                say(f"finished {jobs[i].label}: {_acc_text(records[i])}")
                bar.update(1)
    finally:
        bar.close()


def _acc_text(record: dict[str, Any]) -> str:
    val, test = record.get("best_val_acc"), record.get("test_acc")
    parts = [f"minival {100 * val:.2f}%" if val is not None else "no minival"]
    if test is not None:
        parts.append(f"test {100 * test:.2f}%")
    return ", ".join(parts)


# ------------------------------------------------------------------------------------------------
# The search and its report
# ------------------------------------------------------------------------------------------------
@dataclass
class SearchResult:
    """The ranked candidates (best first) and the files written."""

    rows: list[dict[str, Any]]
    table_md: Path
    table_csv: Path
    plot_png: Path

    @property
    def best(self) -> dict[str, Any]:
        return self.rows[0]


def plan_search(base: NetSpec, candidates: Sequence[Candidate], phi: float = 1.0) -> list[TrainJob]:
    """One training job per candidate: the base compound-scaled with it at ``phi``."""
    jobs = []
    for c in candidates:
        m = compound(phi, c.alpha, c.beta, c.gamma)
        meta = {
            "alpha": c.alpha,
            "beta": c.beta,
            "gamma": c.gamma,
            "flops_factor": c.flops_factor,
            "phi": phi,
            "depth": m.depth,
            "width": m.width,
            "resolution_mult": m.resolution,
        }
        jobs.append(TrainJob(c.label, candidate_spec(base, c, phi), meta))
    return jobs


def rank(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best minival accuracy first (the paper picks by validation accuracy); ties: fewer MACs."""

    def key(r: dict[str, Any]) -> tuple[float, int]:
        val = r.get("best_val_acc")
        return (-(val if val is not None else -1.0), r["macs"])

    ranked = sorted(records, key=key)
    return [{"rank": i + 1, **r} for i, r in enumerate(ranked)]


def run_search(
    base: NetSpec,
    cfg: Any,
    candidates: Sequence[Candidate],
    out_dir: str | Path,
    phi: float = 1.0,
    trainer: Trainer | None = None,
    workers: int = 1,
    log: Callable[[str], None] | None = print,
) -> SearchResult:
    """Train (or read from cache) every candidate, rank them, write table (md + csv) and PNG."""
    out = Path(out_dir)
    jobs = plan_search(base, candidates, phi)
    classes = dataset_classes(cfg.dataset, cfg.data_dir)
    records = run_jobs(jobs, cfg, out / "candidates", trainer, workers, classes, log)
    base_macs = flops.count(base, num_classes=classes).macs
    rows = rank(records)
    for row in rows:
        row["macs_ratio"] = row["macs"] / base_macs
    out.mkdir(parents=True, exist_ok=True)
    md, csv_path, png = out / "ranking.md", out / "ranking.csv", out / "ranking.png"
    md.write_text(format_ranking(rows, base, cfg, phi) + "\n")
    write_csv(rows, csv_path)
    plot_ranking(rows, png, base.name)
    return SearchResult(rows, md, csv_path, png)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


RANKING_COLUMNS = (
    "rank",
    "alpha",
    "beta",
    "gamma",
    "flops_factor",
    "depth",
    "width",
    "resolution",
    "params",
    "macs",
    "macs_ratio",
    "best_val_acc",
    "test_acc",
    "wall_time_s",
    "label",
    "checkpoint",
)


def format_ranking(rows: Sequence[dict[str, Any]], base: NetSpec, cfg: Any, phi: float) -> str:
    """The ranked table as markdown, with what was searched and how each candidate was trained."""
    schedule = (
        f"{cfg.epochs} epochs" + (f", at most {cfg.max_steps} steps" if cfg.max_steps else "")
        if hasattr(cfg, "epochs")
        else "given config"
    )
    lines = [
        f"# Compound-scaling grid search on {base.name} ({base.resolution}px)",
        "",
        f"Each candidate is the base scaled with phi = {phi:g}: depth alpha^phi, width beta^phi, "
        f"resolution gamma^phi; trained on {getattr(cfg, 'dataset', '?')} for {schedule}. "
        "Ranked by best minival top-1 (the paper's selection criterion); test top-1 is the "
        "training run's reported one (early-stopped, or the final weights when the config sets "
        "select_on_minival=False). MACs are exact counts of the rounded network, so "
        "alpha*beta^2*gamma^2 (the ideal growth) and the real MACs ratio can differ.",
        "",
        "| rank | alpha | beta | gamma | a*b^2*g^2 | depth | width | res (px) | params (M) "
        "| MACs (M) | x base MACs | minival top-1 | test top-1 | train s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['rank']} | {r['alpha']:.3g} | {r['beta']:.3g} | {r['gamma']:.3g} "
            f"| {r['flops_factor']:.3f} | {r['depth']:.3f} | {r['width']:.3f} | {r['resolution']} "
            f"| {r['params'] / 1e6:.3f} | {r['macs'] / 1e6:.1f} | {r['macs_ratio']:.2f} "
            f"| {_pct(r['best_val_acc'])} | {_pct(r['test_acc'])} "
            f"| {r['wall_time_s'] or 0:.0f} |"
        )
    best = rows[0]
    lines += [
        "",
        f"Best: alpha = {best['alpha']:.3g}, beta = {best['beta']:.3g}, gamma = {best['gamma']:.3g}"
        f" (paper, for B0 on ImageNet: alpha = 1.2, beta = 1.1, gamma = 1.15).",
    ]
    return "\n".join(lines)


def write_csv(rows: Sequence[dict[str, Any]], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RANKING_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r.get(k) for k in RANKING_COLUMNS})


def plot_ranking(rows: Sequence[dict[str, Any]], path: Path, base_name: str) -> None:
    """Left: candidates ranked by minival accuracy. Right: accuracy against real multiply-adds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"a={r['alpha']:.3g} b={r['beta']:.3g} g={r['gamma']:.3g}" for r in rows]
    acc = [100 * (r["best_val_acc"] or 0.0) for r in rows]
    height = max(3.0, 0.32 * len(rows) + 1.5)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, height), width_ratios=(3, 2))
    colors = ["tab:green" if i == 0 else "tab:blue" for i in range(len(rows))]
    left.barh(range(len(rows)), acc, color=colors)
    left.set_yticks(range(len(rows)), labels, fontsize=8)
    left.invert_yaxis()
    low = min(acc)
    left.set_xlim(max(0.0, low - max(2.0, 0.1 * (100 - low))), 100)
    left.set_xlabel("minival top-1 (%)")
    left.set_title(f"grid search on {base_name}, phi = {rows[0].get('phi', 1):g}")
    right.scatter([r["macs"] / 1e6 for r in rows], acc, c=colors)
    for r, a in zip(rows, acc, strict=True):
        right.annotate(
            str(r["rank"]),
            (r["macs"] / 1e6, a),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    right.set_xlabel("multiply-adds (M)")
    right.set_ylabel("minival top-1 (%)")
    right.set_title("accuracy vs cost (labels: rank)")
    right.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------
# Config files
# ------------------------------------------------------------------------------------------------
def load_settings(config: str | Path, function: str) -> dict[str, Any]:
    """Optional experiment settings a config file defines beside ``get_config()``.

    ``configs/search_digits.py`` has ``get_search()`` (the grid) and ``configs/study_digits.py``
    ``get_study()`` (the budgets), so one file holds a whole experiment; a file without the
    function gives ``{}`` and the command-line defaults apply.
    """
    import importlib.util

    from ..train.config import resolve_config_path

    path = resolve_config_path(config)
    spec = importlib.util.spec_from_file_location(f"effnet_settings_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path} is not a Python config file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    getter = getattr(module, function, None)
    if getter is None:
        return {}
    settings = getter()
    if not isinstance(settings, dict):
        raise ValueError(f"{path}: {function}() must return a dict, got {type(settings).__name__}")
    return settings


def base_for(cfg: Any, base: str | Path | None = None) -> NetSpec:
    """The network to scale: ``base`` (or the config's model) at the config's image size."""
    from ..registry import get_spec

    spec = get_spec(base if base is not None else cfg.model)
    size = getattr(cfg, "image_size", None)
    return spec.replace(resolution=size) if size else spec
