"""``effnet search-scaling``: the step-1 grid, real (tiny) training, ranking, cache and resume."""

import csv
import json

import pytest
from PIL import Image

from effnet.cli import main
from effnet.experiments import grid_search
from effnet.experiments.grid_search import (
    Candidate,
    TrainJob,
    cache_file,
    enumerate_grid,
    job_key,
    parse_axis,
    run_search,
)
from effnet.spec import NetSpec, StageSpec, StemSpec
from effnet.train import TrainConfig


def tiny_base(resolution: int = 24) -> NetSpec:
    """A three-stage MBConv network: the search works on any spec, and this one trains in
    well under a second per step, so the test exercises real training end to end."""
    return NetSpec(
        name="tiny",
        stem=StemSpec(8, 3, 2),
        stages=(
            StageSpec("mbconv", 3, 1, 1, 8, 1, 0.25),
            StageSpec("mbconv", 3, 2, 3, 16, 1, 0.25),
            StageSpec("mbconv", 3, 2, 3, 24, 2, 0.25),
        ),
        head_channels=64,
        resolution=resolution,
        dropout=0.1,
        drop_path_rate=0.0,
    )


def tiny_config(tmp_path) -> TrainConfig:
    return TrainConfig(
        model="efficientnet_b0",
        dataset="digits",
        epochs=1,
        max_steps=1,
        batch_size=64,
        warmup_epochs=0,
        autoaugment=None,
        hflip=False,
        ema_decay=0.0,
        eval_crop_pct=1.0,
        num_workers=0,
        log_every=1,
        channels_last=False,
        output_dir=str(tmp_path / "unused"),
    )


CONFIG_FILE = """
from effnet.train import TrainConfig


def get_config():
    return TrainConfig(
        model="efficientnet_b0", dataset="digits", epochs=1, max_steps=1, batch_size=64,
        warmup_epochs=0, autoaugment=None, hflip=False, ema_decay=0.0, eval_crop_pct=1.0,
        num_workers=0, log_every=1, channels_last=False, output_dir="unused",
    )


def get_search():
    # Two candidates: 2.0 * 1 * 1 = 2.0 and 1.2 * 1 * 1.3**2 = 2.028 (within 0.05 of 2).
    return {"alpha": "1.2,2.0", "beta": "1.0", "gamma": "1.0,1.3", "tolerance": 0.05}
"""


# ------------------------------------------------------------------------------------------------
# The grid
# ------------------------------------------------------------------------------------------------
def test_grid_keeps_the_paper_answer_and_only_candidates_within_tolerance():
    axis = parse_axis("1.0:1.4", 0.05)
    assert axis == (1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3, 1.35, 1.4)
    found = enumerate_grid(axis, axis, axis, target=2.0, tolerance=0.1)
    # PAPER.md section 1: the search found alpha = 1.2, beta = 1.1, gamma = 1.15 for B0.
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


def test_cache_key_follows_what_changes_results(tmp_path):
    cfg = tiny_config(tmp_path)
    job = TrainJob("a", tiny_base())
    key = job_key(job, cfg)
    assert job_key(job, cfg.replace(output_dir="elsewhere", device="cuda", num_workers=4)) == key
    assert job_key(job, cfg.replace(max_steps=2)) != key
    assert job_key(job, cfg.replace(seed=1)) != key
    assert job_key(TrainJob("a", tiny_base(32)), cfg) != key


# ------------------------------------------------------------------------------------------------
# End to end with the real trainer
# ------------------------------------------------------------------------------------------------
def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class Interrupt(KeyboardInterrupt):
    pass


