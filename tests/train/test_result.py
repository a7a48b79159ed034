"""A finished run's report: which test score is the result, summary.json and the done: line."""

import json
import math
from pathlib import Path

from effnet.train import TrainConfig
from effnet.train.checkpoint import Progress
from effnet.train.result import Outcome


def outcome(tmp_path, **changes) -> Outcome:
    progress = Progress(epoch=12, step=468, best_val_acc=0.9722, best_epoch=12, skipped_total=3)
    fields = dict(
        cfg=TrainConfig(dataset="digits", output_dir=str(tmp_path), select_on_minival=False),
        model_name="efficientnet_b0", image_size=24, progress=progress, has_minival=True,
        final_test=0.9806, best_test=0.975, fingerprints=["abc"], wall_time_s=75.25, device="cpu",
        world_size=1, backend=None,
    )  # fmt: skip
    return Outcome(**{**fields, **changes})


def test_the_reported_score_follows_select_on_minival(tmp_path):
    final = outcome(tmp_path)
    assert final.test_acc == 0.9806 and final.result().test_acc == 0.9806
    early = outcome(tmp_path, cfg=final.cfg.replace(select_on_minival=True))
    assert early.test_acc == 0.975 and early.result().final_test_acc == 0.9806


def test_done_line_names_both_scores(tmp_path):
    line = outcome(tmp_path).line()
    assert line.startswith("done: efficientnet_b0 on digits at 24px, 468 steps (12 epochs) in 75.2")
    short = outcome(tmp_path, progress=Progress(epoch=1, step=39)).line()
    assert "39 steps (1 epoch) in" in short
    assert "test top-1 98.06% (final weights); best minival 97.22% at epoch 12: 97.50% on" in line
    assert f"wrote {tmp_path / 'model.safetensors'}, best.safetensors, curves.png" in line
    assert "skipped 3 unreadable images" in line
    early = outcome(tmp_path, cfg=TrainConfig(output_dir=str(tmp_path), select_on_minival=True))
    reported = "test top-1 97.50% (early-stopped), best minival 97.22% at epoch 12; last weights"
    assert f"{reported} 98.06%" in early.line()


def test_missing_scores_read_n_a_and_no_minival(tmp_path):
    progress = Progress(epoch=1, step=3)
    bare = outcome(tmp_path, progress=progress, has_minival=False, final_test=None,
                   best_test=math.nan)  # fmt: skip
    assert "test top-1 n/a (final weights); no minival: n/a on test" in bare.line()
    assert bare.summary()["best_val_acc"] is None
    assert math.isnan(bare.result().best_val_acc)


def test_summary_is_json_and_points_at_the_weights(tmp_path):
    summary = json.loads(json.dumps(outcome(tmp_path).summary()))
    assert summary["checkpoint"] == str(tmp_path / "model.safetensors")
    assert summary["best_checkpoint"] == str(tmp_path / "best.safetensors")
    assert (summary["test_acc"], summary["early_stopped_test_acc"]) == (0.9806, 0.975)
    assert summary["rank_weight_sha256"] == ["abc"] and summary["skipped_images"] == 3
    result = outcome(tmp_path).result()
    assert result.output_dir == Path(tmp_path) and result.steps == 468
    assert result.best_checkpoint == tmp_path / "best.safetensors"
