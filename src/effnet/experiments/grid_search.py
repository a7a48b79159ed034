"""Step 1 of compound scaling: grid-search alpha, beta, gamma at phi = 1 (paper section 3.3).

The paper fixes phi = 1 (twice the base network's resources), enumerates depth/width/resolution
coefficients with alpha * beta**2 * gamma**2 ~ 2, trains each candidate and keeps the best; for
B0 that gave alpha = 1.2, beta = 1.1, gamma = 1.15. This module does the same for any base spec
and any training config.

Candidates train through the cached runner (:mod:`.runner`): a search that is interrupted, or
rerun with more candidates, trains only what is missing. The grid itself is a
:class:`SearchConfig`, which a config file's ``get_search()`` returns beside ``get_config()``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import flops
from ..data.catalog import dataset_classes
from ..scaling import compound, scale
from ..spec import NetSpec
from ..train.config import TrainConfig
from ..train.sanity import experiment_warning, spread
from .runner import Record, RunCache, RunOptions, TrainJob, run_jobs, seed_values
from .search_report import format_ranking, plot_ranking, write_csv, write_json
from .settings import load_experiment


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


@dataclass(frozen=True)
class SearchConfig:
    """The grid of a search: what ``get_search()`` in a config file returns.

    Axes are written as on the command line (``"1.0:1.4"`` every ``step``, or ``"1.0,1.1"``), and
    ``effnet search-scaling --alpha/--beta/--gamma/--step/--target/--tolerance/--phi/--seeds``
    replace single fields. The defaults are the paper's constraint (alpha*beta^2*gamma^2 ~ 2 at
    phi = 1) on a 0.05 grid that contains its B0 answer, one run per candidate.
    """

    alpha: str = "1.0:1.4"
    beta: str = "1.0:1.4"
    gamma: str = "1.0:1.4"
    step: float = 0.05
    target: float = 2.0
    tolerance: float = 0.1
    phi: float = 1.0
    seeds: int = 1  # runs per candidate: the config's seed and the ones after it

    def candidates(self) -> list[Candidate]:
        """Every grid point within ``tolerance`` of ``target``."""
        step = float(self.step)
        return enumerate_grid(
            parse_axis(str(self.alpha), step),
            parse_axis(str(self.beta), step),
            parse_axis(str(self.gamma), step),
            float(self.target),
            float(self.tolerance),
        )


def load_search(
    config: str | Path, overrides: list[str] | None = None
) -> tuple[TrainConfig, SearchConfig]:
    """A search's training config and grid, from one execution of its config file."""
    return load_experiment(config, overrides, "get_search", SearchConfig)


# ------------------------------------------------------------------------------------------------
# The search
# ------------------------------------------------------------------------------------------------
@dataclass
class SearchResult:
    """The ranked candidates (best first) and the files written."""

    rows: list[Record]
    table_md: Path
    table_csv: Path
    plot_png: Path
    warning: str | None = None  # why the runs' results mean nothing, or None

    @property
    def best(self) -> Record:
        return self.rows[0]


def plan_search(
    base: NetSpec, candidates: Sequence[Candidate], phi: float = 1.0, seeds: Sequence[int] = ()
) -> list[TrainJob]:
    """One training job per candidate and seed: the base compound-scaled with it at ``phi``.

    The first run of a candidate trains with the config's own seed under the candidate's label;
    each of ``seeds`` after the first adds a run labelled ``<candidate>_seed<seed>``. So a search
    with more seeds reuses the cached runs of one with fewer.
    """
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
        spec = candidate_spec(base, c, phi)
        jobs.append(TrainJob(c.label, spec, meta))
        jobs += [TrainJob(f"{c.label}_seed{seed}", spec, meta, seed) for seed in seeds[1:]]
    return jobs


def summarise(records: Sequence[Record], repeats: int) -> list[Record]:
    """One row per candidate from its ``repeats`` runs (consecutive in ``records``): the first
    run's columns, the per-seed accuracies and their mean (``best_val_acc``, ``test_acc``) and
    standard deviation. Diverged seeds have no scores; a candidate is ``diverged`` only when
    every seed did."""
    rows = []
    for i in range(0, len(records), repeats):
        runs = records[i : i + repeats]
        row = dict(runs[0])
        for key in ("best_val_acc", "test_acc"):
            values = spread([r.get(key) for r in runs])
            row[key], row[f"{key}_std"], row[f"{key}_runs"] = values.mean, values.std, values.values
        row["seeds"] = [r.get("seed") for r in runs]
        row["wall_time_s"] = sum(r.get("wall_time_s") or 0.0 for r in runs)
        row["diverged_seeds"] = [r["seed"] for r in runs if r.get("diverged")]
        row["diverged"] = runs[0].get("diverged") if all(r.get("diverged") for r in runs) else None
        row["warnings"] = [r.get("warning") for r in runs if r.get("warning")]
        rows.append(row)
    return rows


def rank(records: Sequence[Record]) -> list[Record]:
    """Best minival accuracy first (the paper picks by validation accuracy); ties: fewer MACs.

    Candidates whose training diverged come last, ranked ``"diverged"`` rather than by a number.
    """

    def key(r: Record) -> tuple[float, int]:
        val = r.get("best_val_acc")
        return (-(val if val is not None else -1.0), r["macs"])

    ranked = sorted((r for r in records if not r.get("diverged")), key=key)
    diverged = sorted((r for r in records if r.get("diverged")), key=lambda r: r["macs"])
    return [{"rank": i + 1, **r} for i, r in enumerate(ranked)] + [
        {**r, "rank": "diverged"} for r in diverged
    ]


def run_search(
    base: NetSpec,
    cfg: TrainConfig,
    candidates: Sequence[Candidate],
    out_dir: str | Path,
    phi: float = 1.0,
    options: RunOptions | None = None,
    seeds: int = 1,
) -> SearchResult:
    """Train (or read from cache) every candidate over ``seeds`` seeds (the config's seed and the
    ones after it), rank them by mean minival accuracy, write the table (md, csv, json) and PNG,
    and warn once when the runs' results mean nothing (:mod:`effnet.train.sanity`)."""
    if int(seeds) < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    options = options or RunOptions()
    out = Path(out_dir)
    jobs = plan_search(base, candidates, phi, seed_values(cfg.seed, seeds))
    classes = dataset_classes(cfg.dataset, cfg.data_dir)
    records = run_jobs(jobs, RunCache(cfg, out / "candidates", classes), options)
    base_macs = flops.count(base, num_classes=classes).macs
    rows = rank(summarise(records, seeds))
    for row in rows:
        row["macs_ratio"] = row["macs"] / base_macs
    out.mkdir(parents=True, exist_ok=True)
    md, csv_path, png = out / "ranking.md", out / "ranking.csv", out / "ranking.png"
    md.write_text(format_ranking(rows, base, cfg, phi, classes) + "\n")
    write_csv(rows, csv_path)
    warning = experiment_warning([(r["label"], r.get("warning")) for r in records])
    write_json(rows, out / "ranking.json", cfg, classes, warning)
    plot_ranking(rows, png, base.name)
    if warning and options.log:
        options.log(f"warning: {warning}")
    return SearchResult(rows, md, csv_path, png, warning)
