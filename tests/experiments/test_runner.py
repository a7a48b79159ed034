"""The cached runner: keys, records, skipping finished jobs, resuming killed ones, parallel runs."""

import json
from pathlib import Path

import pytest

from effnet import flops
from effnet.experiments import runner
from effnet.experiments.runner import (
    CACHE_VERSION,
    RunCache,
    RunOptions,
    TrainJob,
    job_config,
    job_key,
    run_jobs,
)
from effnet.spec import NetSpec
from tests.experiments.tiny import FakeResult, tiny_base, tiny_config


class Counting:
    """A trainer that records every call (the config and whether it resumed) and never trains."""

    def __init__(self, acc: float = 0.5) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.acc = acc

    def __call__(self, cfg, resume=False):
        self.calls.append((cfg.output_dir, resume))
        return FakeResult(self.acc)


def jobs_of(*depths: float) -> list[TrainJob]:
    from effnet.scaling import scale

    return [
        TrainJob(f"d{d:g}", scale(tiny_base(), depth=d, name=f"tiny_d{d:g}"), {"depth": d})
        for d in depths
    ]


def test_cache_key_follows_what_changes_results(tmp_path):
    cfg = tiny_config(tmp_path)
    job = TrainJob("a", tiny_base())
    key = job_key(job, cfg)
    assert job_key(job, cfg.replace(output_dir="elsewhere", device="cuda", num_workers=4)) == key
    assert job_key(job, cfg.replace(max_steps=2)) != key
    assert job_key(job, cfg.replace(seed=1)) != key
    assert job_key(TrainJob("a", tiny_base(32)), cfg) != key
    # A job's own seed is part of what it trains with, so of its key.
    assert job_key(TrainJob("a", tiny_base(), seed=1), cfg) == job_key(job, cfg.replace(seed=1))


def test_job_config_points_at_the_jobs_own_spec_folder_and_seed(tmp_path):
    cfg = tiny_config(tmp_path).replace(image_size=56)
    run_cfg = job_config(TrainJob("a", tiny_base(), seed=7), cfg, tmp_path / "run")
    assert run_cfg.model == str(tmp_path / "run" / "spec.json")
    assert run_cfg.image_size is None  # the spec carries its resolution
    assert (run_cfg.output_dir, run_cfg.seed) == (str(tmp_path / "run"), 7)
    assert job_config(TrainJob("a", tiny_base()), cfg, tmp_path).seed == cfg.seed


def test_finished_jobs_are_cached_and_skipped_on_rerun(tmp_path):
    cache = RunCache(tiny_config(tmp_path), tmp_path / "cache", num_classes=10)
    jobs = jobs_of(1.0, 2.0)
    trainer, lines = Counting(), []
    records = run_jobs(jobs, cache, RunOptions(trainer, log=lines.append))
    assert len(trainer.calls) == 2 and not any(resume for _, resume in trainer.calls)
    assert lines[0].startswith("2 runs: 0 cached, 2 to train")
    files = {p: p.stat().st_mtime_ns for p in cache.folder.glob("*.json")}
    assert sorted(p.name for p in files) == sorted(cache.record_path(j).name for j in jobs)

    again = Counting()
    lines.clear()
    assert run_jobs(jobs, cache, RunOptions(again, log=lines.append)) == records
    assert again.calls == []
    assert lines == [f"2 runs: 2 cached, 0 to train (cache: {cache.folder})"]
    assert {p: p.stat().st_mtime_ns for p in files} == files  # nothing rewritten

    # One more job: only it trains, and the records come back in the jobs' order.
    more = [*jobs, *jobs_of(3.0)]
    third = Counting()
    out = run_jobs(more, cache, RunOptions(third, log=None))
    assert len(third.calls) == 1 and [r["label"] for r in out] == ["d1", "d2", "d3"]


