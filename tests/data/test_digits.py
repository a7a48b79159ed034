"""The embedded digits data set and the per-sample seeded augmentation."""

import numpy as np
import torch

from effnet.data.datasets import build_datasets
from effnet.data.digits import DigitsImages, split_indices
from effnet.data.loading import TransformedSubset, sample_seed
from effnet.data.transforms import train_transform


def test_fixed_stratified_split_of_all_1797_images():
    parts = split_indices()
    assert {k: len(v) for k, v in parts.items()} == {"train": 1257, "val": 180, "test": 360}
    union = np.concatenate(list(parts.values()))
    assert len(np.unique(union)) == 1797  # disjoint and complete
    test_labels = np.bincount(DigitsImages("test").targets, minlength=10)
    assert test_labels.min() >= 35 and test_labels.max() <= 37  # stratified: ~36 per digit
    assert np.array_equal(split_indices()["test"], parts["test"])  # fixed


def test_images_are_8x8_grayscale_with_full_range():
    images = DigitsImages("train")
    image, label = images[0]
    assert image.size == (8, 8) and image.mode == "L"
    pixels = np.stack([np.asarray(images[i][0]) for i in range(50)])
    assert pixels.max() == 255 and pixels.min() == 0
    assert 0 <= label <= 9


def test_splits_are_upsampled_rgb_tensors_and_eval_is_deterministic():
    data = build_datasets("digits", None, image_size=32, autoaugment=None, eval_crop_pct=1.0)
    assert data.class_names == [str(d) for d in range(10)]
    assert data.preprocess.resolution == 32 and data.preprocess.crop_pct == 1.0
    x, label = data.train[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and 0 <= label <= 9
    mean, std = torch.tensor(data.preprocess.mean), torch.tensor(data.preprocess.std)
    pixels = x * std[:, None, None] + mean[:, None, None]
    torch.testing.assert_close(pixels[0], pixels[1])  # gray repeated to 3 channels
    v1, v2 = data.test[5][0], data.test[5][0]
    assert torch.equal(v1, v2)


def test_seeded_augmentation_repeats_per_epoch_and_sample_and_leaves_global_rng_alone():
    base = DigitsImages("train")
    augment = train_transform(32, crop_scale_min=0.3, hflip=True, autoaugment="svhn")
    subset = TransformedSubset(base, range(20), augment, base.classes)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = subset[(3, sample_seed(0, epoch=1, index=3))][0]
    b = subset[(3, sample_seed(0, epoch=1, index=3))][0]
    c = subset[(3, sample_seed(0, epoch=2, index=3))][0]
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert sample_seed(0, 1, 3) != sample_seed(1, 1, 3) != sample_seed(0, 1, 4)
