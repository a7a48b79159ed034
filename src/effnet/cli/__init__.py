"""The ``effnet`` console script: one subcommand per module in this package, each thin.

Each subcommand module exposes ``register(subparsers)``; adding a command is one module and one
line in ``COMMANDS`` (its name and help line). Only the command being run has its module imported:
``effnet --help`` lists every command from the table, so starting the CLI never loads torch before
a command needs it. Every failure a user can cause (bad names, missing or corrupt files, a full
disk, a read-only folder, a diverged run) is printed as one line naming the file or field, and
exits 2; ``--debug`` (anywhere on the command line) or ``EFFNET_DEBUG=1`` shows the traceback.
SIGTERM unwinds like Ctrl-C (:class:`Terminated`), so every ``finally`` removes its temporary
files; the exit code is 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Collection
from typing import Any, NoReturn

from ..deploy.metadata import MissingEngineError
from ..weights.fetch import DownloadError

#: Every subcommand with the help line ``effnet --help`` lists for it, in the order listed. The
#: module ``effnet.cli.<name>`` (dashes as underscores) registers the same line; it is imported
#: only when its command runs or a full parser is built (tests/cli/test_startup.py checks the two).
COMMANDS: dict[str, str] = {
    "models": "list the registered models",
    "profile": "per-stage params and multiply-adds, cross-checked with torch's flop counter",
    "train": "train a model from a config file (configs/*.py)",
    "eval": "accuracy of a checkpoint on an ImageFolder tree (DATA/<class>/<image>)",
    "detect": "draw a detector's boxes on an image (PNG)",
    "predict": "top-k labels with probabilities for images (files, folders, globs, lists)",
    "serve": "an HTTP classification service: POST /predict, GET /healthz, GET /metrics",
    "cam": "class activation map of an image, overlaid as a heat map (paper Figure 7)",
    "export": "write a deployable file (ONNX, OpenVINO, TorchScript, LiteRT, ExecuTorch) at "
    "fp32 / fp16 / bf16 / int8",
    "finetune": "fine-tune a checkpoint on an image folder or a Table 5 data set",
    "convert": "load torchvision, timm, efficientnet-pytorch, Keras checkpoints (and export back)",
    "scale": "compound-scale a network (phi, a FLOP target, or explicit multipliers)",
    "search-scaling": "grid-search alpha, beta, gamma for compound scaling (paper step 1)",
    "study": "scale a base by width, depth, resolution and compound at matched FLOPs, train all",
    "reproduce": "write a paper table (params, FLOPs, accuracy) beside ours, plus a Figure 1/5 "
    "plot",
    "bench": "latency (the paper's Table 4), throughput and peak memory on this machine",
    "pick": "time the EfficientNet families on this machine and recommend the most accurate one "
    "within a budget",
    "quantize": "write a deployable file (ONNX, OpenVINO, TorchScript, LiteRT, ExecuTorch) at "
    "fp32 / fp16 / bf16 / int8 (alias of 'effnet export')",
}

#: Errors that mean "the input, the disk or the network was wrong", reported without a traceback.
#: OSError covers missing files, permissions, a full disk and failed downloads; RecursionError is
#: what a maliciously deep structure in a file makes a parser raise.
USER_ERRORS = (
    ValueError,
    OSError,
    KeyError,
    DownloadError,
    MissingEngineError,
    RecursionError,
)
DEBUG_FLAG = "--debug"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, as Ctrl-C raises KeyboardInterrupt: whatever cleans
    up after Ctrl-C (context managers, ``finally``) cleans up after a kill too."""

    signum = signal.SIGTERM


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


