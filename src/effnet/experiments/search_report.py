"""The grid search's report: the ranked table (markdown and CSV) and the ranking plot.

Kept apart from the search itself so that :mod:`.grid_search` reads as the procedure, and so the
report can be rebuilt from cached records without touching training.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..spec import NetSpec
from ..train.config import TrainConfig
from ..train.sanity import (
    NOISE_RULE,
    Spread,
    binomial_se,
    chance_band,
    gap_noise,
    near_chance,
    rivals,
    spread,
)


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
    "best_val_acc_std",
    "test_acc",
    "seeds",
    "wall_time_s",
    "label",
    "checkpoint",
)


def _acc_cell(row: dict[str, Any], key: str) -> str:
    """The mean accuracy, ``mean +- std`` when several seeds scored."""
    runs = row.get(f"{key}_runs") or ()
    text = _pct(row.get(key))
    return f"{text} +- {100 * row[f'{key}_std']:.2f}" if len(runs) > 1 else text


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
    seeds = max(len(r.get("seeds") or [None]) for r in rows)
    over = f" over {plural(seeds, 'seed')} (mean +- standard deviation)" if seeds > 1 else ""
    lines = [
        f"# Compound-scaling grid search on {base.name} ({base.resolution}px)",
        "",
        f"Each candidate is the base scaled with phi = {phi:g}: depth alpha^phi, width beta^phi, "
        f"resolution gamma^phi; trained on {cfg.dataset} for {schedule}{over}. "
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
            f"| {_acc_cell(r, 'best_val_acc')} | {_acc_cell(r, 'test_acc')} "
            f"| {r['wall_time_s'] or 0:.0f} |"
        )
    lines.append("")
    scored = minival_images(rows, cfg)
    verdict = chance_verdict(rows, cfg, num_classes, scored) or best_verdict(rows, scored)
    lines.append(verdict)
    return "\n".join(lines)


def minival_images(rows: Sequence[dict[str, Any]], cfg: TrainConfig) -> int:
    """The minival size the candidates were scored on: as their runs recorded it, or the
    config's ``minival_size`` for records from before runs recorded it."""
    recorded = [r.get("minival_images") or 0 for r in rows]
    return max(recorded, default=0) or cfg.minival_size


def _spread(row: dict[str, Any]) -> Spread:
    return spread(row.get("best_val_acc_runs") or [row.get("best_val_acc")])


def best_verdict(rows: Sequence[dict[str, Any]], scored: int) -> str:
    """The best candidate, or "no candidate is distinguishable" when its mean minival top-1 is
    within noise (:func:`effnet.train.sanity.within_noise`) of another candidate's."""
    scoredrows = [r for r in rows if r.get("best_val_acc") is not None and not r.get("diverged")]
    if not scoredrows:
        return "No best: no candidate has a minival score."
    best, others = scoredrows[0], scoredrows[1:]
    tied = rivals(_spread(best), [_spread(r) for r in others], scored)
    name = f"alpha = {best['alpha']:.3g}, beta = {best['beta']:.3g}, gamma = {best['gamma']:.3g}"
    noise = (
        f"Noise: minival top-1 on {scored} images; {NOISE_RULE}. One run's binomial standard "
        f"error at the best's {_pct(best['best_val_acc'])}% is "
        f"+-{100 * binomial_se(best['best_val_acc'], scored):.2f} points."
    )
    if tied:
        closest = others[tied[-1]]
        gap = 100 * (best["best_val_acc"] - closest["best_val_acc"])
        margin = 100 * gap_noise(_spread(best), _spread(closest), scored)
        return (
            f"No best: no candidate is distinguishable from the others. The top one ({name}, "
            f"{_pct(best['best_val_acc'])}%) leads {plural(len(tied), 'other')} by at most "
            f"{gap:.2f} points, within noise ({margin:.2f} points); train longer, add --seeds or "
            f"use a larger minival before trusting the order.\n\n{noise}"
        )
    return (
        f"Best: {name} (paper, for B0 on ImageNet: alpha = 1.2, beta = 1.1, gamma = 1.15).\n\n"
        f"{noise}"
    )


def chance_verdict(
    rows: Sequence[dict[str, Any]],
    cfg: TrainConfig,
    num_classes: int | None = None,
    scored: int | None = None,
) -> str | None:
    """A line saying the ranking is noise when no candidate beat guessing; None otherwise.

    "Beat" is :func:`effnet.train.sanity.near_chance`'s rule (more than two binomial standard
    errors above chance on the ``scored`` minival images): below it, the order of the candidates
    is the order of their luck, and naming a best one would mislead.
    """
    from ..data.catalog import dataset_classes

    classes = num_classes or dataset_classes(cfg.dataset, cfg.data_dir)
    scored = scored or minival_images(rows, cfg)
    scores = [r["best_val_acc"] for r in rows if r.get("best_val_acc") is not None]
    if not scores or classes < 2 or not near_chance(max(scores), classes, scored):
        return None
    chance, noise = chance_band(classes, scored)
    return (
        f"No best: every candidate's minival top-1 is within noise of chance ({100 * chance:.1f}% "
        f"for {classes} classes, +-{100 * noise:.1f} points on {scored} images), so "
        "this ranking says nothing about alpha, beta and gamma. Train each candidate longer "
        "(--override schedule.epochs=... schedule.max_steps=none) and search again."
    )


def write_json(
    rows: Sequence[dict[str, Any]],
    path: Path,
    cfg: TrainConfig,
    num_classes: int,
    warning: str | None,
) -> None:
    """``ranking.json``: every row with its per-seed accuracies, the noise rule and verdict."""
    scored = minival_images(rows, cfg)
    verdict = chance_verdict(rows, cfg, num_classes, scored) or best_verdict(rows, scored)
    data = {
        "kind": "effnet-search",
        "dataset": cfg.dataset,
        "num_classes": num_classes,
        "minival_images": scored,
        "noise_rule": NOISE_RULE,
        "verdict": verdict,
        "warning": warning,
        "rows": list(rows),
    }
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


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
