"""scikit-learn's handwritten digits shipped with effnet: no download, 1,797 images.

Each 8x8 image (ink 0..16) becomes an 8-bit grayscale PIL image; the transforms upsample it to the
training resolution and repeat it to 3 channels (``eval_transform`` converts grayscale to RGB).
Three channels, not ``in_chans=1``: the checkpoint then takes ordinary RGB photos through the same
Preprocess as every other effnet model and can start from (or seed) ImageNet weights, and the stem
conv is under 0.01% of B0's multiply-adds either way.

The split is fixed (not drawn from the run's seed) so every run is scored on the same 360 images:
stratified 70% train / 10% minival / 20% test.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: Fixed seed of the train/minival/test split (independent of the training seed).
SPLIT_SEED = 0
CLASS_NAMES = [str(d) for d in range(10)]


@lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.clip(digits.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    return pixels, digits.target.astype(np.int64)


def split_indices() -> dict[str, np.ndarray]:
    """Indices of the fixed stratified split: ``{"train": 1257, "val": 180, "test": 360}``."""
    from sklearn.model_selection import train_test_split

    _, labels = _load()
    index = np.arange(len(labels))
    rest, test = train_test_split(
        index, test_size=360, stratify=labels, random_state=SPLIT_SEED, shuffle=True
    )
    train, val = train_test_split(
        rest, test_size=180, stratify=labels[rest], random_state=SPLIT_SEED, shuffle=True
    )
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


class DigitsImages:
    """Indexable (PIL image, label) pairs of one split, like an untransformed torchvision set."""

    def __init__(self, split: str) -> None:
        indices = split_indices()
        if split not in indices:
            raise ValueError(f"unknown digits split {split!r}; expected one of {list(indices)}")
        pixels, labels = _load()
        self.pixels = pixels[indices[split]]
        self.targets = labels[indices[split]].tolist()
        self.classes = CLASS_NAMES

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        from PIL import Image

        return Image.fromarray(self.pixels[index]), self.targets[index]  # uint8 2-D: mode "L"

    def describe(self, index: int) -> str:
        return f"digits[{index}]"
