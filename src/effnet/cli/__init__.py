"""The ``effnet`` console script: one subcommand per module in this package, each thin.

Each subcommand module exposes ``register(subparsers)``; adding a command is one module and one
name in ``COMMANDS``. Expected failures (bad names, missing files, corrupt input) are printed as one
line and exit 2; set ``EFFNET_DEBUG=1`` to see the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..weights.fetch import DownloadError

COMMANDS = (
    "models",
    "profile",
    "train",
    "eval",
    "predict",
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
)

#: Errors that mean "the input or the network was wrong", reported without a traceback.
USER_ERRORS = (
    ValueError,
    FileNotFoundError,
    NotADirectoryError,
    PermissionError,
    KeyError,
    DownloadError,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="effnet",
        description="EfficientNet and compound scaling in PyTorch.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'effnet COMMAND --help' for a command's options and a runnable example.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name.replace('-', '_')}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except USER_ERRORS as err:
        if os.environ.get("EFFNET_DEBUG"):
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"effnet {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"effnet {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


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
