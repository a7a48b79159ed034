"""Evaluation preprocessing metadata and its torchvision transform."""

import json

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


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("resolution", True, "resolution must be an integer, got True"),  # not "Truepx"
        ("resolution", "224", "resolution must be an integer"),
        ("resolution", 224.0, "resolution must be an integer"),
        ("resolution", 0, r"resolution must be in \[1, 8192\], got 0"),
        ("resolution", 40_000, r"resolution must be in \[1, 8192\], got 40000"),
        ("crop_pct", 1e-4, "crop_pct 0.0001 resizes images to 2,240,000 px"),
        ("crop_pct", 0, r"crop_pct must be in \(0, 1\]"),
        ("crop_pct", float("nan"), "crop_pct must hold finite numbers, got nan"),
        ("crop_pct", "0.9", "crop_pct must hold finite numbers, got '0.9'"),
        ("crop_pct", False, "crop_pct must hold finite numbers, got False"),
        ("interpolation", "lanczos5", "unknown interpolation 'lanczos5'"),
        ("interpolation", ["bicubic"], r"unknown interpolation \['bicubic'\]"),
        ("mean", (0.5, 0.5), "mean must be a list of 3 numbers"),
        ("mean", "abc", "mean must be a list of 3 numbers"),
        ("mean", (0.5, float("nan"), 0.5), "mean must hold finite numbers, got nan"),
        ("mean", (0.5, None, 0.5), "mean must hold finite numbers, got None"),
        ("std", (0.2, float("inf"), 0.2), "std must hold finite numbers, got inf"),
        ("std", (0.2, 0.0, 0.2), r"std must be positive, got \[0.2, 0.0, 0.2\]"),
        ("std", (0.5,), "mean and std need one value per channel each"),
    ],
)
def test_every_field_is_checked_for_type_and_range(field, value, message):
    """A header's preprocessing is data from a file: a NaN mean or an infinite std would predict
    NaN, a resolution of 40,000 or a crop of 1e-4 would resize to gigabytes."""
    with pytest.raises(ValueError, match=message):
        Preprocess(**{"resolution": 224, field: value})
    good = json.loads(Preprocess(224).to_json())
    with pytest.raises(ValueError, match=message):
        Preprocess.from_json(json.dumps({**good, field: value}, allow_nan=True))


@pytest.mark.parametrize("text", ["[224]", "null", '"224"', "3"])
def test_preprocessing_that_is_not_an_object_is_one_valueerror(text):
    with pytest.raises(ValueError, match="preprocessing must be a JSON object"):
        Preprocess.from_json(text)


def test_one_channel_and_the_largest_shipped_settings_are_accepted():
    assert Preprocess(28, 1.0, "nearest", (0.5,), (0.5,)).resize_size == 28
    assert Preprocess(8192, 0.5).resize_size == 16384  # the largest resize allowed
    assert Preprocess(800, 0.96).resize_size == 833  # EfficientNet-L2's evaluation