class OneLineParser(argparse.ArgumentParser):
    """argparse with the project's error style: a bad argument is one line (the usage block
    argparse prints first buries it) that names the option, and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The ``effnet`` parser with the subcommands in ``commands`` built in full (all by default).

    The others are listed by name and help line only, from :data:`COMMANDS`, so a parser for one
    command (or for ``effnet --help``) imports no other command's module.
    """
    parser = OneLineParser(
        prog="effnet",
        description="EfficientNet and compound scaling in PyTorch.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'effnet COMMAND --help' for a command's options and a runnable example.",
    )
    parser.add_argument(
        DEBUG_FLAG,
        action="store_true",
        help="show the traceback of an error (also accepted after COMMAND; or EFFNET_DEBUG=1)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, line in COMMANDS.items():
        if commands is None or name in commands:
            importlib.import_module(f"{__name__}.{name.replace('-', '_')}").register(sub)
        else:
            sub.add_parser(name, help=line)
    return parser


def chosen_command(argv: list[str]) -> str:
    """The subcommand an ``effnet`` command line runs: its first word that is not an option (the
    top-level options take no value), or "" when there is none or it names no command."""
    word = next((a for a in argv if not a.startswith("-")), "")
    return word if word in COMMANDS else ""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in argv or bool(os.environ.get("EFFNET_DEBUG"))
    handles_sigterm = _take_sigterm()
    argv = [a for a in argv if a != DEBUG_FLAG]
    command = chosen_command(argv)
    try:
        try:
            args = build_parser([command]).parse_args(argv)
        except SystemExit as stop:  # --help (0) or a bad argument (2, its one line printed)
            return stop.code if isinstance(stop.code, int) else 2
        command = args.command
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(command, warnings.showwarning)
            result = args.func(args)
    except BaseException as err:
        stopped = interruption(err)
        if stopped is not None:
            word = "terminated" if stopped == signal.SIGTERM else "interrupted"
            print(f"effnet {command}: {word}", file=sys.stderr)
            return 128 + stopped
        if debug or not isinstance(err, USER_ERRORS):
            raise
        print(f"effnet {command}: error: {error_line(err)}", file=sys.stderr)
        return 2
    finally:
        if handles_sigterm:  # also ends what a command (serve) put in its place
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return int(result or 0)


def _one_line_warnings(command: str, show: Any) -> Any:
    """``warnings.showwarning`` that prints effnet's own notices (a deprecated config key) as one
    ``effnet CMD: warning: ...`` line, and hands every other warning to ``show``."""

    def showwarning(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
        # Imported only when a warning arrives: start-up stays free of the training package.
        from ..train.sections import FlatKeyWarning

        if issubclass(category, FlatKeyWarning):
            print(f"effnet {command}: warning: {message}", file=sys.stderr)
        else:
            show(message, category, *args, **kwargs)

    return showwarning


def interruption(err: BaseException) -> int | None:
    """The signal behind ``err`` (SIGINT for Ctrl-C), or None when it has nothing to do with one.

    Extensions rewrap what a signal raised inside them (``torch.save``'s RuntimeError, a pybind11
    module's ImportError "initialization failed"); the KeyboardInterrupt is then the cause or the
    context of the error that arrives here, and the command was still stopped by a signal.
    """
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, KeyboardInterrupt):
            return int(getattr(err, "signum", signal.SIGINT))
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def _take_sigterm() -> bool:
    """Make SIGTERM raise :class:`Terminated`, unless a host program (or a thread) owns signals."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    signal.signal(signal.SIGTERM, _on_sigterm)
    return True


def error_line(err: BaseException) -> str:
    """An error as one line: a KeyError's message without its quotes, newlines folded."""
    if isinstance(err, KeyError) and err.args and isinstance(err.args[0], str):
        text = err.args[0] if " " in err.args[0] else f"missing key {err.args[0]!r}"
    elif isinstance(err, RecursionError):
        text = "the input is nested too deeply to read"
    else:
        text = str(err) or type(err).__name__
    if isinstance(err, OSError):
        text = re.sub(r"^\[Errno \d+\] ", "", text)  # the number says nothing to a user
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def add_override_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """``--override KEY=VALUE ...``: config fields changed from the command line (repeatable),
    parsed to each field's type by :func:`effnet.train.apply_overrides`."""
    parser.add_argument(
        "--override", nargs="+", action="extend", default=[], metavar="KEY=VALUE", help=help
    )


def add_overwrite_argument(parser: argparse.ArgumentParser) -> None:
    """``--overwrite``: the one way to let a command replace a file that exists
    (:func:`effnet.fileio.claim_output`); never one of its own inputs."""
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace output files that already exist (never one of the command's inputs)",
    )


def claim_json(args: argparse.Namespace) -> None:
    """Refuse, before any work, a ``--json`` file that is an input or exists (unless
    ``--overwrite``); ``-`` (stdout) is always fine."""
    from ..fileio import claim_output

    if args.json and args.json != "-":
        claim_output(args.json, [args.weights], args.overwrite, "--json")


def example_help(text: str) -> dict:
    """argparse keywords that put a pasteable example under a subcommand's --help."""
    return {
        "epilog": "example:\n  " + text.strip().replace("\n", "\n  "),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """argparse ``type=``: an integer in [low, high] (no upper bound when None). argparse reports
    a value outside as an error naming the option (exit 2), so a 0 or a 100000 never reaches the
    code (where 0 may mean "default" and 100000 a 240 GB allocation)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"in [{low}, {high}]" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def float_in(
    low: float | None = None, high: float | None = None, open_low: bool = False
) -> Callable[[str], float]:
    """argparse ``type=``: a finite number in [low, high] ((low, high] with ``open_low``; either
    bound may be None); NaN and infinity are refused, as no option means anything by them."""
    bounds = [f"{'above' if open_low else 'at least'} {low:g}"] if low is not None else []
    bounds += [f"at most {high:g}"] if high is not None else []
    wanted = " ".join(["a finite number", " and ".join(bounds)]).strip()

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        below = low is not None and (value <= low if open_low else value < low)
        if not math.isfinite(value) or below or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


#: Common ``type=`` helpers: counts that must be at least one, counts that may be zero.
positive_int = int_in(1)
natural_int = int_in(0)
#: ``--threads``: more than this is no machine's core count, and each thread costs a stack and
#: an engine's per-thread buffers (100,000 would exhaust memory before doing any work).
MAX_THREADS = 1024
thread_count = int_in(1, MAX_THREADS)
