"""The console script: ``python -m effnet.cli``, one-line errors, and an example in every
subcommand's help. (Each command's own output is tested in tests/cli/test_<command>.py.)"""

import subprocess
import sys

from effnet.cli import COMMANDS, build_parser


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
