"""Evaluation preprocessing metadata and its torchvision transform."""

import numpy as np
import pytest
from PIL import Image

from effnet.data import Preprocess, default_preprocess, eval_transform
from effnet.registry import get_spec


def test_paper_defaults_follow_the_variant():
    pre = default_preprocess(get_spec("efficientnet_b7"))
    assert (pre.resolution, pre.crop_pct, pre.interpolation) == (600, 0.875, "bicubic")
    assert pre.resize_size == 685  # 600 / 0.875


@pytest.mark.parametrize("mode", ["L", "RGBA", "RGB", "P"])
def test_transform_accepts_any_image_mode(mode):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 70, 3), np.uint8))
    tensor = eval_transform(Preprocess(resolution=32))(image.convert(mode))
    assert tensor.shape == (3, 32, 32)


def test_bad_values_are_rejected():
    with pytest.raises(ValueError, match="crop_pct"):
        Preprocess(resolution=224, crop_pct=1.5)
    with pytest.raises(ValueError, match="unknown interpolation"):
        Preprocess(resolution=224, interpolation="lanczos5")
    assert Preprocess.from_json(Preprocess(resolution=99).to_json()) == Preprocess(resolution=99)
