"""The CLI starts without torch: ``effnet --help``, ``effnet`` alone and ``effnet models`` list
from a static table and import only the command they run, so they take a fraction of ``import
torch``'s time (benchmarks/cli_startup.py measures it; here only the behaviour is asserted)."""

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from effnet.cli import COMMANDS, build_parser, chosen_command

NO_TORCH_SCRIPT = """
import contextlib, io, sys
import effnet
assert "torch" not in sys.modules, "import effnet"
from effnet.cli import main
for argv in {argvs!r}:
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(out):
        code = main(argv)
    assert code == {codes!r}[len(argv) and argv[0]], (argv, code, out.getvalue())
    assert out.getvalue().strip(), argv
    assert "torch" not in sys.modules, argv
    assert "torchvision" not in sys.modules, argv
print("ok")
"""


def run_without_torch(argvs: list[list[str]], codes: dict) -> subprocess.CompletedProcess:
    script = NO_TORCH_SCRIPT.format(argvs=argvs, codes=codes)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )


def subcommand_action(parser):
    return next(a for a in parser._actions if a.dest == "command")


def test_help_no_arguments_and_models_never_import_torch():
    argvs = [["--help"], [], ["models"], ["models", "efficientnet_b*"], ["models", "--help"]]
    argvs.append(["models", "--pretrained"])  # the weight sets and where each would come from
    result = run_without_torch(argvs, codes={0: 2, "--help": 0, "models": 0})
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_help_of_every_command_is_torch_free():
    commands = list(COMMANDS)
    argvs = [[name, "--help"] for name in commands]
    result = run_without_torch(argvs, codes=dict.fromkeys(commands, 0))
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_static_table_matches_the_help_each_module_registers():
    full = subcommand_action(build_parser())
    registered = {action.dest: action.help for action in full._choices_actions}
    assert registered == COMMANDS
    assert list(registered) == list(COMMANDS)  # same order in the listing


def test_top_level_help_is_the_same_with_or_without_the_command_modules():
    assert build_parser([]).format_help() == build_parser().format_help()


def test_a_parser_for_one_command_parses_it_and_lists_the_rest():
    parser = build_parser(["scale"])
    args = parser.parse_args(["scale", "--base", "efficientnet_b0", "--phi", "1"])
    assert args.command == "scale" and callable(args.func)
    assert set(subcommand_action(parser).choices) == set(COMMANDS)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--help"], ""),
        ([], ""),
        (["predict", "models", "--top-k", "3"], "predict"),  # an argument named like a command
        (["-h", "train"], "train"),
        (["nosuch", "models"], ""),  # argparse refuses 'nosuch' as an invalid choice
    ],
)
def test_chosen_command_is_the_first_word_that_is_not_an_option(argv, expected):
    assert chosen_command(argv) == expected


def test_an_unknown_command_is_one_line_naming_the_choices(capsys):
    from effnet.cli import main

    assert main(["nosuch"]) == 2
    err = capsys.readouterr().err.strip()
    assert "invalid choice: 'nosuch'" in err and "'models'" in err and "\n" not in err


def test_startup_benchmark_judges_each_command_against_import_torch():
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "cli_startup.py"
    bench = runpy.run_path(str(script), run_name="benchmark")
    assert {"effnet --help", "effnet models", "import torch"} <= set(bench["commands"]())
    lines = bench["report"](
        {
            "import torch": [2.0, 1.0, 3.0],
            "effnet --help": [0.4, 0.3, 0.5],  # median 0.4 = 0.2x
            "effnet models": [1.2, 0.9, 1.0],  # median 1.0 = 0.5x: not under half
        }
    )
    assert lines[1].split() == ["import", "torch", "2.000", "1.000", "1.00x"]
    assert lines[2].endswith("0.20x (goal < 0.5x: met)")
    assert lines[3].endswith("0.50x (goal < 0.5x: MISSED)")
