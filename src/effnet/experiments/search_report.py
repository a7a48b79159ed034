"""The grid search's report: the ranked table (markdown and CSV) and the ranking plot.

Kept apart from the search itself so that :mod:`.grid_search` reads as the procedure, and so the
report can be rebuilt from cached records without touching training.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..spec import NetSpec
from ..train.config import TrainConfig


def plural(count: float, noun: str) -> str:
    """ "1 epoch", "12 epochs"."""
    return f"{count:g} {noun}" + ("" if count == 1 else "s")


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


def format_ranking(
    rows: Sequence[dict[str, Any]],
    base: NetSpec,
    cfg: TrainConfig,
    phi: float,
    num_classes: int | None = None,
) -> str:
    """The ranked table as markdown, with what was searched and how each candidate was trained."""
    schedule = plural(cfg.epochs, "epoch") + (
        f", at most {plural(cfg.max_steps, 'step')}" if cfg.max_steps else ""
    )
    lines = [
        f"# Compound-scaling grid search on {base.name} ({base.resolution}px)",
        "",
        f"Each candidate is the base scaled with phi = {phi:g}: depth alpha^phi, width beta^phi, "
        f"resolution gamma^phi; trained on {cfg.dataset} for {schedule}. "
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
    lines.append("")
    at_chance = chance_verdict(rows, cfg, num_classes)
    if at_chance:
        lines.append(at_chance)
    else:
        lines.append(
            f"Best: alpha = {best['alpha']:.3g}, beta = {best['beta']:.3g}, "
            f"gamma = {best['gamma']:.3g} (paper, for B0 on ImageNet: alpha = 1.2, beta = 1.1, "
            "gamma = 1.15)."
        )
    return "\n".join(lines)


def chance_verdict(
    rows: Sequence[dict[str, Any]], cfg: TrainConfig, num_classes: int | None = None
) -> str | None:
    """A line saying the ranking is noise when no candidate beat guessing; None otherwise.

    "Beat" means the best minival accuracy is more than two standard errors of a guesser's
    (sqrt(p(1-p)/n) for chance p on the n minival images) above chance: below that, the order of
    the candidates is the order of their luck, and naming a best one would mislead.
    """
    from ..data.catalog import dataset_classes

    classes = num_classes or dataset_classes(cfg.dataset, cfg.data_dir)
    scores = [r["best_val_acc"] for r in rows if r.get("best_val_acc") is not None]
    if not scores or classes < 2:
        return None
    chance = 1 / classes
    noise = 2 * math.sqrt(chance * (1 - chance) / max(cfg.minival_size, 1))
    if max(scores) > chance + noise:
        return None
    return (
        f"No best: every candidate's minival top-1 is within noise of chance ({100 * chance:.1f}% "
        f"for {classes} classes, +-{100 * noise:.1f} points on {cfg.minival_size} images), so "
        "this ranking says nothing about alpha, beta and gamma. Train each candidate longer "
        "(--override epochs=... max_steps=none) and search again."
    )


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
