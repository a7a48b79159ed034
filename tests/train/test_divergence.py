"""Divergence: a non-finite loss stops the run (nothing saved after it); a runaway loss is warned
about once. The whole story through ``effnet train`` is in tests/cli/test_train.py."""

import math

import pytest

from effnet.train.divergence import DivergedError, LossGuard


def test_a_non_finite_loss_stops_the_run_saying_what_was_kept(tmp_path):
    said = []
    guard = LossGuard(10, tmp_path / "last.pt", lambda text, err=False: said.append(text))
    guard.check(2.3, step=0, lr=0.1)
    with pytest.raises(
        DivergedError, match=r"the loss is nan at step 8 \(lr 0\.1\).*no checkpoint"
    ):
        guard.check(math.nan, step=7, lr=0.1)
    (tmp_path / "last.pt").write_bytes(b"state")
    with pytest.raises(
        DivergedError, match=r"loss is inf at step 9 .*last\.pt keeps the last good"
    ):
        guard.check(math.inf, step=8, lr=0.1)
    assert said == []


def test_a_runaway_loss_is_warned_about_once():
    said = []
    guard = LossGuard(10, "last.pt", lambda text, err=False: said.append((text, err)))
    guard.check(229.0, step=3, lr=5.0)  # just under 100x chance (ln 10 = 2.30)
    assert said == []
    guard.check(1e13, step=4, lr=5.0)
    guard.check(1e14, step=5, lr=5.0)
    ((text, err),) = said
    assert err and text.startswith("warning: the loss is 1e+13 at step 5, ")
    assert "chance level (2.30): training is diverging (lr 5)" in text
