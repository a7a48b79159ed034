"""Seeds in the grid search and the study: mean and spread per candidate, the per-seed values in
the JSON, the run cache keyed on the seed, and no "Best" when the best is within noise."""

import json
import math
import re
from pathlib import Path

import pytest

from effnet.cli import main
from effnet.experiments.grid_search import Candidate, plan_search, run_search
from effnet.experiments.runner import RunCache, RunOptions
from effnet.experiments.search_report import best_verdict, format_ranking
from effnet.experiments.study import StudyConfig, run_study
from effnet.spec import NetSpec
from effnet.train.sanity import Spread, gap_noise, rivals, spread, within_noise
from tests.experiments.tiny import FakeResult, tiny_base, tiny_config, write_config

NO_BEST = "No best: no candidate is distinguishable from the others."


def row(alpha, accs, rank=1, minival=180):
    """A ranked search row as the search writes it, from one accuracy per seed."""
    values = spread(accs)
    return {"rank": rank, "alpha": alpha, "beta": 1.0, "gamma": 1.0, "flops_factor": 2.0,
            "depth": alpha, "width": 1.0, "resolution": 24, "params": 1_000_000, "macs": 5_000_000,
            "macs_ratio": 2.0, "best_val_acc": values.mean, "best_val_acc_std": values.std,
            "best_val_acc_runs": values.values, "test_acc": None, "wall_time_s": 1.0,
            "seeds": list(range(len(accs))), "minival_images": minival}  # fmt: skip


# ------------------------------------------------------------------------------------------------
# The rule, on recorded numbers
# ------------------------------------------------------------------------------------------------
def test_one_seed_gap_of_11_of_180_minival_images_is_noise():
    """The digits search's three 2-epoch candidates: 26.7 / 21.7 / 20.6% on 180 images."""
    rows = [row(1.0, [48 / 180]), row(1.2, [39 / 180], 2), row(1.4, [37 / 180], 3)]
    verdict = best_verdict(rows, 180)
    assert verdict.startswith(NO_BEST) and "Best: alpha" not in verdict
    assert "leads 2 others by at most 6.11 points" in verdict  # 11 images
    # One run's binomial error at 26.7% on 180 images: sqrt(.267 * .733 / 180) = 3.30 points.
    assert "+-3.30 points" in verdict
    # The same accuracies on 18,000 images are far apart: a best is named.
    assert best_verdict([row(1.0, [0.267]), row(1.2, [0.206], 2)], 18_000).startswith("Best:")


def test_seed_spread_decides_when_the_minival_is_large():
    close = (spread([0.60, 0.70]), spread([0.58, 0.66]))  # stds 7.1 and 5.7 points
    assert within_noise(*close, scored=100_000)
    assert close[0].mean == pytest.approx(0.65) and close[0].std == pytest.approx(0.0707, abs=1e-4)
    # Noise of each mean: std / sqrt(2); the gap must exceed twice their quadrature sum.
    assert gap_noise(*close, 100_000) == pytest.approx(2 * math.hypot(0.0707, 0.0566) / 2**0.5,
                                                       rel=1e-2)  # fmt: skip
    apart = (spread([0.90, 0.91]), spread([0.60, 0.62]))
    assert not within_noise(*apart, scored=100_000)
    # Two seeds that agree by luck cannot claim more than the minival can measure.
    lucky = (spread([0.30, 0.30]), spread([0.25, 0.25]))
    assert lucky[0].std == 0 and within_noise(*lucky, scored=180)
    assert rivals(apart[0], [apart[1], spread([0.905])], 100_000) == [1]
    assert within_noise(spread([0.9]), Spread(()), 180)  # a candidate without a score: no claim


def test_report_shows_mean_and_std_and_refuses_a_best_within_the_seed_spread(tmp_path):
    cfg = tiny_config(tmp_path)
    rows = [row(1.0, [0.60, 0.70], minival=100_000), row(1.2, [0.58, 0.66], 2, 100_000)]
    text = format_ranking(rows, tiny_base(), cfg, phi=1.0, num_classes=10)
    assert "for 1 epoch, at most 1 step over 2 seeds (mean +- standard deviation)." in text
    assert "| 65.00 +- 7.07 |" in text and "| 62.00 +- 5.66 |" in text
    assert NO_BEST in text and "Best: alpha" not in text
    rows = [row(1.0, [0.90, 0.91], minival=100_000), row(1.2, [0.60, 0.62], 2, 100_000)]
    assert "Best: alpha = 1, beta = 1, gamma = 1" in format_ranking(rows, tiny_base(), cfg, 1.0, 10)


# ------------------------------------------------------------------------------------------------
# The search and the study over seeds (stand-in trainers)
# ------------------------------------------------------------------------------------------------
def by_alpha_and_seed(scores):
    """A trainer scoring a candidate by its alpha (spec name) and the run's seed."""

    def fake(cfg, resume=False):
        name = NetSpec.from_json(Path(cfg.model).read_text()).name
        acc = next(v for k, v in scores.items() if k in name)[cfg.seed]
        result = FakeResult(acc, acc)
        result.minival_images, result.warning = 180, None
        return result

    return fake


