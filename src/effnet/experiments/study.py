"""Single-dimension vs compound scaling at equal FLOPs: the paper's Figure 3 / Figure 8 / Table 7.

For each budget phi, the base network is compound-scaled (paper coefficients by default), and
three more networks are grown along one dimension only (width, depth or resolution), each with
its multiplier solved so that its multiply-adds match the compound model's (:mod:`.matching`).
All of them (and the unscaled base) are trained with the same config through the cached runner
(:mod:`.runner`); the report (:mod:`.study_report`) is a Table 7-style markdown table and a
Figure 8-style plot of accuracy against FLOPs.

Budgets, seeds and coefficients are a :class:`StudyConfig`, which a config file's ``get_study()``
returns beside ``get_config()``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import flops
from ..data.catalog import dataset_classes
from ..scaling import ALPHA, BETA, GAMMA, compound, scale
from ..spec import NetSpec
from ..train.config import TrainConfig
from ..train.sanity import NOISE_RULE, experiment_warning, spread
from .matching import METHODS, SINGLE_DIMENSIONS, match_flops
from .runner import Record, RunCache, RunOptions, TrainJob, run_jobs, seed_values
from .settings import load_experiment
from .study_report import Row, format_table, plot_study, verdicts


@dataclass(frozen=True)
class StudyConfig:
    """What ``get_study()`` in a config file returns; ``effnet study --phi/--seeds/--alpha/
    --beta/--gamma/--base`` replace single fields.

    ``seeds`` is a count: the runs use the training config's seed and the ones after it, so a
    study with more seeds reuses the cached runs of one with fewer.
    """

    phis: tuple[float, ...] = (1.0,)  # compound budgets; each adds four trained networks
    seeds: int = 1
    alpha: float = ALPHA  # compound coefficients (paper: 1.2, 1.1, 1.15)
    beta: float = BETA
    gamma: float = GAMMA
    base: str | None = None  # network to scale, a name or spec .json; None = the config's model

    def checked(self) -> StudyConfig:
        """Numbers as numbers, and in range; the messages name the flags that set them."""
        phis = tuple(float(p) for p in self.phis)
        if any(p <= 0 for p in phis):
            raise ValueError(f"every --phi must be positive, got {phis}")
        if int(self.seeds) < 1:
            raise ValueError(f"--seeds must be >= 1, got {self.seeds}")
        return dataclasses.replace(
            self,
            phis=phis,
            seeds=int(self.seeds),
            alpha=float(self.alpha),
            beta=float(self.beta),
            gamma=float(self.gamma),
        )

    def seed_values(self, first: int) -> list[int]:
        """The seeds of every network: ``first`` (the config's seed) and the next ones."""
        return seed_values(first, self.seeds)


def load_study(
    config: str | Path, overrides: list[str] | None = None
) -> tuple[TrainConfig, StudyConfig]:
    """A study's training config and settings, from one execution of its config file."""
    return load_experiment(config, overrides, "get_study", StudyConfig)


# ------------------------------------------------------------------------------------------------
# The plan: which networks the study trains
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StudyModel:
    """One network of the study: how it was scaled, and what it costs."""

    method: str  # "baseline" or one of METHODS
    phi: float | None  # the compound budget it is matched to (None for the baseline)
    depth: float
    width: float
    resolution_mult: float
    spec: NetSpec
    params: int
    macs: int
    target_macs: int  # the compound model's multiply-adds at this budget

    @property
    def label(self) -> str:
        return "baseline" if self.phi is None else f"{self.method}_phi{self.phi:g}"

    @property
    def macs_vs_target(self) -> float:
        return self.macs / self.target_macs


def _compound_model(base: NetSpec, phi: float, study: StudyConfig, classes: int) -> StudyModel:
    m = compound(phi, study.alpha, study.beta, study.gamma)
    spec = scale(
        base,
        width=m.width,
        depth=m.depth,
        resolution=m.resolution,
        name=f"{base.name}_compound_phi{phi:g}",
    )
    c = flops.count(spec, classes)
    resolution_mult = spec.resolution / base.resolution
    return StudyModel("compound", phi, m.depth, m.width, resolution_mult, spec, c.params, c.macs,
                      c.macs)  # fmt: skip


def _single_model(base: NetSpec, dim: str, target: StudyModel, classes: int) -> StudyModel:
    fit = match_flops(base, dim, target.macs, classes)
    multipliers = {"depth": 1.0, "width": 1.0}
    if dim in multipliers:
        multipliers[dim] = fit.multiplier
    params = flops.count(fit.spec, classes).params
    resolution_mult = fit.spec.resolution / base.resolution
    return StudyModel(dim, target.phi, multipliers["depth"], multipliers["width"], resolution_mult,
                      fit.spec, params, fit.macs, target.macs)  # fmt: skip


def plan_study(base: NetSpec, study: StudyConfig, num_classes: int = 1000) -> list[StudyModel]:
    """The baseline, then for each phi: width-, depth-, resolution-only and compound models.

    The compound model is built first (``scale(base, phi, alpha, beta, gamma)``); each single
    dimension is then solved to the compound model's exact multiply-adds.
    """
    if not study.phis:
        raise ValueError("a study needs at least one budget phi")
    cost = flops.count(base, num_classes)
    plan = [StudyModel("baseline", None, 1.0, 1.0, 1.0, base, cost.params, cost.macs, cost.macs)]
    for phi in sorted(set(study.phis)):
        models = {"compound": _compound_model(base, phi, study, num_classes)}
        for dim in SINGLE_DIMENSIONS:
            models[dim] = _single_model(base, dim, models["compound"], num_classes)
        plan.extend(models[method] for method in METHODS)
    return plan


def format_plan(plan: Sequence[StudyModel]) -> str:
    """The networks a study will train, with their FLOP match (printed by ``--dry-run``)."""
    lines = [
        f"{'model':<24}{'depth':>7}{'width':>7}{'res':>6}{'params (M)':>12}{'MACs (M)':>10}"
        f"{'vs compound':>13}"
    ]
    for m in plan:
        lines.append(
            f"{m.label:<24}{m.depth:>7.3f}{m.width:>7.3f}{m.spec.resolution:>6}"
            f"{m.params / 1e6:>12.3f}{m.macs / 1e6:>10.2f}{m.macs_vs_target - 1:>+13.1%}"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Running it
# ------------------------------------------------------------------------------------------------
@dataclass
class StudyResult:
    rows: list[Row]
    table_md: Path
    plot_png: Path
    results_json: Path
    warning: str | None = None  # why the runs' results mean nothing, or None


def study_jobs(plan: Sequence[StudyModel], seeds: Sequence[int]) -> list[TrainJob]:
    """One training job per network and seed, labelled ``<network>_seed<seed>``."""
    jobs = []
    for m in plan:
        meta = {
            "method": m.method,
            "phi": m.phi,
            "depth": m.depth,
            "width": m.width,
            "resolution_mult": m.resolution_mult,
            "target_macs": m.target_macs,
        }
        for seed in seeds:
            jobs.append(TrainJob(f"{m.label}_seed{seed}", m.spec, meta, seed))
    return jobs


def summarise(
    plan: Sequence[StudyModel], records: Sequence[Record], seeds: Sequence[int]
) -> list[Row]:
    """One row per network: its scaling, cost and accuracies over seeds (mean, standard
    deviation and each seed's, :class:`effnet.train.sanity.Spread`)."""
    rows = []
    for i, m in enumerate(plan):
        runs = records[i * len(seeds) : (i + 1) * len(seeds)]
        test = spread([r.get("test_acc") for r in runs])
        val = spread([r.get("best_val_acc") for r in runs])
        scored = "test_images" if test.values else "minival_images"
        rows.append(
            {
                "label": m.label,
                "method": m.method,
                "phi": m.phi,
                "depth": m.depth,
                "width": m.width,
                "resolution_mult": m.resolution_mult,
                "resolution": m.spec.resolution,
                "params": m.params,
                "macs": m.macs,
                "macs_vs_compound": m.macs_vs_target,
                "test_acc": test.mean,
                "test_acc_std": test.std,
                "test_acc_runs": list(test.values),
                "val_acc": val.mean,
                "val_acc_std": val.std,
                "val_acc_runs": list(val.values),
                # the images each score is measured on (None: not recorded), for the noise
                "scored_images": max((r.get(scored) or 0 for r in runs), default=0) or None,
                "seeds": list(seeds),
                "wall_time_s": sum(r.get("wall_time_s") or 0.0 for r in runs),
                "checkpoints": [r.get("checkpoint") for r in runs],
                # diverged seeds have no scores: the means above are over the other seeds
                "diverged": [r["label"] for r in runs if r.get("diverged")],
            }
        )
    return rows


def run_study(
    base: NetSpec,
    cfg: TrainConfig,
    study: StudyConfig,
    out_dir: str | Path,
    options: RunOptions | None = None,
) -> StudyResult:
    """Plan, train (cached, resumable) and report the study; see the module docstring."""
    options = options or RunOptions()
    out = Path(out_dir)
    seeds = study.seed_values(cfg.seed)
    classes = dataset_classes(cfg.dataset, cfg.data_dir)
    plan = plan_study(base, study, classes)
    if options.log:
        options.log(format_plan(plan))
    records = run_jobs(study_jobs(plan, seeds), RunCache(cfg, out / "runs", classes), options)
    rows = summarise(plan, records, seeds)
    out.mkdir(parents=True, exist_ok=True)
    table, png, js = out / "table7.md", out / "figure8.png", out / "results.json"
    table.write_text(format_table(rows, base, cfg) + "\n")
    plot_study(rows, png, f"Scaling {base.name} on {cfg.dataset} (Figure 8 style)")
    results = {
        "kind": "effnet-study",
        "dataset": cfg.dataset,
        "base": base.to_dict(),
        "num_classes": classes,
        "phis": sorted(set(study.phis)),
        "coefficients": {"alpha": study.alpha, "beta": study.beta, "gamma": study.gamma},
        "config": cfg.to_dict(),
        "rows": rows,
        "verdicts": verdicts(rows),
        "noise_rule": NOISE_RULE,
        "warning": experiment_warning([(r["label"], r.get("warning")) for r in records]),
    }
    js.write_text(json.dumps(results, indent=2, default=str) + "\n")
    if results["warning"] and options.log:
        options.log(f"warning: {results['warning']}")
    return StudyResult(rows, table, png, js, results["warning"])
