"""Progress bars: redrawn in place on a terminal; seldom, whole lines in a log file or a pipe."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
from types import SimpleNamespace

import pytest

from effnet import progress
from tests.use.digit_files import digits_checkpoint, write_digits


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as a console's stderr does."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock(monkeypatch) -> SimpleNamespace:
    """The bars' clock, moved only by the test."""
    now = SimpleNamespace(t=1000.0)
    monkeypatch.setattr(progress, "time", SimpleNamespace(monotonic=lambda: now.t))
    return now


def test_a_terminal_gets_a_bar_redrawn_in_place():
    stream = Terminal()
    with progress.bar(total=3, file=stream, mininterval=0, desc="eval") as bar:
        for _ in range(3):
            bar.update(1)
    text = stream.getvalue()
    assert not isinstance(bar, progress.LineBar)
    assert text.count("\r") >= 3 and "eval: 100%" in text  # a frame per update, in place


def test_a_file_gets_a_line_per_interval_and_percent_and_never_a_carriage_return(clock):
    stream = io.StringIO()
    bar = progress.bar(total=1000, file=stream, unit="step", mininterval=0, dynamic_ncols=True)
    for step in range(1000):
        clock.t += 1.0  # one second a step: 1,000 s in all, so at most 33 lines by time
        bar.update(1)
        if step % 5 == 0:  # each postfix refreshes, as the training loop's does
            bar.set_postfix(loss=f"{1 / (step + 1):.3f}")
        if step == 500:  # a line printed beside the bar, as an epoch's line is
            bar.write("epoch 1 done", file=stream)
    bar.close()
    text = stream.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    bar_lines = [line for line in lines if "step" in line]
    steps = [int(line.split("/")[0].split()[-1]) for line in bar_lines]
    *periodic, last = steps  # a step a second: steps apart are seconds apart
    assert 1000 / progress.LINE_INTERVAL_S - 2 <= len(periodic) <= 1000 / progress.LINE_INTERVAL_S
    assert all(b - a >= progress.LINE_INTERVAL_S for a, b in itertools.pairwise(periodic))
    assert last == 1000 and "100%" in bar_lines[-1]  # a kept bar closes with where it ended
    assert "epoch 1 done" in lines


def test_a_fast_transient_bar_in_a_file_writes_nothing(clock):
    stream = io.StringIO()
    for _ in progress.bar(range(50), file=stream, leave=False, mininterval=0):
        clock.t += 0.1  # 5 s in all: under one interval
    assert stream.getvalue() == ""


def test_a_slow_run_writes_lines_only_after_another_percent(clock):
    stream = io.StringIO()
    bar = progress.bar(total=10_000, file=stream, leave=False, mininterval=0)
    for _ in range(150):  # an hour a step: every refresh is an interval late
        clock.t += 3600
        bar.update(1)
    bar.close()
    counts = [int(line.split("/")[0].split()[-1]) for line in stream.getvalue().splitlines()]
    assert counts == [1, 101]  # the first line, then one per 1% (100 steps) of the total


def test_disable_draws_nothing_on_a_terminal_or_a_file():
    for stream in (Terminal(), io.StringIO()):
        with progress.bar(total=5, file=stream, disable=True) as bar:
            bar.update(5)
        assert stream.getvalue() == ""


def test_predict_with_stderr_in_a_file_leaves_no_carriage_return(tmp_path):
    """`effnet predict` of enough images to show its bar, its stderr redirected to a file."""
    folder = write_digits(tmp_path / "digits", 80)[0].parent
    weights = digits_checkpoint(tmp_path / "digits_b0.safetensors")
    log = tmp_path / "log.txt"
    with log.open("wb") as err:
        run = subprocess.run(
            [sys.executable, "-m", "effnet.cli", "predict", str(folder), "--weights", str(weights)],
            stdout=subprocess.PIPE,
            stderr=err,
        )
    assert run.returncode == 0, log.read_text()[-2000:]
    assert run.stdout.count(b"\n") >= 80  # it did predict every image
    assert b"\r" not in log.read_bytes()
