"""The one call other tools make: ``train(cfg) -> TrainResult``.

Fine-tuning, grid search and the CLI all go through here, so a run started from Python and one
started with ``effnet train`` are the same run. The loop is imported when a run starts, not with
this module: every config file imports ``effnet.train``, and reading a config should not load
torch. (The loop itself never imports this module, so the two form no cycle.)
"""

from __future__ import annotations

from .config import TrainConfig
from .result import TrainResult

__all__ = ["TrainResult", "train"]


def train(cfg: TrainConfig, resume: bool = False, overwrite: bool = False) -> TrainResult:
    """Train ``cfg`` to the end (or ``max_steps``); ``resume`` continues ``output_dir/last.pt``.

    A fresh run refuses an ``output_dir`` that holds another run unless ``overwrite`` is set, and
    any run refuses a folder that another live run is training into (:mod:`.rundir`).

    Under ``torchrun`` every process calls this; rank 0 alone logs and writes files, and every
    rank returns the same result.
    """
    from .loop import run

    return run(cfg, resume=resume, overwrite=overwrite)
