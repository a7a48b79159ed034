"""The meaningless-result check: the rule on numbers, then one real run each way.

A run whose accuracy is what guessing scores, or whose loss did not fall, ends with one warning
naming the cause with the run's own values; a sound run ends with none.
"""

import json
import math
from pathlib import Path

import pytest

from effnet.train import TrainConfig, load_config, train
from effnet.train.checkpoint import Progress
from effnet.train.result import Outcome
from effnet.train.sanity import (
    RunEnd,
    RunFacts,
    chance_band,
    check_run,
    experiment_warning,
    near_chance,
)
from tests.experiments.tiny import tiny_base

DIGITS_RECIPE = "configs/b0_digits.py"


# ------------------------------------------------------------------------------------------------
# The rule, on numbers
# ------------------------------------------------------------------------------------------------
def test_chance_band_is_two_binomial_standard_errors_around_one_over_the_classes():
    chance, margin = chance_band(10, 180)
    assert chance == 0.1 and margin == pytest.approx(2 * math.sqrt(0.1 * 0.9 / 180))  # 4.5 pts
    assert near_chance(0.14, 10, 180) and not near_chance(0.15, 10, 180)
    # The same 14% on 3,600 images is no longer luck: the band shrinks with sqrt(n).
    assert not near_chance(0.14, 10, 3600)
    assert near_chance(0.05, 4, 20)  # below chance is no result either
    assert not near_chance(0.0, 1, 20)  # one class: nothing to guess


def facts(classes=4, train=120, test=20, bn=0.01):
    return RunFacts(classes, train, minival_images=10, test_images=test, bn_momentum=bn)


def end(accuracy, losses, steps=8, epochs=2.0, **fact_changes):
    return RunEnd(accuracy, scored=20, split="test", losses=losses, steps=steps, epochs=epochs,
                  peak_lr=0.0013, facts=facts(**fact_changes))  # fmt: skip


def test_paper_defaults_for_two_epochs_warn_with_the_cause_and_the_fix():
    """The newcomer's run: paper defaults, 2 epochs on 4 classes of ~30 photos, 5% on test."""
    cfg = TrainConfig(dataset="imagefolder", epochs=2, batch_size=32)
    warning = check_run(cfg, end(0.05, [2.16, 2.32]))
    assert warning is not None
    assert "test top-1 5.0% on 20 images is within noise of chance (25.0% +- 19.4 points" in warning
    assert "the training loss did not fall (2.16 -> 2.32)" in warning
    assert "BN momentum 0.01 over 8 steps leaves the running statistics 92%" in warning
    assert "a 5-epoch warm-up in a 2-epoch run" in warning
    assert "set bn_momentum=0.1 ema_decay" not in warning  # TF's EMA warm-up forgets the start
    assert "bn_momentum=0.1 warmup_epochs=1 zero_init_head=True" in warning
    assert "`effnet finetune DATA_DIR`" in warning
    assert warning.count(". Fix: ") == 1 and "\n" not in warning


def test_a_sound_run_passes_and_each_symptom_alone_fires():
    recipe = load_config(DIGITS_RECIPE)
    sound = end(0.98, [1.9, 0.7, 0.55], steps=468, epochs=12, classes=10, bn=0.1)
    assert check_run(recipe, sound) is None
    one_epoch = end(0.98, [1.9], steps=39, epochs=1, classes=10, bn=0.1)
    assert check_run(recipe, one_epoch) is None  # no trend to judge, a real score
    rising = end(0.45, [0.6, 0.9], steps=468, epochs=12, classes=10, bn=0.1)
    warning = check_run(recipe, rising)
    assert "did not fall (0.60 -> 0.90)" in warning and "within noise" not in warning
    assert "lr too high: the loss rose at peak lr 0.0013" in warning
    assert "lr_per_256=0.004" in warning  # a quarter of the recipe's 0.016
    assert check_run(recipe, end(None, [0.6, 0.9], steps=468, epochs=12, classes=10, bn=0.1))
    # A fine-tune that scores 100% with a flat loss (pretrained start, label smoothing) learnt.
    assert check_run(recipe, end(1.0, [0.92, 0.99], steps=468, epochs=12, classes=4)) is None
    assert check_run(recipe, end(0.98, [0.6, 0.9], steps=468, epochs=12, classes=10)) is None
    guessing = end(0.11, [1.9, 0.7], steps=468, epochs=12, classes=10, bn=0.1)
    assert "within noise of chance (10.0%" in check_run(recipe, guessing)
    fine_tuned = recipe.replace(init_checkpoint="b0.safetensors")
    assert "effnet finetune" not in check_run(fine_tuned, guessing)


