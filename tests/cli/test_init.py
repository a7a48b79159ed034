"""The console script: profile table, model list, and one-line errors."""

import subprocess
import sys

from effnet.cli import COMMANDS, build_parser, main


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "effnet.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_profile_prints_per_stage_table_cross_checked(capsys):
    assert main(["profile", "efficientnet_b3"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "efficientnet_b3 at 300x300" in lines[0]
    # Table 1 numbering: stem, seven MBConv stages, head conv, classifier.
    assert sum(1 for line in lines if line[:2].strip().isdigit()) == 10
    assert "12,233,232" in out and "1,827,141,392" in out
    assert "(+0.0000% vs the table)" in out


def test_models_lists_the_family(capsys):
    assert main(["models", "efficientnet_b*"]) == 0
    out = capsys.readouterr().out
    assert "efficientnet_b7" in out and "66.348" in out and "84.3" in out


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