def test_search_repeats_each_candidate_over_seeds_and_caches_each_seed(tmp_path):
    cfg = tiny_config(tmp_path)
    candidates = [Candidate(2.0, 1.0, 1.0), Candidate(1.2, 1.0, 1.3)]
    scores = {"a2.000": [0.50, 0.60, 0.55], "a1.200": [0.56, 0.50, 0.52]}
    calls = []

    def counting(cfg, resume=False):
        calls.append(cfg.seed)
        return by_alpha_and_seed(scores)(cfg, resume)

    options = RunOptions(counting, log=None)
    one = run_search(tiny_base(), cfg, candidates, tmp_path / "s", options=options)
    assert calls == [0, 0] and one.rows[0]["alpha"] == 1.2  # seed 0 alone: 56% vs 50%
    two = run_search(tiny_base(), cfg, candidates, tmp_path / "s", options=options, seeds=2)
    assert calls == [0, 0, 1, 1]  # seed 0 is reused from the one-seed search
    assert [r["alpha"] for r in two.rows] == [2.0, 1.2]  # means 55% vs 53%
    assert two.best["best_val_acc_runs"] == (0.5, 0.6) and two.best["seeds"] == [0, 1]
    data = json.loads((tmp_path / "s" / "ranking.json").read_text())
    assert data["rows"][0]["best_val_acc_runs"] == [0.5, 0.6]
    assert data["rows"][0]["best_val_acc_std"] == pytest.approx(0.0707, abs=1e-4)
    assert data["verdict"].startswith(NO_BEST) and data["minival_images"] == 180
    assert "| 55.00 +- 7.07 |" in two.table_md.read_text()
    # Each seed is its own cached run, keyed on the seed.
    jobs = plan_search(tiny_base(), candidates[:1], seeds=[0, 1])
    assert [j.label for j in jobs] == ["a2.000_b1.000_g1.000", "a2.000_b1.000_g1.000_seed1"]
    cache = RunCache(cfg, tmp_path / "s" / "candidates")
    assert [cache.read(j)["seed"] for j in jobs] == [0, 1]
    assert cache.record_path(jobs[0]) != cache.record_path(jobs[1])
    with pytest.raises(ValueError, match="--seeds must be >= 1"):
        run_search(tiny_base(), cfg, candidates, tmp_path / "s", options=options, seeds=0)


def test_study_verdict_says_when_compound_is_within_the_seed_spread(tmp_path):
    def fake(cfg, resume=False):
        # Every network: 0.80 or 0.90 by seed; compound 1 point ahead of the rest.
        name = NetSpec.from_json(Path(cfg.model).read_text()).name
        acc = (0.80, 0.90)[cfg.seed] + (0.01 if "compound" in name else 0.0)
        result = FakeResult(acc, acc)
        result.test_images, result.warning = 100_000, "at chance" if cfg.seed else None
        return result

    logged = []
    options = RunOptions(fake, log=logged.append)
    result = run_study(tiny_base(), tiny_config(tmp_path), StudyConfig(seeds=2), tmp_path / "s",
                       options)  # fmt: skip
    data = json.loads(result.results_json.read_text())
    (verdict,) = data["verdicts"]
    assert verdict.startswith("phi = 1: compound (86.00%) vs the best single dimension")
    assert verdict.endswith("no candidate is distinguishable from the others")
    assert data["rows"][0]["test_acc_runs"] == [0.8, 0.9]
    assert data["rows"][0]["test_acc_std"] == pytest.approx(0.0707, abs=1e-4)
    assert data["warning"].startswith("5 of 10 runs mean nothing; baseline_seed1: at chance")
    assert logged[-1] == f"warning: {data['warning']}"


# ------------------------------------------------------------------------------------------------
# One real tiny search through the command line
# ------------------------------------------------------------------------------------------------
TWO_CANDIDATES = """
from effnet.experiments.grid_search import SearchConfig


def get_search():
    return SearchConfig(alpha="1.2,2.0", beta="1.0", gamma="1.0,1.3", tolerance=0.05)
"""


def test_a_real_two_seed_search_reports_mean_spread_and_noise(tmp_path, capsys):
    base = tmp_path / "tiny.json"
    base.write_text(tiny_base(8).to_json())
    config = write_config(tmp_path / "search_tiny.py", TWO_CANDIDATES)
    out = tmp_path / "search"
    argv = ["search-scaling", "--config", str(config), "--base", str(base), "--out", str(out),
            "--seeds", "2", "--override", "limit_train_images=64"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "2 candidates with alpha*beta^2*gamma^2 within 0.05 of 2.0" in printed
    assert "4 runs: 0 cached, 4 to train" in printed
    data = json.loads((out / "ranking.json").read_text())
    assert [len(r["best_val_acc_runs"]) for r in data["rows"]] == [2, 2]
    assert [r["seeds"] for r in data["rows"]] == [[0, 1], [0, 1]]
    assert data["minival_images"] == 180  # the digits' fixed minival, as the runs recorded it
    # One step each scores at chance: the search says so rather than naming a best.
    assert "No best:" in printed and "Best: alpha" not in printed
    # One step is not a training run: the runs that score at chance say so, and the search once.
    assert re.match(r"[1-4] of 4 runs mean nothing; a", data["warning"])
    assert printed.count("warning: ") == 1 and f"warning: {data['warning']}" in printed
    assert main([*argv, "--seeds", "0"]) == 2
    assert "argument --seeds: must be at least 1, got 0" in capsys.readouterr().err
