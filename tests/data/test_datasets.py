"""Data sets by name: an image folder of real photos split into train / minival / test."""

import inspect

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from effnet.data.datasets import DATASETS, build_datasets
from effnet.data.folders import ImageFolder
from effnet.data.preprocess import IMAGENET_MEAN, IMAGENET_STD

PHOTOS = {"cat": skdata.chelsea, "coffee": skdata.coffee}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """``train/`` with 10 crops per class and ``val/`` with 2, of two real photographs."""
    root = tmp_path_factory.mktemp("folder")
    for split, count in (("train", 10), ("val", 2)):
        for name, load in PHOTOS.items():
            pixels = load()
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                y, x = 11 * i, 23 * i
                tile = Image.fromarray(pixels[y : y + 200, x : x + 200]).resize((40, 40))
                tile.save(root / split / name / f"{split}{i}.png")
    return root


def test_the_training_loops_keywords_are_kept():
    """The training loop calls build_datasets with these keywords."""
    params = inspect.signature(build_datasets).parameters
    assert list(params)[:3] == ["name", "data_dir", "image_size"]
    keywords = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert keywords == [
        "minival_size", "limit_train_images", "crop_scale_min", "hflip", "autoaugment",
        "eval_crop_pct", "interpolation", "normalization",
    ]  # fmt: skip


def test_normalization_of_the_starting_weights_reaches_the_stored_preprocessing():
    lite = ((127 / 255,) * 3, (128 / 255,) * 3)  # TensorFlow Lite weights: (x - 127) / 128
    data = build_datasets("digits", None, 24, normalization=lite, autoaugment=None)
    assert (data.preprocess.mean, data.preprocess.std) == lite
    image, _ = data.test[0]
    assert image.min() >= -127 / 128 - 1e-6 and image.max() <= 128 / 128 + 1e-6
    assert build_datasets("digits", None, 24, autoaugment=None).preprocess.mean[0] < 0.49


def test_imagefolder_splits_hold_out_a_fixed_minival(data_dir):
    data = build_datasets("imagefolder", str(data_dir), 24, minival_size=4, autoaugment=None)
    assert data.class_names == ["cat", "coffee"] and data.num_classes == 2
    assert (len(data.train), len(data.val), len(data.test)) == (16, 4, 4)
    assert isinstance(data.train.base, ImageFolder)  # the reader effnet eval uses
    assert set(data.train.indices).isdisjoint(data.val.indices)
    again = build_datasets("imagefolder", str(data_dir), 24, minival_size=4, autoaugment=None)
    assert again.val.indices == data.val.indices  # the hold-out does not move between runs
    limited = build_datasets("imagefolder", str(data_dir), 24, minival_size=4, limit_train_images=5)
    assert len(limited.train) == 5 and set(limited.train.indices) <= set(data.train.indices)
    labels = [data.test[i][1] for i in range(len(data.test))]
    assert labels == [0, 0, 1, 1]


def test_training_images_are_augmented_and_evaluation_ones_are_not(data_dir):
    data = build_datasets(
        "imagefolder", str(data_dir), 24, minival_size=2, eval_crop_pct=1.0, hflip=True
    )
    assert data.preprocess.resolution == 24 and data.preprocess.crop_pct == 1.0
    first, second = data.train[0][0], data.train[0][0]
    assert first.shape == (3, 24, 24) and not torch.equal(first, second)  # random crops
    assert torch.equal(data.val[0][0], data.val[0][0])
    # With crop 1.0 the test image is the photo resized and normalised, nothing else.
    image, _ = data.test.base[0]
    expected = np.asarray(image.resize((24, 24), Image.BICUBIC), np.float32) / 255
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    pixels = data.test[0][0].permute(1, 2, 0).numpy() * std + mean
    assert np.abs(pixels - expected).mean() < 0.02


def test_transparent_training_pixels_are_white_as_in_evaluation(tmp_path):
    """One colour conversion for training and eval: invisible red reads as white in both."""
    for name in ("clear", "white"):
        (tmp_path / "train" / name).mkdir(parents=True)
    clear = np.zeros((30, 30, 4), np.uint8)
    clear[..., 0] = 200
    Image.fromarray(clear, "RGBA").save(tmp_path / "train" / "clear" / "x.png")
    white_pixels = np.full((30, 30, 3), 255, np.uint8)
    Image.fromarray(white_pixels).save(tmp_path / "train" / "white" / "x.png")
    data = build_datasets("imagefolder", str(tmp_path), 16, autoaugment=None, hflip=False)
    white = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    for i in range(2):
        torch.testing.assert_close(data.train[i][0], white[:, None, None].expand(3, 16, 16))


def test_wrong_names_and_sizes_are_refused(data_dir):
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        build_datasets("imagenet", str(data_dir), 24)
    with pytest.raises(ValueError, match="minival_size=20 leaves no training images out of 20"):
        build_datasets("imagefolder", str(data_dir), 24, minival_size=20)
    with pytest.raises(ValueError, match="needs data_dir"):
        build_datasets("imagefolder", None, 24)
    assert DATASETS[:2] == ("digits", "imagefolder") and "cifar10" in DATASETS


def test_torchvision_sets_live_under_effnet_home_like_the_weights(tmp_path, monkeypatch):
    """``$EFFNET_HOME`` moves every data set named without ``data_dir``, not only the weights."""
    import torchvision.datasets

    from effnet.weights.fetch import weights_dir

    roots = []

    def offline(root, download=False, **kwargs):
        roots.append(root)
        raise RuntimeError("Dataset not found")  # what torchvision says with no network

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    monkeypatch.setenv("EFFNET_HOME", str(tmp_path / "home"))
    with pytest.raises(FileNotFoundError, match=f"under {tmp_path / 'home' / 'datasets'} "):
        build_datasets("cifar10", None, 32)
    assert roots == [str(tmp_path / "home" / "datasets")]
    assert weights_dir() == tmp_path / "home" / "weights"
    with pytest.raises(FileNotFoundError, match=f"under {tmp_path / 'mine'} "):
        build_datasets("cifar10", str(tmp_path / "mine"), 32)  # data_dir still wins
