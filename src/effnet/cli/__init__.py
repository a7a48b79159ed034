"""The ``effnet`` console script: one subcommand per module in this package, each thin.

Each subcommand module exposes ``register(subparsers)``; adding a command is one module and one
name in ``COMMANDS``. Every failure a user can cause (bad names, missing or corrupt files, a full
disk, a read-only folder, a diverged run) is printed as one line naming the file or field, and
exits 2; ``--debug`` (anywhere on the command line) or ``EFFNET_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

from ..deploy.metadata import MissingEngineError
from ..weights.fetch import DownloadError

COMMANDS = (
    "models",
    "profile",
    "train",
    "eval",
    "detect",
    "predict",
    "serve",
    "cam",
    "export",
    "finetune",
    "convert",
    "scale",
    "search-scaling",
    "study",
    "reproduce",
    "bench",
    "pick",
    "quantize",
)

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name.replace('-', '_')}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in argv or bool(os.environ.get("EFFNET_DEBUG"))
    args = build_parser().parse_args([a for a in argv if a != DEBUG_FLAG])
    try:
        result = args.func(args)
    except USER_ERRORS as err:
        if debug:
            raise
        print(f"effnet {args.command}: error: {error_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"effnet {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


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


def example_help(text: str) -> dict:
    """argparse keywords that put a pasteable example under a subcommand's --help."""
    return {
        "epilog": "example:\n  " + text.strip().replace("\n", "\n  "),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
