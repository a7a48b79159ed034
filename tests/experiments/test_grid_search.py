"""The step-1 grid search: the grid, its typed settings, ranking and the search's outputs."""

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from effnet.experiments.grid_search import (
    Candidate,
    SearchConfig,
    candidate_spec,
    enumerate_grid,
    load_search,
    parse_axis,
    plan_search,
    rank,
    run_search,
)
from effnet.experiments.runner import RunCache, RunOptions
from effnet.spec import NetSpec
from tests.experiments.tiny import FakeResult, executions, tiny_base, tiny_config, write_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


# ------------------------------------------------------------------------------------------------
# The grid
# ------------------------------------------------------------------------------------------------
def test_grid_keeps_the_paper_answer_and_only_candidates_within_tolerance():
    axis = parse_axis("1.0:1.4", 0.05)
    assert axis == (1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3, 1.35, 1.4)
    found = enumerate_grid(axis, axis, axis, target=2.0, tolerance=0.1)
    # docs/paper.md section 1: the search found alpha = 1.2, beta = 1.1, gamma = 1.15 for B0.
    assert Candidate(1.2, 1.1, 1.15) in found
    for c in found:
        assert abs(c.alpha * c.beta**2 * c.gamma**2 - 2) <= 0.1 + 1e-9
    # Every grid point left out really is outside the tolerance.
    kept = {(c.alpha, c.beta, c.gamma) for c in found}
    for a in axis:
        for b in axis:
            for g in axis:
                if (a, b, g) not in kept:
                    assert abs(a * b * b * g * g - 2) > 0.1


def test_grid_axis_forms_and_errors():
    assert parse_axis("1,1.15,1.3", 0) == (1.0, 1.15, 1.3)
    with pytest.raises(ValueError, match=">= 1"):
        parse_axis("0.9:1.2", 0.1)
    with pytest.raises(ValueError, match="LOW:HIGH"):
        parse_axis("a:b", 0.1)
    with pytest.raises(ValueError, match="widen"):
        enumerate_grid((1.0,), (1.0,), (1.0,), target=2.0, tolerance=0.1)


def test_candidate_spec_is_the_base_compound_scaled():
    spec = candidate_spec(tiny_base(), Candidate(2.0, 1.0, 1.0))
    # Depth 2.0 doubles every stage's repeats (1, 1, 2) -> (2, 2, 4): 8 blocks.
    assert spec.num_blocks == 8 and spec.resolution == 24
    assert spec.name == "tiny_a2.000_b1.000_g1.000"


# ------------------------------------------------------------------------------------------------
# Typed settings
# ------------------------------------------------------------------------------------------------
def test_default_search_is_the_papers_constraint_on_a_005_grid():
    found = SearchConfig().candidates()
    assert len(found) == 75  # the count the digits config's docstring gives for the fine grid
    assert Candidate(1.2, 1.1, 1.15) in found


def test_digits_search_config_is_typed_and_holds_the_papers_answer():
    cfg, search = load_search(CONFIGS / "search_digits.py")
    assert isinstance(search, SearchConfig) and cfg.image_size == 56
    found = search.candidates()
    assert len(found) == 6 and Candidate(1.2, 1.1, 1.15) in found


def test_load_search_executes_the_file_once_and_defaults_without_get_search(tmp_path):
    grid = "from effnet.experiments.grid_search import SearchConfig\n\n\ndef get_search():\n"
    grid += '    return SearchConfig(alpha="1.2,2.0", beta="1.0", tolerance=0.05)\n'
    with_grid = write_config(tmp_path / "with_grid.py", grid)
    cfg, search = load_search(with_grid, ["epochs=2"])
    assert executions(with_grid) == 1
    assert cfg.epochs == 2 and search.tolerance == 0.05
    assert (search.alpha, search.beta, search.gamma) == ("1.2,2.0", "1.0", "1.0:1.4")
    plain = write_config(tmp_path / "plain.py")
    assert load_search(plain)[1] == SearchConfig() and executions(plain) == 1


def test_a_dict_from_get_search_is_refused_with_the_type_to_return(tmp_path):
    config = write_config(tmp_path / "old.py", "\ndef get_search():\n    return {'phi': 1}\n")
    with pytest.raises(ValueError, match=r"get_search\(\) returned dict, not SearchConfig"):
        load_search(config)


# ------------------------------------------------------------------------------------------------
# Ranking and the search's outputs
# ------------------------------------------------------------------------------------------------
def test_rank_puts_best_minival_first_and_breaks_ties_by_cost():
    records = [
        {"label": "a", "best_val_acc": 0.8, "macs": 5},
        {"label": "b", "best_val_acc": 0.9, "macs": 9},
        {"label": "c", "best_val_acc": 0.8, "macs": 3},
        {"label": "d", "best_val_acc": None, "macs": 1},
    ]
    assert [(r["rank"], r["label"]) for r in rank(records)] == [
        (1, "b"),
        (2, "c"),
        (3, "a"),
        (4, "d"),
    ]


def test_plan_carries_the_coefficients_to_every_row():
    (job,) = plan_search(tiny_base(), [Candidate(1.2, 1.1, 1.15)], phi=2.0)
    assert job.label == "a1.200_b1.100_g1.150"
    assert job.meta["phi"] == 2.0 and job.meta["depth"] == pytest.approx(1.2**2)
    assert job.meta["flops_factor"] == pytest.approx(1.2 * 1.1**2 * 1.15**2)


def test_search_ranks_writes_table_csv_and_plot_and_reuses_its_cache(tmp_path):
    scores = {"a2.000": 0.6, "a1.200": 0.8}
    calls = []

    def fake(cfg, resume=False):
        calls.append(cfg)
        name = NetSpec.from_json(Path(cfg.model).read_text()).name
        return FakeResult(next(v for k, v in scores.items() if k in name))

    cfg = tiny_config(tmp_path)
    candidates = [Candidate(2.0, 1.0, 1.0), Candidate(1.2, 1.0, 1.3)]
    options = RunOptions(fake, log=None)
    result = run_search(tiny_base(), cfg, candidates, tmp_path / "s", options=options)
    assert [(r["rank"], r["alpha"]) for r in result.rows] == [(1, 1.2), (2, 2.0)]
    assert result.best["best_val_acc"] == 0.8
    # The trained config points at the candidate's own spec file and resolution.
    assert calls[0].model.endswith("spec.json") and calls[0].image_size is None
    with open(result.table_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["best_val_acc"]) for r in rows] == [0.8, 0.6]
    assert result.table_md.read_text().count("\n| 1 |") == 1
    with Image.open(result.plot_png) as png:
        assert png.format == "PNG"

    # The records live in OUT/candidates, keyed by the candidate: a rerun trains nothing.
    job = plan_search(tiny_base(), candidates)[0]
    record = RunCache(cfg, tmp_path / "s" / "candidates").record_path(job)
    assert json.loads(record.read_text())["best_val_acc"] == 0.6
    run_search(tiny_base(), cfg, candidates, tmp_path / "s", options=options)
    assert len(calls) == 2
