"""``effnet study``: single-dimension vs compound scaling at matched FLOPs (Figure 8, Table 7)."""

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from effnet import flops
from effnet.cli import main
from effnet.experiments.study import match_flops, plan_study, run_study
from effnet.scaling import scale
from effnet.spec import EFFICIENTNET_B0, NetSpec, StageSpec, StemSpec
from effnet.train import TrainConfig

METHODS = ("width", "depth", "resolution", "compound")


def tiny_base() -> NetSpec:
    """Three MBConv stages at 24px: trains in well under a second per step."""
    return NetSpec(
        name="tiny",
        stem=StemSpec(8, 3, 2),
        stages=(
            StageSpec("mbconv", 3, 1, 1, 8, 1, 0.25),
            StageSpec("mbconv", 3, 2, 3, 16, 1, 0.25),
            StageSpec("mbconv", 3, 2, 3, 24, 2, 0.25),
        ),
        head_channels=64,
        resolution=24,
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
        num_workers=0,
        output_dir=str(tmp_path / "unused"),
    )


TINY_CONFIG = """
from effnet.train import TrainConfig


def get_config():
    return TrainConfig(
        model="efficientnet_b0", dataset="digits", epochs=1, max_steps=1, batch_size=64,
        warmup_epochs=0, autoaugment=None, hflip=False, ema_decay=0.0, eval_crop_pct=1.0,
        num_workers=0, log_every=1, channels_last=False, output_dir="unused",
    )


def get_study():
    return {"phis": (1.0,)}
"""


def table_rows(markdown: str) -> dict[str, list[str]]:
    rows = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] and not cells[0].startswith(("model", "---")):
            rows[cells[0]] = cells
    return rows


# ------------------------------------------------------------------------------------------------
# Matching FLOPs along one dimension
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dimension", ["width", "depth", "resolution"])
def test_single_dimension_lands_near_the_compound_budget(dimension):
    target = flops.count(scale(EFFICIENTNET_B0, phi=2)).macs
    fit = match_flops(EFFICIENTNET_B0, dimension, target)
    assert fit.macs == flops.count(fit.spec).macs
    assert abs(fit.macs / target - 1) < 0.05
    changed = {
        "width": fit.spec.stem.channels != 32,
        "depth": fit.spec.num_blocks != 16,
        "resolution": fit.spec.resolution != 224,
    }
    assert [d for d, c in changed.items() if c] == [dimension]


def test_resolution_match_is_the_closest_whole_pixel():
    target = 1.8e9  # PAPER.md Table 7: the single-dimension models sit at ~1.8-1.9B
    fit = match_flops(EFFICIENTNET_B0, "resolution", target)
    for px in (fit.spec.resolution - 1, fit.spec.resolution + 1):
        other = flops.count(scale(EFFICIENTNET_B0, image_size=px)).macs
        assert abs(other - target) >= abs(fit.macs - target)


def test_budget_below_the_base_is_refused():
    with pytest.raises(ValueError, match="not above the base"):
        match_flops(EFFICIENTNET_B0, "width", 1e8)


# ------------------------------------------------------------------------------------------------
# The default digits study: its four networks are FLOP-matched
# ------------------------------------------------------------------------------------------------
def test_default_digits_study_plan_is_flop_matched(capsys):
    assert main(["study", "--dry-run"]) == 0  # configs/study_digits.py
    out = capsys.readouterr().out
    assert "efficientnet_b0 at 56px on digits" in out
    macs = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0].rsplit("_phi", 1)[0] in METHODS:
            macs[parts[0].rsplit("_phi", 1)[0]] = float(parts[5])
    assert set(macs) == set(METHODS)
    assert max(macs.values()) / min(macs.values()) < 1.10
    # Compound phi = 1 from 56px lands on 64px (56 * 1.15 = 64.4).
    assert re.search(r"compound_phi1\s+1\.200\s+1\.100\s+64\s", out)


# ------------------------------------------------------------------------------------------------
# End to end with the real trainer (tiny schedule)
# ------------------------------------------------------------------------------------------------
def test_study_end_to_end_writes_table_plot_and_feeds_reproduce(tmp_path, capsys):
    (tmp_path / "tiny.json").write_text(tiny_base().to_json())
    (tmp_path / "study_tiny.py").write_text(TINY_CONFIG)
    out = tmp_path / "study"
    argv = ["study", "--config", str(tmp_path / "study_tiny.py"), "--base"]
    assert main([*argv, str(tmp_path / "tiny.json"), "--out", str(out)]) == 0
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
    assert main([*argv, str(tmp_path / "tiny.json"), "--out", str(out)]) == 0
    assert "5 runs: 5 cached, 0 to train" in capsys.readouterr().out

    # The study's results fill the measured column of the paper's Table 7.
    assert main(["reproduce", "table7", "--results", str(out / "results.json"), "--out",
                 str(tmp_path / "rep")]) == 0  # fmt: skip
    report = (tmp_path / "rep" / "table7.md").read_text()
    compound = next(r for r in results["rows"] if r["method"] == "compound")
    line = next(x for x in report.splitlines() if x.startswith("| compound"))
    assert line.endswith(f"| {100 * compound['test_acc']:.2f} |")
    assert "compound_phi1" in line and "digits, not ImageNet" in report


def test_seeds_are_averaged_and_their_range_reported(tmp_path):
    class Result:
        def __init__(self, acc):
            self.best_val_acc = self.test_acc = acc
            self.wall_time_s, self.steps, self.best_checkpoint = 1.0, 1, ""

    def fake(cfg, resume=False):
        # Seed 0 scores 0.90 and seed 1 0.96 for every network: mean 0.93.
        return Result(0.90 + 0.06 * cfg.seed)

    cfg = tiny_config(tmp_path).replace(seed=0)
    result = run_study(tiny_base(), cfg, (1.0,), tmp_path / "s", seeds=[0, 1], trainer=fake,
                       log=None)  # fmt: skip
    assert all(r["test_acc"] == pytest.approx(0.93) for r in result.rows)
    assert "| 93.00 (90.0-96.0) |" in result.table_md.read_text()


def test_verdict_states_the_outcome_either_way(tmp_path):
    def fake_for(scores):
        class Result:
            wall_time_s, steps, best_checkpoint = 1.0, 1, ""

            def __init__(self, acc):
                self.best_val_acc = self.test_acc = acc

        def fake(cfg, resume=False):
            name = NetSpec.from_json(Path(cfg.model).read_text()).name
            return Result(next(v for k, v in scores.items() if k in name))

        return fake

    cfg = tiny_config(tmp_path)
    base = tiny_base()
    plan = plan_study(base, (1.0,), 10)
    names = {m.method: m.spec.name for m in plan}
    assert names["compound"] == "tiny_compound_phi1"
    wins = {"compound": 0.95, "_w": 0.90, "_d": 0.91, "_r": 0.92, "tiny": 0.80}
    result = run_study(base, cfg, (1.0,), tmp_path / "a", trainer=fake_for(wins), log=None)
    text = result.table_md.read_text()
    assert "compound (95.00%) beats the best single dimension (resolution, 92.00%): +3.00" in text
    loses = {**wins, "compound": 0.89}
    result = run_study(base, cfg, (1.0,), tmp_path / "b", trainer=fake_for(loses), log=None)
    assert "compound (89.00%) does not beat" in result.table_md.read_text()
