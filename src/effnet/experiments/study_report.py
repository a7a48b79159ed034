"""The study's report: verdicts, the Table 7-style markdown table and the Figure 8-style plot.

Rows are the study's summaries (one per network, accuracies averaged over seeds); keeping their
presentation here leaves :mod:`.study` to planning and training.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..spec import NetSpec
from ..train.config import TrainConfig
from ..train.sanity import NOISE_RULE, Spread, gap_noise, spread, within_noise
from .matching import METHODS, SINGLE_DIMENSIONS

Row = dict[str, Any]


def accuracy(row: Row) -> float | None:
    """The study's score: the run's reported test top-1 (minival when there is no test split)."""
    return row["test_acc"] if row.get("test_acc") is not None else row.get("val_acc")


def _spread(row: Row) -> Spread:
    """The seeds' scores behind :func:`accuracy`: test top-1, or minival without a test split."""
    runs = row.get("test_acc_runs") if row.get("test_acc") is not None else row.get("val_acc_runs")
    return spread(runs or [accuracy(row)])


def verdicts(rows: Sequence[Row]) -> list[str]:
    """Per budget: does compound beat every single dimension, by how much, and is the gap more
    than noise (:func:`effnet.train.sanity.within_noise`, on the images the scores counted)."""
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
        pair = (_spread(group["compound"]), _spread(group[best_dim]))
        scored = group["compound"].get("scored_images")
        noise, tied = 100 * gap_noise(*pair, scored), within_noise(*pair, scored)
        outcome = "vs" if tied else "beats" if margin > 0 else "does not beat"
        line = (
            f"phi = {phi:g}: compound ({100 * comp:.2f}%) {outcome} the best single dimension "
            f"({best_dim}, {100 * singles[best_dim]:.2f}%): {margin:+.2f} points"
        )
        if tied:
            line += f", within noise ({noise:.2f}): no candidate is distinguishable from the others"
        elif noise > 0:
            line += f" (noise {noise:.2f})"
        lines.append(line)
    return lines


def _acc_cell(row: Row) -> str:
    runs = row["test_acc_runs"] or row["val_acc_runs"]
    if not runs:
        return "-"
    values = spread(runs)
    text = f"{100 * (values.mean or 0.0):.2f}"
    if len(runs) > 1:
        text += f" +- {100 * values.std:.2f}"
    return text


def _which_weights(cfg: TrainConfig) -> str:
    """Whose accuracy the training runs report (TrainConfig.select_on_minival)."""
    if cfg.select_on_minival:
        return "early-stopped (best-on-minival) checkpoint's"
    return "final weights'"


def format_table(rows: Sequence[Row], base: NetSpec, cfg: TrainConfig) -> str:
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
        + (", mean +- standard deviation over seeds" if len(seeds) > 1 else "")
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
    lines += ["Outcome:", *[f"- {v}" for v in verdicts(rows)], "", f"Noise: {NOISE_RULE}."]
    return "\n".join(lines)


def plot_study(rows: Sequence[Row], path: Path, title: str) -> None:
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
