"""Nothing non-finite is saved as a success: the weights (and EMA weights) are checked before
every save and the loss of every scoring of them; a grid search reports a diverged candidate
instead of crashing or ranking it. The runs through ``effnet train`` and ``effnet finetune`` are
in tests/cli/test_train.py and tests/cli/test_finetune.py."""

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from effnet.experiments.grid_search import Candidate, run_search
from effnet.experiments.runner import RunOptions
from effnet.spec import NetSpec
from effnet.train.divergence import (
    DivergedError,
    LossGuard,
    check_finite_weights,
    nonfinite_tensors,
)
from tests.experiments.tiny import FakeResult, tiny_base, tiny_config


def small_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))


def test_nonfinite_tensors_names_weights_and_bn_statistics():
    model = small_model()
    assert nonfinite_tensors(model) == []
    with torch.no_grad():
        model[0].weight[1, 2, 0, 0] = math.inf
        model[1].running_var[3] = math.nan  # finite weights, NaN predictions in eval mode
    assert nonfinite_tensors(model) == ["0.weight", "1.running_var"]
    assert nonfinite_tensors(model.state_dict()) == ["0.weight", "1.running_var"]


def test_check_finite_weights_names_the_model_the_moment_and_the_cause(tmp_path):
    good, bad = small_model(), small_model()
    with torch.no_grad():
        bad[3].bias.fill_(math.nan)
    check_finite_weights({"weights": good, "EMA weights": good}, "after step 3")  # no error
    with pytest.raises(
        DivergedError,
        match=r"the EMA weights hold NaN or infinite values after step 3, epoch 1 \(lr 5\), in 1 "
        r"tensors \(3\.bias\); stopped without saving, no checkpoint was saved before it; lower "
        r"lr_per_256",
    ):
        check_finite_weights({"weights": good, "EMA weights": bad}, "after step 3, epoch 1", 5.0)
    (tmp_path / "last.pt").write_bytes(b"state")
    with pytest.raises(ValueError, match=r"last\.pt keeps the last good state"):
        check_finite_weights({"weights": bad}, "at the end", None, tmp_path / "last.pt")


def test_scores_with_a_nan_loss_stop_the_run():
    guard = LossGuard(10, Path("nowhere/last.pt"), lambda *a, **k: None)
    guard.check_scores(2.3, "minival", "after step 1, epoch 1", 0.1)
    with pytest.raises(DivergedError, match=r"predict NaN or infinite scores on the minival after"):
        guard.check_scores(math.nan, "minival", "after step 1, epoch 1", 1e7)


def _spec_name(cfg) -> str:
    return NetSpec.from_json(Path(cfg.model).read_text()).name


def test_a_search_reports_a_diverged_candidate_and_ranks_it_last(tmp_path):
    """One candidate's training diverges (the loop's error, as tests/cli/test_train.py shows it
    raised): the search goes on, the candidate is ranked "diverged" with no scores, the log names
    it, and its cached record keeps saying so."""
    message = "training diverged: the weights predict NaN ...; lower lr_per_256"

    def trainer(cfg, resume=False):
        if "a2.000" in _spec_name(cfg):
            raise DivergedError(message)
        return FakeResult(0.3)

    lines: list[str] = []
    candidates = [Candidate(2.0, 1.0, 1.0), Candidate(1.2, 1.0, 1.3)]
    options = RunOptions(trainer, log=lines.append)
    result = run_search(
        tiny_base(), tiny_config(tmp_path), candidates, tmp_path / "s", 1.0, options
    )
    (good, bad) = result.rows
    assert (good["rank"], good["alpha"], good["best_val_acc"]) == (1, 1.2, 0.3)
    assert (bad["rank"], bad["alpha"], bad["best_val_acc"], bad["test_acc"]) == (
        "diverged", 2.0, None, None
    )  # fmt: skip
    assert bad["diverged"] == message
    assert f"warning: a2.000_b1.000_g1.000 diverged and has no scores: {message}" in lines
    assert "| diverged | 2 |" in result.table_md.read_text()
    # The cached record keeps saying so: a rerun neither retrains nor ranks it.
    again = run_search(tiny_base(), tiny_config(tmp_path), candidates, tmp_path / "s", 1.0, options)
    assert [r["rank"] for r in again.rows] == [1, "diverged"]