def test_record_carries_meta_costs_and_the_results_numbers(tmp_path):
    cache = RunCache(tiny_config(tmp_path), tmp_path / "cache", num_classes=10)
    job = TrainJob("deep", tiny_base(), {"method": "depth", "phi": 1.0}, seed=3)
    record = cache.train(job, lambda cfg, resume=False: FakeResult(0.75, float("nan")))
    cost = flops.count(job.spec, num_classes=10)
    assert (record["params"], record["macs"], record["num_classes"]) == (cost.params, cost.macs, 10)
    assert record["method"] == "depth" and record["phi"] == 1.0 and record["seed"] == 3
    assert record["best_val_acc"] == 0.75 and record["test_acc"] is None  # NaN is "no number"
    assert record["cache_version"] == CACHE_VERSION and record["key"] == job_key(job, cache.cfg)
    assert "output_dir" not in record["config"] and record["config"]["seed"] == 3
    assert json.loads(cache.record_path(job).read_text()) == record
    spec = NetSpec.from_json((Path(record["run_dir"]) / "spec.json").read_text())
    assert spec == job.spec


def test_killed_job_resumes_from_its_last_checkpoint(tmp_path):
    cache = RunCache(tiny_config(tmp_path), tmp_path / "cache")
    jobs = jobs_of(1.0)
    calls = []

    def killed_after_a_checkpoint(cfg, resume=False):
        calls.append((cfg.output_dir, resume))
        (Path(cfg.output_dir) / "last.pt").write_bytes(b"checkpoint")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_jobs(jobs, cache, RunOptions(killed_after_a_checkpoint, log=None))
    assert cache.read(jobs[0]) is None  # no record for a run that did not finish

    trainer = Counting()
    run_jobs(jobs, cache, RunOptions(trainer, log=None))
    assert trainer.calls == [(calls[0][0], True)]  # same folder, resumed
    assert cache.read(jobs[0]) is not None


@pytest.mark.parametrize("content", ['{"truncated": ', "[]", '{"cache_version": 0}'])
def test_unreadable_or_stale_record_is_retrained(tmp_path, content):
    cache = RunCache(tiny_config(tmp_path), tmp_path / "cache")
    jobs = jobs_of(1.0)
    run_jobs(jobs, cache, RunOptions(Counting(), log=None))
    cache.record_path(jobs[0]).write_text(content)
    trainer = Counting(acc=0.9)
    (record,) = run_jobs(jobs, cache, RunOptions(trainer, log=None))
    assert len(trainer.calls) == 1 and record["best_val_acc"] == 0.9


def test_labels_must_be_distinct(tmp_path):
    cache = RunCache(tiny_config(tmp_path), tmp_path / "cache")
    with pytest.raises(ValueError, match="distinct label"):
        run_jobs([*jobs_of(1.0), *jobs_of(1.0)], cache, RunOptions(Counting(), log=None))


def test_default_trainer_is_looked_up_when_runs_start(tmp_path, monkeypatch):
    trainer = Counting()
    monkeypatch.setattr(runner, "default_trainer", trainer)
    run_jobs(jobs_of(1.0), RunCache(tiny_config(tmp_path), tmp_path / "c"), RunOptions(log=None))
    assert len(trainer.calls) == 1


def test_quiet_run_sends_its_console_output_to_train_log(tmp_path, capsys):
    def chatty(cfg, resume=False):
        print("epoch 1 done")
        return FakeResult()

    cache = RunCache(tiny_config(tmp_path), tmp_path / "cache")
    record = cache.train(jobs_of(1.0)[0], chatty, quiet=True)
    assert capsys.readouterr().out == ""
    assert "epoch 1 done" in (Path(record["run_dir"]) / "train.log").read_text()


def test_parallel_jobs_train_in_spawned_processes(tmp_path):
    cache = RunCache(tiny_config(tmp_path), tmp_path / "p", num_classes=10)
    records = run_jobs(jobs_of(1.0, 2.0), cache, RunOptions(workers=2, log=None))
    assert all(r["best_val_acc"] is not None and r["steps"] == 1 for r in records)
    # Worker output goes to each run's train.log instead of interleaving on the console.
    for r in records:
        assert "done:" in (Path(r["run_dir"]) / "train.log").read_text()
