"""The one call other tools make: ``train(cfg) -> TrainResult``.

Fine-tuning, grid search and the CLI all go through here, so a run started from Python and one
started with ``effnet train`` are the same run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import TrainConfig


@dataclass
class TrainResult:
    """What a finished run leaves behind.

    ``best_val_acc`` is the best minival accuracy (the early-stopping criterion); ``test_acc`` is
    the reported accuracy on the test split: the early-stopped (best-on-minival) checkpoint's, the
    paper's protocol, or the final weights' when the config sets ``select_on_minival=False``; None
    when the data set has no test split (``final_test_acc`` is always the final weights').
    ``checkpoint`` holds the final weights (EMA weights when EMA is on), ``best_checkpoint`` the
    best-on-minival ones; both are effnet safetensors files that
    ``effnet.weights.checkpoint.load_model`` reads. ``history`` has one dict per evaluation.
    """

    best_val_acc: float
    test_acc: float | None
    checkpoint: Path
    best_checkpoint: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_time_s: float = 0.0
    output_dir: Path = Path(".")
    final_test_acc: float | None = None
    steps: int = 0
    skipped_images: int = 0


def train(cfg: TrainConfig, resume: bool = False) -> TrainResult:
    """Train ``cfg`` to the end (or ``max_steps``); ``resume`` continues ``output_dir/last.pt``.

    Under ``torchrun`` every process calls this; rank 0 alone logs and writes files, and every
    rank returns the same result.
    """
    from .loop import run

    return run(cfg, resume=resume)
