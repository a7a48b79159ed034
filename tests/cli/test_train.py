"""``effnet train``: the config and its overrides reach the engine; bad input is one line."""

from pathlib import Path

import pytest

from effnet.cli import main

CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "b0_digits.py")


def test_config_overrides_and_resume_reach_the_engine(monkeypatch):
    calls = []
    monkeypatch.setattr("effnet.train.train", lambda cfg, resume=False: calls.append((cfg, resume)))
    assert main(["train", "--config", CONFIG, "--override", "epochs=2", "dropout=none"]) == 0
    assert main(["train", "--config", CONFIG, "--resume"]) == 0
    (first, first_resume), (second, second_resume) = calls
    assert (first.epochs, first.dropout, first_resume) == (2, None, False)
    assert (second.epochs, second_resume) == (12, True)  # the file's own value
    assert first.dataset == "digits" and first.image_size == 24


@pytest.mark.parametrize(
    "args, message",
    [
        (["--config", "no_such_config"], "config 'no_such_config' not found"),
        (["--config", CONFIG, "--override", "epoch=3"], "Did you mean 'epochs'"),
        (["--config", CONFIG, "--override", "epochs=three"], "epochs='three': expected int"),
        (["--config", CONFIG, "--override", "epochs=0"], "epochs must be >= 1"),
    ],
)
def test_bad_configs_are_one_line_and_exit_2(capsys, args, message):
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
