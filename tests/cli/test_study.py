"""``effnet study``: the command end to end (real tiny training, cache, feeding reproduce), its
dry run, and its flags over the config file's typed settings."""

import json
import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

from effnet.cli import main
from effnet.experiments.matching import METHODS
from tests.experiments.tiny import executions, tiny_base, write_config

ROOT = Path(__file__).resolve().parents[2]

ONE_BUDGET = """
from effnet.experiments.study import StudyConfig


def get_study():
    return StudyConfig(phis=(1.0,))
"""

TWO_BUDGETS_TWO_SEEDS = """
from effnet.experiments.study import StudyConfig


def get_study():
    return StudyConfig(phis=(1.0, 2.0), seeds=2)
"""


def table_rows(markdown: str) -> dict[str, list[str]]:
    rows = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] and not cells[0].startswith(("model", "---")):
            rows[cells[0]] = cells
    return rows


def test_default_digits_study_plan_is_flop_matched(capsys):
    assert main(["study", "--dry-run"]) == 0  # configs/study_digits.py
    out = capsys.readouterr().out
    assert "efficientnet_b0 at 56px on digits, budgets phi = (1.0,)" in out
    macs = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0].rsplit("_phi", 1)[0] in METHODS:
            macs[parts[0].rsplit("_phi", 1)[0]] = float(parts[5])
    assert set(macs) == set(METHODS)
    assert max(macs.values()) / min(macs.values()) < 1.10
    # Compound phi = 1 from 56px lands on 64px (56 * 1.15 = 64.4).
    assert re.search(r"compound_phi1\s+1\.200\s+1\.100\s+64\s", out)
    assert out.rstrip().endswith("5 training runs of 6 epochs each")


def test_study_end_to_end_writes_table_plot_and_feeds_reproduce(tmp_path, capsys):
    (tmp_path / "tiny.json").write_text(tiny_base().to_json())
    config = write_config(tmp_path / "study_tiny.py", ONE_BUDGET)
    out = tmp_path / "study"
    argv = ["study", "--config", str(config), "--base", str(tmp_path / "tiny.json")]
    assert main([*argv, "--out", str(out)]) == 0
    capsys.readouterr()

    rows = table_rows((out / "table7.md").read_text())
    assert set(rows) == {"baseline", *(f"{m}_phi1" for m in METHODS)}
    scaled_flops = [float(rows[f"{m}_phi1"][5]) for m in METHODS]
    assert max(scaled_flops) / min(scaled_flops) < 1.10  # the acceptance: within 10%
    assert float(rows["baseline"][5]) < min(scaled_flops) / 1.5
    for cells in rows.values():
        assert 0 <= float(cells[7]) <= 100  # a measured top-1, not a placeholder
    with Image.open(out / "figure8.png") as png:
        assert png.format == "PNG" and png.size[0] >= 600

    results = json.loads((out / "results.json").read_text())
    assert [r["method"] for r in results["rows"]] == ["baseline", *METHODS]
    assert all(r["test_acc"] is not None for r in results["rows"])

    # A rerun trains nothing (every network is cached) and reports the same numbers.
    assert main([*argv, "--out", str(out)]) == 0
    assert "5 runs: 5 cached, 0 to train" in capsys.readouterr().out
    assert executions(config) == 2  # once per command

    # The study's results fill the measured column of the paper's Table 7.
    assert main(["reproduce", "table7", "--results", str(out / "results.json"), "--out",
                 str(tmp_path / "rep")]) == 0  # fmt: skip
    report = (tmp_path / "rep" / "table7.md").read_text()
    compound = next(r for r in results["rows"] if r["method"] == "compound")
    line = next(x for x in report.splitlines() if x.startswith("| compound"))
    assert line.endswith(f"| {100 * compound['test_acc']:.2f} |")
    assert "compound_phi1" in line and "digits, not ImageNet" in report


def test_file_settings_apply_and_flags_replace_them(tmp_path, capsys):
    config = write_config(tmp_path / "study_two.py", TWO_BUDGETS_TWO_SEEDS)
    base = ["study", "--config", str(config), "--dry-run", "--override", "image_size=32"]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "budgets phi = (1.0, 2.0)" in out and "compound_phi2 " in out
    assert "18 training runs of 1 epochs each" in out  # 9 networks x the file's 2 seeds
    assert executions(config) == 1
    assert main([*base, "--phi", "1", "--seeds", "3", "--alpha", "1.3"]) == 0
    out = capsys.readouterr().out
    assert "budgets phi = (1.0,)" in out and "15 training runs" in out
    assert re.search(r"compound_phi1\s+1\.300\s+1\.100\s", out)


def test_bad_settings_are_one_line_errors(capsys):
    assert main(["study", "--dry-run", "--seeds", "0"]) == 2
    assert "--seeds must be >= 1, got 0" in capsys.readouterr().err
    assert main(["study", "--dry-run", "--phi", "-1"]) == 2
    assert "every --phi must be positive, got (-1.0,)" in capsys.readouterr().err
    assert main(["study", "--dry-run", "--jobs", "0"]) == 2
    assert "argument --jobs: must be at least 1, got 0" in capsys.readouterr().err


def test_dry_run_needs_no_torch():
    """Planning a study solves FLOP budgets from specs; only training needs torch."""
    code = (
        "import argparse, sys\n"
        "from effnet.cli import study\n"
        "parser = argparse.ArgumentParser()\n"
        "study.register(parser.add_subparsers())\n"
        "args = parser.parse_args(['study', '--dry-run'])\n"
        "status = args.func(args)\n"
        "sys.exit(3 if 'torch' in sys.modules else status)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "5 training runs of 6 epochs each" in result.stdout
