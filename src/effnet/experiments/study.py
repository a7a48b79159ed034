"""Single-dimension vs compound scaling at equal FLOPs: the paper's Figure 3 / Figure 8 / Table 7.

For each budget phi, the base network is compound-scaled (paper coefficients by default), and
three more networks are grown along one dimension only (width, depth or resolution), each with
its multiplier solved so that its multiply-adds match the compound model's. All of them (and the
unscaled base) are trained with the same config; the report is a Table 7-style markdown table and
a Figure 8-style plot of accuracy against FLOPs.

Multiply-adds are step functions of every multiplier (channels round to multiples of 8, repeats
round up, and feature maps are ``ceil(size / stride)``), so "matched" means the closest reachable
count; the table prints each model's ratio to the compound model so the match can be checked.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import flops
from ..data.catalog import dataset_classes
from ..scaling import ALPHA, BETA, GAMMA, compound, scale
from ..spec import NetSpec
from .grid_search import Trainer, TrainJob, run_jobs

#: The single dimensions, in the paper's order, and compound scaling last.
METHODS = ("width", "depth", "resolution", "compound")
SINGLE_DIMENSIONS = METHODS[:3]


# ------------------------------------------------------------------------------------------------
# Matching one dimension to a FLOP budget
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DimensionFit:
    """The multiplier found for one dimension, the network it gives and how close it landed."""

    dimension: str
    multiplier: float
    spec: NetSpec
    macs: int
    target: float

    @property
    def relative_error(self) -> float:
        return self.macs / self.target - 1


def scale_one_dimension(spec: NetSpec, dimension: str, multiplier: float) -> NetSpec:
    """``spec`` grown along one dimension only; resolution is rounded to whole pixels."""
    if dimension not in SINGLE_DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}; expected one of {SINGLE_DIMENSIONS}")
    if dimension == "resolution":
        size = round(spec.resolution * multiplier)
        return scale(spec, image_size=size, name=f"{spec.name}_r{size}")
    return scale(
        spec, name=f"{spec.name}_{dimension[0]}{multiplier:.3g}", **{dimension: multiplier}
    )


def match_flops(
    spec: NetSpec,
    dimension: str,
    target_macs: float,
    num_classes: int = 1000,
    max_multiplier: float = 64.0,
) -> DimensionFit:
    """Solve one dimension's multiplier so ``spec`` scaled along it lands nearest ``target_macs``.

    Multiply-adds never decrease as any one multiplier grows, so this bisects (on whole pixels
    for resolution, on the continuous multiplier for width and depth) and keeps whichever of the
    two bracketing networks is closer to the target, like :func:`effnet.scaling.scale_to_flops`.
    """

    def macs_at(m: float) -> int:
        return flops.count(scale_one_dimension(spec, dimension, m), num_classes).macs

    base = flops.count(spec, num_classes).macs
    if target_macs <= base:
        raise ValueError(
            f"target {target_macs / 1e6:.4g}M multiply-adds is not above the base network's "
            f"{base / 1e6:.4g}M; scaling only grows a network"
        )
    if macs_at(max_multiplier) < target_macs:
        raise ValueError(
            f"{dimension} x{max_multiplier:g} still has fewer than {target_macs / 1e6:.4g}M "
            "multiply-adds; the budget is out of reach along this dimension"
        )
    if dimension == "resolution":
        lo, hi = spec.resolution, math.ceil(spec.resolution * max_multiplier)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if macs_at(mid / spec.resolution) < target_macs:
                lo = mid
            else:
                hi = mid
        bracket = (lo / spec.resolution, hi / spec.resolution)
    else:
        lo_m, hi_m = 1.0, max_multiplier
        for _ in range(60):
            mid_m = (lo_m + hi_m) / 2
            if macs_at(mid_m) < target_macs:
                lo_m = mid_m
            else:
                hi_m = mid_m
        bracket = (lo_m, hi_m)
    best = min(bracket, key=lambda m: abs(macs_at(m) - target_macs))
    return DimensionFit(
        dimension,
        best,
        scale_one_dimension(spec, dimension, best),
        macs_at(best),
        float(target_macs),
    )


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


def plan_study(
    base: NetSpec,
    phis: Sequence[float],
    num_classes: int = 1000,
    alpha: float = ALPHA,
    beta: float = BETA,
    gamma: float = GAMMA,
) -> list[StudyModel]:
    """The baseline, then for each phi: width-, depth-, resolution-only and compound models.

    The compound model is built first (``scale(base, phi, alpha, beta, gamma)``); each single
    dimension is then solved to the compound model's exact multiply-adds.
    """
    if not phis:
        raise ValueError("a study needs at least one budget phi")
    cost = flops.count(base, num_classes)
    plan = [StudyModel("baseline", None, 1.0, 1.0, 1.0, base, cost.params, cost.macs, cost.macs)]
    for phi in sorted(set(phis)):
        m = compound(phi, alpha, beta, gamma)
        spec = scale(
            base,
            width=m.width,
            depth=m.depth,
            resolution=m.resolution,
            name=f"{base.name}_compound_phi{phi:g}",
        )
        c = flops.count(spec, num_classes)
        models = {
            "compound": StudyModel(
                "compound",
                phi,
                m.depth,
                m.width,
                spec.resolution / base.resolution,
                spec,
                c.params,
                c.macs,
                c.macs,
            )
        }
        for dim in SINGLE_DIMENSIONS:
            fit = match_flops(base, dim, c.macs, num_classes)
            multipliers = {"depth": 1.0, "width": 1.0}
            res_mult = fit.spec.resolution / base.resolution
            if dim in multipliers:
                multipliers[dim] = fit.multiplier
            p = flops.count(fit.spec, num_classes).params
            models[dim] = StudyModel(
                dim,
                phi,
                multipliers["depth"],
                multipliers["width"],
                res_mult,
                fit.spec,
                p,
                fit.macs,
                c.macs,
            )
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
# Running it and reporting
# ------------------------------------------------------------------------------------------------
@dataclass
class StudyResult:
    rows: list[dict[str, Any]]
    table_md: Path
    plot_png: Path
    results_json: Path


def study_jobs(plan: Sequence[StudyModel], seeds: Sequence[int]) -> list[TrainJob]:
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


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def summarise(
    plan: Sequence[StudyModel], records: Sequence[dict[str, Any]], seeds: Sequence[int]
) -> list[dict[str, Any]]:
    """One row per network: its scaling, cost and accuracies averaged over seeds."""
    rows = []
    for i, m in enumerate(plan):
        runs = records[i * len(seeds) : (i + 1) * len(seeds)]
        test = [r["test_acc"] for r in runs if r.get("test_acc") is not None]
        val = [r["best_val_acc"] for r in runs if r.get("best_val_acc") is not None]
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
                "test_acc": _mean(test),
                "test_acc_runs": test,
                "val_acc": _mean(val),
                "val_acc_runs": val,
                "seeds": list(seeds),
                "wall_time_s": sum(r.get("wall_time_s") or 0.0 for r in runs),
                "checkpoints": [r.get("checkpoint") for r in runs],
            }
        )
    return rows


def accuracy(row: dict[str, Any]) -> float | None:
    """The study's score: the run's reported test top-1 (minival when there is no test split)."""
    return row["test_acc"] if row.get("test_acc") is not None else row.get("val_acc")


def verdicts(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Per budget: does compound beat every single dimension, and by how much."""
    lines = []
    for phi in sorted({r["phi"] for r in rows if r["phi"] is not None}):
        group = {r["method"]: r for r in rows if r["phi"] == phi}
        comp = accuracy(group["compound"])
        singles = {d: accuracy(group[d]) for d in SINGLE_DIMENSIONS}
        if comp is None or any(v is None for v in singles.values()):
            lines.append(f"phi = {phi:g}: no accuracy measured")
            continue
        best_dim = max(singles, key=lambda d: singles[d])
        margin = 100 * (comp - singles[best_dim])
        outcome = "beats" if margin > 0 else "does not beat"
        lines.append(
            f"phi = {phi:g}: compound ({100 * comp:.2f}%) {outcome} the best single dimension "
            f"({best_dim}, {100 * singles[best_dim]:.2f}%): {margin:+.2f} points"
        )
    return lines


