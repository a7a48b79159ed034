"""The grid search's report: markdown table, CSV columns and the ranking plot."""

import csv

from PIL import Image

from effnet.experiments.search_report import (
    RANKING_COLUMNS,
    format_ranking,
    plot_ranking,
    write_csv,
)
from tests.experiments.tiny import tiny_base, tiny_config


def rows():
    common = {"flops_factor": 2.0, "depth": 1.2, "width": 1.1, "phi": 1.0, "params": 1_500_000}
    return [
        {"rank": 1, "alpha": 1.2, "beta": 1.1, "gamma": 1.15, "resolution": 28, "macs": 6_000_000,
         "macs_ratio": 1.9, "best_val_acc": 0.91, "test_acc": 0.9, "wall_time_s": 12.4,
         "label": "x", "checkpoint": "x/best.safetensors", **common},
        {"rank": 2, "alpha": 2.0, "beta": 1.0, "gamma": 1.0, "resolution": 24, "macs": 5_000_000,
         "macs_ratio": 1.6, "best_val_acc": 0.8, "test_acc": None, "wall_time_s": None,
         "label": "y", "checkpoint": "", **common},
    ]  # fmt: skip


def test_markdown_names_the_schedule_the_rows_and_the_best(tmp_path):
    cfg = tiny_config(tmp_path)
    text = format_ranking(rows(), tiny_base(), cfg, phi=1.0)
    assert text.startswith("# Compound-scaling grid search on tiny (24px)")
    assert "trained on digits for 1 epoch, at most 1 step." in text
    assert (
        "| 1 | 1.2 | 1.1 | 1.15 | 2.000 | 1.200 | 1.100 | 28 | 1.500 | 6.0 | 1.90 | 91.00 " in text
    )
    assert "| 80.00 | - | 0 |" in text  # no test split, no wall time
    assert "Best: alpha = 1.2, beta = 1.1, gamma = 1.15" in text
    no_cap = format_ranking(rows(), tiny_base(), cfg.replace(max_steps=None), phi=2.0)
    assert "for 1 epoch." in no_cap and "phi = 2:" in no_cap


def test_no_best_is_named_when_every_candidate_sits_at_chance(tmp_path):
    """Six digits candidates at 8-12% on a 180-image minival: the order is luck, not scaling."""
    cfg = tiny_config(tmp_path).replace(minival_size=180)
    at_chance = rows()
    at_chance[0]["best_val_acc"], at_chance[1]["best_val_acc"] = 0.122, 0.094
    text = format_ranking(at_chance, tiny_base(), cfg, phi=1.0)
    assert "Best:" not in text
    assert "No best: every candidate's minival top-1 is within noise of chance (10.0%" in text
    assert "Best: alpha = 1.2" in format_ranking(rows(), tiny_base(), cfg, phi=1.0)  # 91% is real


def test_csv_has_the_ranking_columns_only(tmp_path):
    path = tmp_path / "ranking.csv"
    write_csv(rows(), path)
    with open(path, newline="") as f:
        read = list(csv.DictReader(f))
    assert tuple(read[0]) == RANKING_COLUMNS
    assert [r["label"] for r in read] == ["x", "y"] and read[1]["test_acc"] == ""


def test_plot_is_a_png_with_a_bar_per_candidate(tmp_path):
    plot_ranking(rows(), tmp_path / "ranking.png", "tiny")
    with Image.open(tmp_path / "ranking.png") as png:
        assert png.format == "PNG" and png.size[0] > 500