def test_search_end_to_end_resumes_after_interrupt_and_reuses_cache(tmp_path, monkeypatch, capsys):
    base_file = tmp_path / "tiny.json"
    base_file.write_text(tiny_base().to_json())
    config_file = tmp_path / "search_tiny.py"
    config_file.write_text(CONFIG_FILE)
    out = tmp_path / "search"
    argv = ["search-scaling", "--base", str(base_file), "--config", str(config_file)]
    argv += ["--out", str(out)]
    real_train = grid_search.default_trainer
    calls = []

    def counting(cfg, resume=False):
        calls.append(cfg.model)
        return real_train(cfg, resume=resume)

    def cut_after_one(cfg, resume=False):
        if calls:
            raise Interrupt
        return counting(cfg, resume)

    # 1. The first candidate trains, then the search is interrupted.
    monkeypatch.setattr(grid_search, "default_trainer", cut_after_one)
    assert main(argv) == 130
    assert len(calls) == 1
    assert len(list((out / "candidates").glob("*.json"))) == 1

    # 2. Rerun: only the missing candidate trains; the table and PNG appear.
    monkeypatch.setattr(grid_search, "default_trainer", counting)
    assert main(argv) == 0
    assert len(calls) == 2 and calls[0] != calls[1]
    text = capsys.readouterr().out
    assert "2 runs: 1 cached, 1 to train" in text
    rows = read_csv(out / "ranking.csv")
    assert [r["rank"] for r in rows] == ["1", "2"]
    assert {(float(r["alpha"]), float(r["beta"]), float(r["gamma"])) for r in rows} == {
        (2.0, 1.0, 1.0),
        (1.2, 1.0, 1.3),
    }
    accs = [float(r["best_val_acc"]) for r in rows]
    assert accs == sorted(accs, reverse=True) and all(0 <= a <= 1 for a in accs)
    # Depth 2.0 doubles every stage's repeats (1, 1, 2) -> (2, 2, 4): 8 blocks.
    records = [json.loads(p.read_text()) for p in (out / "candidates").glob("*.json")]
    deep = next(r for r in records if r["alpha"] == 2.0)
    spec = NetSpec.from_json((tmp_path / deep["run_dir"] / "spec.json").read_text())
    assert spec.num_blocks == 8 and spec.resolution == 24
    md = (out / "ranking.md").read_text()
    assert md.count("\n| 1 |") == 1 and md.count("\n| 2 |") == 1
    with Image.open(out / "ranking.png") as png:
        assert png.format == "PNG" and png.size[0] > 500
    cached = {p: p.stat().st_mtime_ns for p in (out / "candidates").glob("*.json")}

    # 3. A second full invocation trains nothing and rewrites no cached record.
    assert main(argv) == 0
    assert len(calls) == 2
    assert "2 runs: 2 cached, 0 to train" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in cached} == cached
    assert read_csv(out / "ranking.csv") == rows


def test_corrupt_cache_record_is_retrained(tmp_path):
    cfg = tiny_config(tmp_path)
    calls = []

    class Result:
        best_val_acc, test_acc, wall_time_s, steps, best_checkpoint = 0.5, 0.4, 1.0, 1, ""

    def fake(cfg, resume=False):
        calls.append(cfg)
        return Result()

    candidates = [Candidate(2.0, 1.0, 1.0)]
    run_search(tiny_base(), cfg, candidates, tmp_path / "s", trainer=fake, log=None)
    job = grid_search.plan_search(tiny_base(), candidates)[0]
    record = cache_file(tmp_path / "s" / "candidates", job, cfg)
    assert json.loads(record.read_text())["best_val_acc"] == 0.5
    record.write_text('{"truncated": ')
    run_search(tiny_base(), cfg, candidates, tmp_path / "s", trainer=fake, log=None)
    assert len(calls) == 2
    # The trained config points at the candidate's own spec file and resolution.
    assert calls[0].model.endswith("spec.json") and calls[0].image_size is None


def test_parallel_jobs_train_in_spawned_processes(tmp_path):
    cfg = tiny_config(tmp_path)
    candidates = [Candidate(2.0, 1.0, 1.0), Candidate(1.2, 1.0, 1.3)]
    result = run_search(tiny_base(), cfg, candidates, tmp_path / "p", workers=2, log=None)
    assert len(result.rows) == 2
    assert all(r["best_val_acc"] is not None and r["steps"] == 1 for r in result.rows)
    # Worker output goes to each run's train.log instead of interleaving on the console.
    for r in result.rows:
        log = tmp_path / "p" / "candidates" / f"{r['label']}-{r['key']}" / "train.log"
        assert "done:" in log.read_text()


def test_dry_run_lists_candidates_without_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(grid_search, "default_trainer", None)  # any training would crash
    assert main(["search-scaling", "--config", "configs/search_digits.py", "--dry-run"]) == 0
    out = capsys.readouterr().out
    # The digits config's grid holds the paper's B0 answer (PAPER.md section 1).
    assert "6 candidates" in out and "    1.2    1.1   1.15      1.920    64" in out