def test_ema_without_warm_up_is_named_with_its_share_of_the_initial_weights():
    cfg = TrainConfig(epochs=2, ema_warmup=False, zero_init_head=True, bn_momentum=0.1)
    warning = check_run(cfg, end(0.05, [2.0, 2.1], bn=0.1))
    assert "EMA decay 0.9999 keeps 100% of the initial weights after 8 steps" in warning
    assert "ema_decay=0.999" in warning and "BN momentum" not in warning


def test_summary_and_result_carry_the_warning(tmp_path):
    progress = Progress(epoch=2, step=8, best_val_acc=0.3, best_epoch=1)
    progress.history = [{"epoch": 1, "train_loss": 2.16, "lr": 0.001},
                        {"epoch": 2, "train_loss": 2.32, "lr": 0.0013}]  # fmt: skip
    outcome = Outcome(
        cfg=TrainConfig(output_dir=str(tmp_path), epochs=2), model_name="b0", image_size=64,
        progress=progress, has_minival=True, final_test=0.05, best_test=0.05, fingerprints=[],
        wall_time_s=1.0, device="cpu", world_size=1, backend=None, facts=facts(),
    )  # fmt: skip
    assert outcome.summary()["warning"] == outcome.result().warning
    assert "test top-1 5.0% on 20 images" in outcome.result().warning
    assert outcome.result().test_images == 20 and outcome.result().minival_images == 10
    assert Outcome(**{**outcome.__dict__, "facts": None}).warning is None


def test_an_experiment_warns_once_naming_how_many_runs_mean_nothing():
    assert experiment_warning([("a", None), ("b", None)]) is None
    text = experiment_warning([("a", None), ("b", "x at chance"), ("c", "y")])
    assert text == "2 of 3 runs mean nothing; b: x at chance"


# ------------------------------------------------------------------------------------------------
# One real short run each way (a tiny network on the embedded digits at their own 8 px)
# ------------------------------------------------------------------------------------------------
def tiny_run(tmp_path, name, cfg):
    spec = tmp_path / "tiny.json"
    spec.write_text(tiny_base(8).to_json())
    where = {"model": str(spec), "output_dir": str(tmp_path / name)}
    return cfg.replace(**where, dataset="digits", image_size=8, num_workers=0, channels_last=False)


def test_paper_defaults_for_two_epochs_end_with_the_warning(tmp_path, capsys):
    cfg = tiny_run(tmp_path, "paper", TrainConfig(epochs=2, batch_size=32, limit_train_images=64))
    result = train(cfg)
    err = capsys.readouterr().err
    assert err.count("warning: this run's result means nothing: ") == 1
    assert "BN momentum 0.01 over 4 steps" in result.warning and "bn_momentum=0.1" in err
    summary = json.loads((tmp_path / "paper" / "summary.json").read_text())
    assert summary["warning"] == result.warning


def test_the_digits_recipe_ends_without_one(tmp_path, capsys):
    recipe = load_config(DIGITS_RECIPE).replace(epochs=2, limit_train_images=384)
    result = train(tiny_run(tmp_path, "recipe", recipe))
    assert result.warning is None and result.test_acc > 0.14, result.test_acc
    assert "means nothing" not in capsys.readouterr().err
    summary = json.loads((tmp_path / "recipe" / "summary.json").read_text())
    assert summary["warning"] is None


def test_the_warning_shown_in_the_training_guide_is_the_one_the_check_gives():
    """docs/training.md quotes a real run: the paper's defaults, 2 epochs, 12 steps, on a folder
    of 200 digit images (190 trained on, 50 tested, 10 classes); the quote follows the code."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    cfg = TrainConfig(dataset="imagefolder", image_size=64, epochs=2, batch_size=32)
    run = RunEnd(0.12, scored=50, split="test", losses=[4.371, 3.8455], steps=12, epochs=2,
                 peak_lr=0.000733, facts=RunFacts(10, 190, 10, 50, bn_momentum=0.01))  # fmt: skip
    assert f"\nwarning: {check_run(cfg, run)}\n" in guide
