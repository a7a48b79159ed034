"""B0 trained on the embedded digits (the project's demo recipe, configs/b0_digits.py), for the
reduced-precision fidelity tests: int8 and bf16 are judged on a model that has learned something,
on its own test set, which random weights cannot show.

Training takes 2-4 minutes on 2 cores, so the checkpoint is cached in the system temp folder
(keyed by the torch version and the config's text) and reused by later runs; a run without the
cache trains it once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "b0_digits.py"


@dataclass
class Digits:
    """The trained model and its data, preprocessed as the checkpoint says."""

    model: nn.Module
    test_images: torch.Tensor
    test_labels: torch.Tensor
    train_images: torch.Tensor  # the calibration pool

    def calibration(self, count: int) -> torch.Tensor:
        return self.train_images[:count]

    def test_batches(self, size: int = 120) -> list[tuple[torch.Tensor, torch.Tensor]]:
        x, y = self.test_images, self.test_labels
        return [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]


def cached_checkpoint() -> Path:
    """The digits B0 checkpoint, trained now if no earlier run left it in the cache."""
    from effnet.train import load_config, train

    key = hashlib.sha256(CONFIG.read_bytes() + torch.__version__.encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / "effnet-test-cache"
    path = cache / f"b0_digits_{key}.safetensors"
    if path.is_file():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as run:
        result = train(load_config(CONFIG, [f"output_dir={run}", "log_every=1000"]))
        partial = Path(run) / "final.safetensors"
        shutil.copyfile(result.checkpoint, partial)
        os.replace(partial, path)  # atomic: a parallel or killed run never sees half a file
    return path


def load_digits() -> Digits:
    from effnet.data import DigitsImages, eval_transform
    from effnet.weights.checkpoint import load_model

    model, meta = load_model(cached_checkpoint())
    transform = eval_transform(meta["preprocess"])

    def split(name: str) -> tuple[torch.Tensor, torch.Tensor]:
        data = DigitsImages(name)
        images = torch.stack([transform(data[i][0]) for i in range(len(data))])
        return images, torch.tensor(data.targets)

    test_images, test_labels = split("test")
    train_images, _ = split("train")
    return Digits(model.eval(), test_images, test_labels, train_images)
