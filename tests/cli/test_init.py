"""The console script: ``python -m effnet.cli``, one-line errors, and an example in every
subcommand's help. (Each command's own output is tested in tests/cli/test_<command>.py.)"""

import subprocess
import sys

from effnet.cli import COMMANDS, build_parser, error_line


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "effnet.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_unknown_model_is_one_line_without_traceback():
    result = run_cli("profile", "efficientnet_b9", "--no-cross-check")
    assert result.returncode == 2
    assert "unknown model 'efficientnet_b9'" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_subcommand_help_shows_an_example():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name in COMMANDS:
        helptext = subparsers.choices[name].format_help()
        assert "example:" in helptext and f"effnet {name}" in helptext, name


def test_debug_anywhere_on_the_line_shows_the_traceback():
    for args in (
        ("--debug", "profile", "efficientnet_b9"),
        ("profile", "efficientnet_b9", "--debug"),
    ):
        result = run_cli(*args, "--no-cross-check")
        assert result.returncode == 1 and "Traceback" in result.stderr
        assert "UnknownModelError: unknown model 'efficientnet_b9'" in result.stderr


def test_error_line_folds_an_error_into_one_line():
    assert error_line(KeyError("b")) == "missing key 'b'"
    assert (
        error_line(KeyError("unknown model 'x'; known: a, b")) == "unknown model 'x'; known: a, b"
    )
    assert error_line(ValueError("first\n  second\n")) == "first second"
    assert error_line(FileNotFoundError(2, "No such file or directory", "x.pt")) == (
        "No such file or directory: 'x.pt'"
    )
    assert error_line(RecursionError()) == "the input is nested too deeply to read"
