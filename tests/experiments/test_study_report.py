"""The study's report: the score it uses, its verdicts, the Table 7-style table and the plot."""

from PIL import Image

from effnet.experiments.matching import METHODS
from effnet.experiments.study_report import accuracy, format_table, plot_study, verdicts
from tests.experiments.tiny import tiny_base, tiny_config


def row(method, phi, test, val=None, seeds=(0,)):
    tests = [] if test is None else [test]
    vals = [] if val is None else [val]
    return {
        "label": "baseline" if phi is None else f"{method}_phi{phi:g}",
        "method": method,
        "phi": phi,
        "depth": 1.5 if method == "depth" else 1.0,
        "width": 1.4 if method == "width" else 1.0,
        "resolution_mult": 1.3 if method == "resolution" else 1.0,
        "resolution": 24,
        "params": 2_000_000,
        "macs": 3_000_000 if phi is None else 6_000_000,
        "macs_vs_compound": 1.0 if phi is None else 1.01,
        "test_acc": test,
        "test_acc_runs": tests,
        "val_acc": val,
        "val_acc_runs": vals,
        "seeds": list(seeds),
    }


def study_rows(compound=0.95, width=0.9):
    scores = {"width": width, "depth": 0.91, "resolution": 0.92, "compound": compound}
    return [row("baseline", None, 0.8), *(row(m, 1.0, scores[m]) for m in METHODS)]


def test_accuracy_is_test_top1_or_minival_without_a_test_split():
    assert accuracy(row("width", 1.0, 0.9, 0.7)) == 0.9
    assert accuracy(row("width", 1.0, None, 0.7)) == 0.7


def test_verdicts_per_budget():
    assert verdicts(study_rows()) == [
        "phi = 1: compound (95.00%) beats the best single dimension (resolution, 92.00%): "
        "+3.00 points"
    ]
    assert "does not beat" in verdicts(study_rows(compound=0.9))[0]
    assert verdicts(study_rows(width=None)) == ["phi = 1: no accuracy measured"]


def test_table_says_what_was_trained_and_whose_accuracy_it_reports(tmp_path):
    cfg = tiny_config(tmp_path)
    text = format_table(study_rows(), tiny_base(), cfg)
    assert text.startswith("# Scaling tiny one dimension at a time vs compound scaling")
    assert "trained from scratch for 1 epochs (at most 1 steps), batch 64, seed(s) 0." in text
    assert "early-stopped (best-on-minival) checkpoint's test accuracy" in text
    assert "| width_phi1 | phi=1 | width (w=1.40) | 24 | 2.000 | 6.00 | +1.0% | 90.00 |" in text
    assert "| baseline | - | none |" in text and "- phi = 1: compound (95.00%) beats" in text
    final = format_table(study_rows(), tiny_base(), cfg.replace(select_on_minival=False))
    assert "final weights' test accuracy" in final


def test_plot_is_a_png(tmp_path):
    plot_study(study_rows(), tmp_path / "figure8.png", "tiny")
    with Image.open(tmp_path / "figure8.png") as png:
        assert png.format == "PNG" and png.size[0] >= 600
