"""The paper's tables with effnet's own numbers beside them: ``effnet reproduce table2|3|7``.

Parameters and multiply-adds are computed exactly from the specs (:mod:`effnet.flops`), so they
are always "ours". Accuracy is only ours where something measured it: a results JSON (written by
``effnet study``, or a plain ``{"row key": top-1}`` mapping) fills that column, and every other
cell says "not measured" rather than repeating the paper.

The paper's figures come from :mod:`effnet.paper` (its Tables 2, 3 and 7 and section 5).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import flops
from ..paper import CONVNETS as PAPER_CONVNETS
from ..paper import TABLE3 as PAPER_TABLE3
from ..paper import TABLE7 as PAPER_TABLE7
from ..registry import get_spec
from ..scaling import scale, scale_to_flops
from ..spec import EFFICIENTNET_B0, NetSpec
from ..variants import VARIANTS, variant_spec
from .matching import match_flops

TABLES = ("table2", "table3", "table7", "v2")
NOT_MEASURED = "not measured"


# ------------------------------------------------------------------------------------------------
# Measured accuracy
# ------------------------------------------------------------------------------------------------
@dataclass
class Measured:
    """Top-1 (%) by row key, and a sentence saying where the numbers came from."""

    values: dict[str, float] = field(default_factory=dict)
    source: str = ""
    #: For a study: the study's own models behind each value (method -> row of results.json).
    study_rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    def get(self, key: str) -> str:
        value = self.values.get(key)
        return NOT_MEASURED if value is None else f"{value:.2f}"


def load_measured(path: str | Path | None) -> Measured:
    """Read accuracies from a study's ``results.json`` or a ``{"row key": top-1}`` JSON file.

    A study contributes its baseline and its largest budget's four scaled models, keyed by
    method (``baseline``, ``width``, ``depth``, ``resolution``, ``compound``), which is what
    Table 7 lists. Plain mappings may give fractions (0.771) or percentages (77.1).
    """
    if path is None:
        return Measured()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"results file {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None
    if isinstance(data, dict) and data.get("kind") == "effnet-study":
        return _from_study(data, path)
    if not isinstance(data, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in data.values()
    ):
        raise ValueError(
            f"{path}: expected an effnet study results.json or a JSON object of "
            '{"row key": top-1} numbers'
        )
    values = {k: float(v) * (100 if v <= 1 else 1) for k, v in data.items()}
    return Measured(values, f"measured values from {path}")


def _from_study(data: dict[str, Any], path: Path) -> Measured:
    rows = data["rows"]
    top_phi = max(r["phi"] for r in rows if r["phi"] is not None)
    chosen = {r["method"]: r for r in rows if r["phi"] in (None, top_phi)}
    values = {}
    for method, row in chosen.items():
        acc = row["test_acc"] if row.get("test_acc") is not None else row.get("val_acc")
        if acc is not None:
            values[method] = 100 * acc
    base = data["base"]
    source = (
        f"measured by `effnet study` ({path}) on {data['dataset']}, not ImageNet: "
        f"{base['name']} at {base['resolution']}px, budget phi = {top_phi:g}; the study's "
        "models are matched to its own compound model's FLOPs, so their multipliers differ "
        "from the paper's rows"
    )
    return Measured(values, source, chosen)


# ------------------------------------------------------------------------------------------------
# Reports
# ------------------------------------------------------------------------------------------------
@dataclass
class Report:
    name: str
    markdown: str
    rows: list[dict[str, Any]]


def _g(macs: int) -> str:
    return f"{macs / 1e9:.3f}"


def table2(measured: Measured | None = None) -> Report:
    """Table 2: EfficientNet B0-B7, the paper's params / FLOPs / top-1 beside ours."""
    measured = measured or Measured()
    rows = []
    lines = [
        "# Table 2: EfficientNet B0-B7 (ImageNet, 1000 classes)",
        "",
        "Ours: exact counts from effnet's specs (multiply-adds at each variant's own resolution). "
        "Paper: Table 2.",
        "",
        "| model | res | paper params (M) | our params (M) | paper FLOPs (B) | our FLOPs (B) "
        "| paper top-1 | measured top-1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, v in VARIANTS.items():
        if v.paper_top1 is None:
            continue
        cost = flops.count(variant_spec(name))
        row = {
            "key": name,
            "resolution": v.resolution,
            "paper_params_m": v.paper_params_m,
            "params": cost.params,
            "paper_flops_b": v.paper_flops_b,
            "macs": cost.macs,
            "paper_top1": v.paper_top1,
            "measured_top1": measured.values.get(name),
        }
        rows.append(row)
        lines.append(
            f"| {name} | {v.resolution} | {v.paper_params_m:g} | {cost.params / 1e6:.3f} "
            f"| {v.paper_flops_b:g} | {_g(cost.macs)} | {v.paper_top1:.1f} | {measured.get(name)} |"
        )
    lines += [
        "",
        "Other ConvNets in the paper's comparison (section 5; ours where effnet has the spec):",
        "",
        "| model | paper params (M) | our params (M) | paper FLOPs (B) | our FLOPs (B) "
        "| paper top-1 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, params_m, flops_b, top1, spec_name in PAPER_CONVNETS:
        ours_p = ours_f = "-"
        if spec_name:
            cost = flops.count(get_spec(spec_name))
            ours_p, ours_f = f"{cost.params / 1e6:.3f}", _g(cost.macs)
        flops_text = "-" if flops_b is None else f"{flops_b:g}"
        lines.append(
            f"| {label} | {params_m:g} | {ours_p} | {flops_text} | {ours_f} | {top1:.1f} |"
        )
    lines += _source_note(measured)
    return Report("table2", "\n".join(lines), rows)


def _compound_for(
    spec: NetSpec, scaling: dict[str, float] | None, paper_b: float
) -> tuple[NetSpec, str]:
    """The spec of a Table 3 row and how we got it (compound rows without published d/w/r are
    fitted to the paper's FLOPs with the paper's alpha, beta, gamma)."""
    if scaling is not None:
        return scale(spec, **scaling), ""
    fit = scale_to_flops(spec, paper_b * 1e9)
    m = fit.multipliers
    how = (
        f"d={m.depth:.2f}, w={m.width:.2f}, r={m.resolution:.2f} "
        f"(phi={fit.phi:.2f} fitted to the paper's FLOPs)"
    )
    return fit.spec, how


def table3(measured: Measured | None = None) -> Report:
    """Table 3: MobileNetV1/V2 and ResNet-50 scaled one dimension at a time and compound."""
    measured = measured or Measured()
    rows = []
    lines = [
        "# Table 3: scaling MobileNets and ResNet-50 (ImageNet)",
        "",
        "Ours: the same scale() that builds B1-B7 applied to the baselines as specs. "
        "Measured-top-1 keys are `<model>:<row>`, e.g. `resnet50:width x2`.",
        "",
        "| model | scaling | paper FLOPs (B) | our FLOPs (B) | diff | paper top-1 "
        "| measured top-1 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for base_name, row_name, scaling, paper_b, top1 in PAPER_TABLE3:
        spec = get_spec(base_name)
        scaled, how = _compound_for(spec, scaling, paper_b)
        macs = flops.count(scaled).macs
        key = f"{spec.name}:{row_name}"
        label = row_name
        if scaling and row_name == "compound":
            label += f" (d={scaling['depth']}, w={scaling['width']}, r={scaling['resolution']})"
        elif how:
            label += f" ({how})"
        rows.append({"key": key, "paper_flops_b": paper_b, "macs": macs, "paper_top1": top1})
        lines.append(
            f"| {spec.name} | {label} | {paper_b:g} | {_g(macs)} | {macs / 1e9 / paper_b - 1:+.1%} "
            f"| {top1:.1f} | {measured.get(key)} |"
        )
    lines += [
        "",
        "ResNet-50: our width x2 (16.1B) matches the paper's *depth* x4 figure (16.2) and our "
        "depth x4 (14.6B) its *width* x2 figure (14.7): uniform width x2 quadruples every conv "
        "but the 3-channel stem, while depth x4 adds identity blocks that cost less than each "
        "stage's strided first block. The two rows appear swapped in the paper "
        "(see tests/test_baselines.py).",
    ]
    lines += _source_note(measured)
    return Report("table3", "\n".join(lines), rows)


def table7(measured: Measured | None = None) -> Report:
    """Table 7: B0 scaled by depth, width, resolution or compound at ~1.8B FLOPs."""
    measured = measured or Measured()
    rows = []
    lines = [
        "# Table 7: single-dimension vs compound scaling of EfficientNet-B0",
        "",
        "Paper: ImageNet top-1 of B0 (224px) scaled to ~1.8B FLOPs. Ours: the same multipliers "
        "through effnet's scale(); measured top-1 comes from `effnet study` when a results file "
        "is given (a different data set and budget: see the note below the table).",
        "",
        "| model | paper FLOPs (B) | our FLOPs (B) | our params (M) | multiplier for paper FLOPs "
        "| paper top-1 | study model | study FLOPs (M) | measured top-1 |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for label, method, scaling, paper_b, top1 in PAPER_TABLE7:
        cost = flops.count(scale(EFFICIENTNET_B0, **scaling))
        exact = _multiplier_for(method, paper_b)
        study = measured.study_rows.get(method)
        study_label = study["label"] if study else "-"
        study_flops = f"{study['macs'] / 1e6:.2f}" if study else "-"
        rows.append(
            {
                "key": method,
                "paper_flops_b": paper_b,
                "macs": cost.macs,
                "params": cost.params,
                "paper_top1": top1,
                "measured_top1": measured.values.get(method),
            }
        )
        lines.append(
            f"| {label} | {paper_b:g} | {_g(cost.macs)} | {cost.params / 1e6:.3f} | {exact} "
            f"| {top1:.1f} | {study_label} | {study_flops} | {measured.get(method)} |"
        )
    lines += [
        "",
        "The paper's d=4, w=2 and r=2 are round labels: applied exactly to B0 they give "
        "1.45-1.58B FLOPs, not 1.8B. 'Multiplier for paper FLOPs' is the single-dimension "
        "multiplier that reaches the printed FLOPs (solved like `effnet study` matches budgets).",
    ]
    lines += _source_note(measured)
    return Report("table7", "\n".join(lines), rows)


def _multiplier_for(method: str, paper_b: float) -> str:
    if method not in ("depth", "width", "resolution"):
        return "-"
    fit = match_flops(EFFICIENTNET_B0, method, paper_b * 1e9)
    if method == "resolution":
        return f"r={fit.multiplier:.2f} ({fit.spec.resolution}px)"
    return f"{method[0]}={fit.multiplier:.2f}"


def _source_note(measured: Measured) -> list[str]:
    if not measured.source:
        return ["", f'"{NOT_MEASURED}": no results file was given (`--results`).']
    return ["", f"Measured top-1: {measured.source}."]


def table_v2(measured: Measured | None = None) -> Report:
    """EfficientNetV2's params / FLOPs / top-1 beside ours (:mod:`.reproduce_v2`)."""
    from .reproduce_v2 import v2_table

    measured = measured or Measured()
    lines, rows = v2_table(measured.values)
    return Report("v2", "\n".join(lines + _source_note(measured)), rows)


BUILDERS = {"table2": table2, "table3": table3, "table7": table7, "v2": table_v2}


def build_report(name: str, measured: Measured | None = None) -> Report:
    if name not in BUILDERS:
        raise ValueError(f"unknown table {name!r}; expected one of {', '.join(TABLES)}")
    return BUILDERS[name](measured)


# ------------------------------------------------------------------------------------------------
# Figure 1 / Figure 5
# ------------------------------------------------------------------------------------------------
def plot_family(path: str | Path, measured: Measured | None = None) -> Path:
    """Params (Figure 1) and FLOPs (Figure 5) against ImageNet top-1 for B0-B7 and other ConvNets.

    EfficientNets sit at our exact counts with the paper's accuracy; the other ConvNets at the
    paper's figures. Log x axes keep GPipe (557M params) on the chart.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, v in VARIANTS.items() if v.paper_top1 is not None]
    costs = [flops.count(variant_spec(n)) for n in names]
    top1 = [VARIANTS[n].paper_top1 for n in names]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, attr, scale_div, xlabel, title in (
        (axes[0], "params", 1e6, "parameters (millions)", "Figure 1 style: model size"),
        (axes[1], "macs", 1e9, "FLOPs (billions of multiply-adds)", "Figure 5 style: FLOPs"),
    ):
        xs = [getattr(c, attr) / scale_div for c in costs]
        ax.plot(xs, top1, "o-", color="tab:red", linewidth=2, label="EfficientNet (our counts)")
        for n, x, y in zip(names, xs, top1, strict=True):
            ax.annotate(
                n.replace("efficientnet_", "").upper(),
                (x, y),
                xytext=(4, -10),
                textcoords="offset points",
                fontsize=8,
            )
        for label, params_m, flops_b, acc, _spec in PAPER_CONVNETS:
            x = params_m if attr == "params" else flops_b
            if x is None:
                continue
            first = label == PAPER_CONVNETS[0][0]
            ax.scatter(
                [x],
                [acc],
                color="tab:gray",
                zorder=3,
                label="other ConvNets (paper)" if first else None,
            )
            ax.annotate(label, (x, acc), xytext=(4, 4), textcoords="offset points", fontsize=8)
        if measured and measured.values:
            for n, x in zip(names, xs, strict=True):
                if n in measured.values:
                    ax.scatter([x], [measured.values[n]], marker="x", color="black", zorder=4)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("ImageNet top-1 (%) (paper)")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="upper left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(
    name: str, out_dir: str | Path, results: str | Path | None = None
) -> tuple[Report, Path, Path]:
    """Write ``<out>/<table>.md`` and ``<out>/figure1_5.png``; return the report and both paths."""
    measured = load_measured(results)
    report = build_report(name, measured)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = out / f"{name}.md"
    md.write_text(report.markdown + "\n")
    png = plot_family(out / "figure1_5.png", measured)
    return report, md, png


__all__ = [
    "NOT_MEASURED",
    "TABLES",
    "Measured",
    "Report",
    "build_report",
    "load_measured",
    "plot_family",
    "table2",
    "table3",
    "table7",
    "write_report",
]
