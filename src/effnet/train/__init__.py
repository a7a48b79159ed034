"""Training: the paper's recipe (TF-style RMSProp, warm-up + 0.97 staircase decay, EMA), the loop,
resumable checkpoints and torchrun data parallelism.

``train(load_config("configs/b0_digits.py"))`` is the whole API; the pieces below are small units
that tests (and curious readers) use one at a time.
"""

from .api import train
from .config import TrainConfig, apply_overrides, load_config
from .recipes import TRANSFER_RECIPE, finetune_config, transfer_config
from .result import TrainResult

__all__ = [
    "TRANSFER_RECIPE",
    "TrainConfig",
    "TrainResult",
    "apply_overrides",
    "finetune_config",
    "load_config",
    "train",
    "transfer_config",
]
