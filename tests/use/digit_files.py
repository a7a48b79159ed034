"""Folders of real handwritten-digit PNGs, and a small B0 that answers about them, shared by the
streaming-predict tests (tests/use/test_predict_stream.py, test_predict_ray.py, test_result_files.py
and tests/cli/test_predict_out.py).

scikit-learn's 1,797 digits are written as they are, then transposed and shifted copies under new
names until the count is reached, so every file is a distinct real image. The model is B0 at
24 px with batch-norm statistics measured on those digits and a classifier scaled so that its
probabilities are spread out (a saturated 1.0/0.0 answer would make every comparison trivial).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_digits
from torch import nn

import effnet
from effnet.data import Preprocess, eval_transform
from effnet.weights import save_model

CLASSES = [str(d) for d in range(10)]
PREPROCESS = Preprocess(24, 1.0, "bilinear")


def digit_pixels() -> np.ndarray:
    """The 1,797 digits as 8-bit 8x8 images."""
    return np.clip(load_digits().images * (255 / 16), 0, 255).round().astype(np.uint8)


def variant(pixels: np.ndarray, i: int) -> np.ndarray:
    """Image ``i``: the digits as they are, then transposed, then shifted one pixel, ..."""
    image = pixels[i % len(pixels)]
    kind = i // len(pixels)
    return image if kind == 0 else np.roll(image.T if kind % 2 else image, kind // 2, axis=1)


def write_digits(folder: Path, count: int) -> list[Path]:
    """``folder/00000.png``...: ``count`` digit images, each file a different image."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = digit_pixels()
    paths = [folder / f"{i:05d}.png" for i in range(count)]
    for i, path in enumerate(paths):
        Image.fromarray(variant(pixels, i)).save(path)
    return paths


def digits_checkpoint(path: Path) -> Path:
    """B0 at 24 px whose BN statistics come from the digits: answers of order 1, not noise."""
    torch.manual_seed(0)
    model = effnet.create_model("efficientnet_b0", num_classes=10)
    transform = eval_transform(PREPROCESS)
    x = torch.stack([transform(Image.fromarray(p)) for p in digit_pixels()[:256]])
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    model.train()
    with torch.no_grad():
        model(x)
        model.eval()
        logits = model(x)
        model.classifier.weight.mul_(1.5 / logits.std().item())
    return save_model(path, model, CLASSES, PREPROCESS)