def _acc_cell(row: dict[str, Any]) -> str:
    runs = row["test_acc_runs"] or row["val_acc_runs"]
    if not runs:
        return "-"
    text = f"{100 * statistics.fmean(runs):.2f}"
    if len(runs) > 1:
        text += f" ({100 * min(runs):.1f}-{100 * max(runs):.1f})"
    return text


def _which_weights(cfg: Any) -> str:
    """Whose accuracy the training runs report (TrainConfig.select_on_minival)."""
    if getattr(cfg, "select_on_minival", True):
        return "early-stopped (best-on-minival) checkpoint's"
    return "final weights'"


def format_table(rows: Sequence[dict[str, Any]], base: NetSpec, cfg: Any) -> str:
    """Table 7 style: each model's scaling, FLOPs and top-1, grouped by budget."""
    seeds = rows[0]["seeds"]
    metric = "test" if any(r["test_acc"] is not None for r in rows) else "minival"
    schedule = f"{cfg.epochs} epochs" + (
        f" (at most {cfg.max_steps} steps)" if cfg.max_steps else ""
    )
    lines = [
        f"# Scaling {base.name} one dimension at a time vs compound scaling",
        "",
        f"Data: {cfg.dataset}; base resolution {base.resolution}px; every network trained from "
        f"scratch for {schedule}, batch {cfg.batch_size}, seed(s) {', '.join(map(str, seeds))}. "
        f"Top-1 is the {_which_weights(cfg)} {metric} accuracy"
        + (", mean (min-max) over seeds" if len(seeds) > 1 else "")
        + ". FLOPs are multiply-adds; 'vs compound' is each model's FLOPs relative to the "
        "compound model it is matched to.",
        "",
        "| model | budget | scaling | res (px) | params (M) | FLOPs (M) | vs compound "
        "| top-1 (%) |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["method"] == "baseline":
            how, budget = "none", "-"
        elif r["method"] == "compound":
            how = f"d={r['depth']:.2f}, w={r['width']:.2f}, r={r['resolution_mult']:.2f}"
            budget = f"phi={r['phi']:g}"
        else:
            value = r["resolution_mult"] if r["method"] == "resolution" else r[r["method"]]
            how, budget = f"{r['method']} ({r['method'][0]}={value:.2f})", f"phi={r['phi']:g}"
        lines.append(
            f"| {r['label']} | {budget} | {how} | {r['resolution']} | {r['params'] / 1e6:.3f} "
            f"| {r['macs'] / 1e6:.2f} | {r['macs_vs_compound'] - 1:+.1%} | {_acc_cell(r)} |"
        )
    lines += [
        "",
        "Paper (Table 7, ImageNet, B0 at 224px): B0 0.4B 77.3%; depth (d=4) 1.8B 79.0%; "
        "width (w=2) 1.8B 78.9%; resolution (r=2) 1.9B 79.1%; compound (d=1.4, w=1.2, "
        "r=1.3) 1.8B 81.1%.",
        "",
    ]
    lines += ["Outcome:", *[f"- {v}" for v in verdicts(rows)]]
    return "\n".join(lines)


def plot_study(rows: Sequence[dict[str, Any]], path: Path, title: str) -> None:
    """Figure 8 style: top-1 against FLOPs, one line per scaling method from the shared base."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    baseline = next(r for r in rows if r["method"] == "baseline")
    styles = {
        "width": ("tab:blue", "s"),
        "depth": ("tab:orange", "^"),
        "resolution": ("tab:green", "D"),
        "compound": ("tab:red", "o"),
    }
    fig, ax = plt.subplots(figsize=(7, 5))
    for method in METHODS:
        scaled = sorted((r for r in rows if r["method"] == method), key=lambda r: r["macs"])
        points = [baseline, *scaled]
        xs = [r["macs"] / 1e6 for r in points if accuracy(r) is not None]
        ys = [100 * accuracy(r) for r in points if accuracy(r) is not None]
        color, marker = styles[method]
        label = {"compound": "compound scaling"}.get(method, f"scale by {method}")
        ax.plot(
            xs,
            ys,
            marker=marker,
            color=color,
            label=label,
            linewidth=2.5 if method == "compound" else 1.5,
        )
    ax.set_xlabel("FLOPs (million multiply-adds)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_study(
    base: NetSpec,
    cfg: Any,
    phis: Sequence[float],
    out_dir: str | Path,
    seeds: Sequence[int] | None = None,
    alpha: float = ALPHA,
    beta: float = BETA,
    gamma: float = GAMMA,
    trainer: Trainer | None = None,
    workers: int = 1,
    log: Callable[[str], None] | None = print,
) -> StudyResult:
    """Plan, train (cached, resumable) and report the study; see the module docstring."""
    out = Path(out_dir)
    seeds = list(seeds) if seeds else [cfg.seed]
    classes = dataset_classes(cfg.dataset, cfg.data_dir)
    plan = plan_study(base, phis, classes, alpha, beta, gamma)
    if log:
        log(format_plan(plan))
    records = run_jobs(study_jobs(plan, seeds), cfg, out / "runs", trainer, workers, classes, log)
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
        "phis": sorted(set(phis)),
        "coefficients": {"alpha": alpha, "beta": beta, "gamma": gamma},
        "config": cfg.to_dict() if hasattr(cfg, "to_dict") else None,
        "rows": rows,
        "verdicts": verdicts(rows),
    }
    js.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return StudyResult(rows, table, png, js)
