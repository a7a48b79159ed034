"""``effnet quantize``: ``effnet export`` under the name people look for (int8 or bf16 with a
fidelity report); one implementation, so the two never drift apart."""

from __future__ import annotations

import argparse

from .export import register as register_export


def register(sub: argparse._SubParsersAction) -> None:
    register_export(sub, "quantize")
