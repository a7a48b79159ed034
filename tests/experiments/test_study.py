"""The study: typed settings, the FLOP-matched plan, seeds, and what a run writes."""

import json
from pathlib import Path

import pytest

from effnet.experiments.matching import METHODS
from effnet.experiments.runner import RunOptions
from effnet.experiments.study import (
    StudyConfig,
    load_study,
    plan_study,
    run_study,
    study_jobs,
)
from effnet.scaling import ALPHA, BETA, GAMMA
from effnet.spec import NetSpec
from tests.experiments.tiny import FakeResult, executions, tiny_base, tiny_config, write_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def fake_for(scores):
    """A trainer scoring each network by the first key found in its spec's name."""

    def fake(cfg, resume=False):
        name = NetSpec.from_json(Path(cfg.model).read_text()).name
        acc = next(v for k, v in scores.items() if k in name)
        return FakeResult(acc, acc)

    return fake


# ------------------------------------------------------------------------------------------------
# Settings
# ------------------------------------------------------------------------------------------------
def test_study_config_defaults_are_the_papers_coefficients_at_phi_1():
    study = StudyConfig()
    assert (study.phis, study.seeds, study.base) == ((1.0,), 1, None)
    assert (study.alpha, study.beta, study.gamma) == (ALPHA, BETA, GAMMA) == (1.2, 1.1, 1.15)


def test_checked_normalises_numbers_and_names_the_flags_in_errors():
    study = StudyConfig(phis=[1, 2.5], seeds=2, alpha=1).checked()
    assert study.phis == (1.0, 2.5) and isinstance(study.alpha, float)
    assert study.seed_values(4) == [4, 5]
    with pytest.raises(ValueError, match=r"every --phi must be positive, got \(-1.0,\)"):
        StudyConfig(phis=(-1,)).checked()
    with pytest.raises(ValueError, match="--seeds must be >= 1, got 0"):
        StudyConfig(seeds=0).checked()


def test_digits_study_config_is_typed(tmp_path):
    cfg, study = load_study(CONFIGS / "study_digits.py")
    assert study == StudyConfig(phis=(1.0,), seeds=1) and cfg.output_dir == "runs/study_digits"


def test_load_study_executes_the_file_once_and_defaults_without_get_study(tmp_path):
    getter = "from effnet.experiments.study import StudyConfig\n\n\ndef get_study():\n"
    getter += "    return StudyConfig(phis=(1.0, 2.0), seeds=3, base='efficientnet_b1')\n"
    config = write_config(tmp_path / "with_study.py", getter)
    _, study = load_study(config)
    assert executions(config) == 1
    assert (study.phis, study.seeds, study.base) == ((1.0, 2.0), 3, "efficientnet_b1")
    plain = write_config(tmp_path / "plain.py")
    assert load_study(plain)[1] == StudyConfig()


# ------------------------------------------------------------------------------------------------
# The plan
# ------------------------------------------------------------------------------------------------
def test_plan_is_the_baseline_then_four_flop_matched_networks_per_budget():
    plan = plan_study(tiny_base(), StudyConfig(phis=(2.0, 1.0, 1.0)), 10)
    assert [m.label for m in plan] == [
        "baseline",
        *(f"{m}_phi1" for m in METHODS),
        *(f"{m}_phi2" for m in METHODS),
    ]
    for m in plan[1:]:
        assert abs(m.macs_vs_target - 1) < 0.10  # each dimension lands on the compound budget
    assert plan[4].spec.name == "tiny_compound_phi1" and plan[4].macs == plan[4].target_macs
    with pytest.raises(ValueError, match="at least one budget"):
        plan_study(tiny_base(), StudyConfig(phis=()), 10)


def test_jobs_are_one_per_network_and_seed():
    plan = plan_study(tiny_base(), StudyConfig(), 10)
    jobs = study_jobs(plan, [0, 1])
    assert [j.label for j in jobs[:2]] == ["baseline_seed0", "baseline_seed1"]
    assert [j.seed for j in jobs] == [0, 1] * len(plan)
    assert jobs[-1].meta["method"] == "compound" and jobs[-1].meta["phi"] == 1.0


# ------------------------------------------------------------------------------------------------
# Running it (with stand-in trainers)
# ------------------------------------------------------------------------------------------------
def test_seeds_are_averaged_and_their_spread_reported(tmp_path):
    def fake(cfg, resume=False):
        # Seed 0 scores 0.90 and seed 1 0.96 for every network: mean 0.93.
        acc = 0.90 + 0.06 * cfg.seed
        return FakeResult(acc, acc)

    cfg = tiny_config(tmp_path).replace(seed=0)
    study = StudyConfig(seeds=2)
    result = run_study(tiny_base(), cfg, study, tmp_path / "s", RunOptions(fake, log=None))
    assert all(r["test_acc"] == pytest.approx(0.93) for r in result.rows)
    # Sample standard deviation of 0.90 and 0.96: 0.06 / sqrt(2) = 4.24 points.
    assert "| 93.00 +- 4.24 |" in result.table_md.read_text()
    assert all(r["test_acc_runs"] == [0.90, 0.96] for r in result.rows)


def test_verdict_states_the_outcome_either_way(tmp_path):
    cfg = tiny_config(tmp_path)
    wins = {"compound": 0.95, "_w": 0.90, "_d": 0.91, "_r": 0.92, "tiny": 0.80}
    options = RunOptions(fake_for(wins), log=None)
    result = run_study(tiny_base(), cfg, StudyConfig(), tmp_path / "a", options)
    text = result.table_md.read_text()
    assert "compound (95.00%) beats the best single dimension (resolution, 92.00%): +3.00" in text
    loses = RunOptions(fake_for({**wins, "compound": 0.89}), log=None)
    result = run_study(tiny_base(), cfg, StudyConfig(), tmp_path / "b", loses)
    assert "compound (89.00%) does not beat" in result.table_md.read_text()


def test_results_json_records_the_settings_for_reproduce(tmp_path):
    cfg = tiny_config(tmp_path)
    study = StudyConfig(phis=(1.0,), alpha=1.3, beta=1.05, gamma=1.1)
    options = RunOptions(fake_for({"tiny": 0.5}), log=None)
    result = run_study(tiny_base(), cfg, study, tmp_path / "s", options)
    data = json.loads(result.results_json.read_text())
    assert data["kind"] == "effnet-study" and data["phis"] == [1.0]
    assert data["coefficients"] == {"alpha": 1.3, "beta": 1.05, "gamma": 1.1}
    assert data["config"] == cfg.to_dict() and data["num_classes"] == 10
    assert [r["method"] for r in data["rows"]] == ["baseline", *METHODS]
    assert result.plot_png.is_file()
