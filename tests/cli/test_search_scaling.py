"""``effnet search-scaling``: the command end to end (real tiny training, interrupt, resume, cache),
its dry run, and its flags over the config file's typed grid."""

import csv
import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from effnet.cli import main
from effnet.experiments import runner
from effnet.spec import NetSpec
from tests.experiments.tiny import executions, tiny_base, write_config

ROOT = Path(__file__).resolve().parents[2]
DIGITS = str(ROOT / "configs" / "search_digits.py")

# Two candidates: 2.0 * 1 * 1 = 2.0 and 1.2 * 1 * 1.3**2 = 2.028 (within 0.05 of 2).
TWO_CANDIDATES = """
from effnet.experiments.grid_search import SearchConfig


def get_search():
    return SearchConfig(alpha="1.2,2.0", beta="1.0", gamma="1.0,1.3", tolerance=0.05)
"""


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class Interrupt(KeyboardInterrupt):
    pass


def test_search_end_to_end_resumes_after_interrupt_and_reuses_cache(tmp_path, monkeypatch, capsys):
    base_file = tmp_path / "tiny.json"
    base_file.write_text(tiny_base().to_json())
    config_file = write_config(tmp_path / "search_tiny.py", TWO_CANDIDATES)
    out = tmp_path / "search"
    argv = ["search-scaling", "--base", str(base_file), "--config", str(config_file)]
    argv += ["--out", str(out)]
    real_train = runner.default_trainer
    calls = []

    def counting(cfg, resume=False):
        calls.append(cfg.model)
        return real_train(cfg, resume=resume)

    def cut_after_one(cfg, resume=False):
        if calls:
            raise Interrupt
        return counting(cfg, resume)

    # 1. The first candidate trains, then the search is interrupted.
    monkeypatch.setattr(runner, "default_trainer", cut_after_one)
    assert main(argv) == 130
    assert len(calls) == 1 and executions(config_file) == 1
    assert len(list((out / "candidates").glob("*.json"))) == 1

    # 2. Rerun: only the missing candidate trains; the table and PNG appear.
    monkeypatch.setattr(runner, "default_trainer", counting)
    assert main(argv) == 0
    assert len(calls) == 2 and calls[0] != calls[1]
    assert executions(config_file) == 2  # once per command
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


def test_dry_run_lists_candidates_without_training(capsys, monkeypatch):
    monkeypatch.setattr(runner, "default_trainer", None)  # any training would crash
    assert main(["search-scaling", "--config", DIGITS, "--dry-run"]) == 0
    out = capsys.readouterr().out
    # The digits config's grid holds the paper's B0 answer (docs/paper.md section 1).
    assert "6 candidates with alpha*beta^2*gamma^2 within 0.15 of 2.0" in out
    assert "    1.2    1.1   1.15      1.920    64" in out


def test_flags_replace_the_config_files_grid_field_by_field(capsys):
    fine = ["--alpha", "1.0:1.4", "--beta", "1.0:1.4", "--gamma", "1.0:1.4", "--tolerance", "0.1"]
    assert main(["search-scaling", "--config", DIGITS, "--dry-run", *fine]) == 0
    assert capsys.readouterr().out.startswith("75 candidates with alpha*beta^2*gamma^2 within 0.1")
    # --step applies to a range flag; the file's other axes stay lists.
    assert main(["search-scaling", "--config", DIGITS, "--dry-run", "--alpha", "1.0:1.2",
                 "--step", "0.1"]) == 0  # fmt: skip
    assert "    1.1    1.2   1.15      2.095    64" in capsys.readouterr().out
    budget = ["--phi", "2", "--target", "2.5", "--tolerance", "0.3"]
    assert main(["search-scaling", "--config", DIGITS, "--dry-run", *budget]) == 0
    assert "within 0.3 of 2.5, each efficientnet_b0 (56px) scaled at phi = 2" in (
        capsys.readouterr().out
    )


def test_config_file_is_executed_once_per_command(tmp_path, capsys):
    base_file = tmp_path / "tiny.json"
    base_file.write_text(tiny_base().to_json())
    config = write_config(tmp_path / "search_tiny.py", TWO_CANDIDATES)
    argv = ["search-scaling", "--config", str(config), "--base", str(base_file), "--dry-run"]
    assert main(argv) == 0
    assert executions(config) == 1
    assert capsys.readouterr().out.startswith("2 candidates")


def test_bad_jobs_and_grids_are_one_line_errors(capsys):
    assert main(["search-scaling", "--config", DIGITS, "--dry-run", "--jobs", "0"]) == 2
    assert "argument --jobs: must be at least 1, got 0" in capsys.readouterr().err
    assert main(["search-scaling", "--config", DIGITS, "--dry-run", "--alpha", "0.5:1"]) == 2
    assert "grid value 0.5 is below 1" in capsys.readouterr().err


def test_dry_run_needs_no_torch():
    """Planning a search counts multiply-adds from specs; only training needs torch."""
    code = (
        "import argparse, sys\n"
        "from effnet.cli import search_scaling\n"
        "parser = argparse.ArgumentParser()\n"
        "search_scaling.register(parser.add_subparsers())\n"
        f"args = parser.parse_args(['search-scaling', '--config', {DIGITS!r}, '--dry-run'])\n"
        "status = args.func(args)\n"
        "sys.exit(3 if 'torch' in sys.modules else status)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("6 candidates")
