"""Training augmentation, and the one RGB conversion shared with evaluation and CAM."""

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from effnet.data.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess, eval_transform, to_rgb
from effnet.data.transforms import train_transform


@pytest.fixture(scope="module")
def cat():
    return Image.fromarray(skdata.chelsea()).resize((90, 60))


def test_train_transform_gives_normalised_random_crops(cat):
    augment = train_transform(32, crop_scale_min=0.2, hflip=True, autoaugment="imagenet")
    torch.manual_seed(1)
    a = augment(cat)
    torch.manual_seed(1)
    b = augment(cat)
    c = augment(cat)
    assert a.shape == (3, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)  # random, and repeatable under a seed
    low = (0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    high = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert bool((a >= low[:, None, None] - 1e-5).all() and (a <= high[:, None, None] + 1e-5).all())


def test_without_crop_flip_or_policy_it_is_a_plain_resize(cat):
    augment = train_transform(32, crop_scale_min=1.0, hflip=False, autoaugment=None)
    plain = eval_transform(Preprocess(32, crop_pct=1.0))
    square = cat.resize((60, 60))  # scale 1 and a square image: the crop is the whole image
    torch.testing.assert_close(augment(square), plain(square), atol=1e-5, rtol=0)


def test_a_flip_is_a_mirror_image(cat):
    flip = train_transform(32, crop_scale_min=1.0, hflip=True, autoaugment=None)
    keep = train_transform(32, crop_scale_min=1.0, hflip=False, autoaugment=None)
    square = cat.resize((60, 60))
    outputs = {flip(square)[0, 0, 0].item() for _ in range(30)}
    assert len(outputs) == 2  # flipped or not, each about half the time
    mirrored = keep(square.transpose(Image.FLIP_LEFT_RIGHT))
    assert any(torch.allclose(flip(square), mirrored, atol=1e-5) for _ in range(30))


def test_to_rgb_composites_alpha_on_white_and_repeats_gray(cat):
    assert to_rgb(cat) is cat
    gray = np.asarray(to_rgb(cat.convert("L")))
    assert gray.shape == (60, 90, 3) and (gray[..., 0] == gray[..., 2]).all()
    half = np.zeros((4, 4, 4), np.uint8)
    half[..., 0], half[..., 3] = 255, 128  # red at half opacity over white: pink
    pink = np.asarray(to_rgb(Image.fromarray(half, "RGBA")))
    assert pink[0, 0].tolist() == [255, 127, 127]
    clear_gray = Image.fromarray(np.zeros((4, 4, 2), np.uint8), "LA")
    assert np.asarray(to_rgb(clear_gray)).min() == 255
    palette = cat.convert("P")  # opaque: its colours unchanged
    np.testing.assert_array_equal(np.asarray(to_rgb(palette)), np.asarray(palette.convert("RGB")))


def test_training_and_evaluation_see_the_same_colours():
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 2], rgba[..., 3] = 220, 60  # faint blue
    image = Image.fromarray(rgba, "RGBA")
    augment = train_transform(20, crop_scale_min=1.0, hflip=False, autoaugment=None)
    evaluate = eval_transform(Preprocess(20, crop_pct=1.0))
    torch.testing.assert_close(augment(image), evaluate(image), atol=1e-5, rtol=0)
    torch.testing.assert_close(evaluate(image), evaluate(to_rgb(image)))
