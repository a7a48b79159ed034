"""Keras 3 EfficientNet weight files load exactly, with Keras's in-model normalisation as metadata.

Keras runs on its torch backend here (set before Keras is imported). Keras takes 0-255 NHWC pixels
and normalises inside the model; the converted effnet model takes NCHW pixels normalised with the
Preprocess the converter read out of the file. Both must give the same logits within 1e-4.
"""

import os

os.environ["KERAS_BACKEND"] = "torch"

import h5py
import keras
import numpy as np
import pytest
import torch
from keras.src.legacy.saving import legacy_h5_format

from effnet.data.preprocess import IMAGENET_MEAN, IMAGENET_STD
from effnet.weights import convert_checkpoint, load_model, save_model
from effnet.weights.convert import keras_preprocess
from effnet.weights.keras_h5 import KerasWeights, read_keras_weights

# _one_thread: autouse, keeps small batches single-threaded
from tests.weights.test_convert import (
    BN_SCALE,
    CALIBRATION,
    SIZE,
    TOLERANCE,
    _one_thread,  # noqa: F401
    assert_bn_matters,
    normalise,
    photo_batch,
)

# Keras's torch backend converts tensors with np.array(x), which numpy 2 flags; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
LARGE = [pytest.param(v, marks=pytest.mark.slow) for v in ("B4", "B5", "B6", "B7")]


def keras_model(variant: str, seed: int = 0):
    """A Keras EfficientNet with random BN scale/shift, BN statistics measured on real photos
    (as ``randomize_bn`` does for torch models) and ImageNet input normalisation."""
    assert keras.backend.backend() == "torch"
    keras.utils.set_random_seed(seed)  # Keras draws its initial weights from its own generator
    model = getattr(keras.applications, f"EfficientNet{variant}")(
        weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None
    )
    rng = np.random.default_rng(seed)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    for layer in norms:
        _, _, mean, variance = layer.get_weights()
        n = mean.shape[0]
        layer.set_weights([rng.uniform(*BN_SCALE, n), rng.normal(0.0, 0.2, n), mean, variance])
        layer.momentum = 0.0  # moving statistics := the calibration batch's statistics
    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization):
            # what Normalization.adapt() stores for ImageNet: the mean and the variance
            layer.set_weights(
                [np.array(IMAGENET_MEAN), np.array(IMAGENET_STD) ** 2, np.array(1281167)]
            )
    rates = [layer.rate for layer in dropouts]
    for layer in dropouts:  # training=True below is for BN only
        layer.rate = 0.0
    model(photo_batch(photos=CALIBRATION).permute(0, 2, 3, 1).numpy() * 255.0, training=True)
    for layer, rate in zip(dropouts, rates, strict=True):
        layer.rate = rate
    for layer in norms:
        layer.momentum = 0.99
    assert_bn_matters([layer.get_weights()[2:] for layer in norms])
    return model


def keras_logits(model, images: torch.Tensor) -> torch.Tensor:
    """Keras sees 0-255 pixels, channels last."""
    out = model(images.permute(0, 2, 3, 1).numpy() * 255.0, training=False)
    return torch.as_tensor(keras.ops.convert_to_numpy(out))


@pytest.mark.parametrize("variant", ["B0", "B1", "B3", *LARGE])
def test_keras_weights_file_gives_the_keras_logits(variant, tmp_path):
    reference = keras_model(variant)
    path = tmp_path / "model.weights.h5"
    reference.save_weights(str(path))
    name = f"efficientnet_{variant.lower()}"
    model = convert_checkpoint(path, "keras", name if variant != "B0" else None).eval()

    assert model.spec.name == name
    assert (model.padding, model.spec.bn_eps) == ("same", 1e-3)
    assert np.allclose(model.preprocess.mean, IMAGENET_MEAN)
    assert np.allclose(model.preprocess.std, IMAGENET_STD)
    images = photo_batch()
    expected = keras_logits(reference, images)
    with torch.no_grad():
        ours = model(normalise(images, model.preprocess))
    assert (expected[0] - expected[1]).abs().max() > 0.1  # logits depend on the photo
    diff = (ours - expected).abs().max().item()
    print(f"max abs diff keras {variant}: {diff:.3g}")
    assert diff <= TOLERANCE

    reloaded, meta = load_model(save_model(tmp_path / "effnet.safetensors", model))
    assert meta["preprocess"] == model.preprocess and reloaded.padding == "same"


def test_legacy_keras_h5_files_load_too(tmp_path):
    # The published ImageNet files (efficientnetb0.h5, ...) use Keras 2's HDF5 layout.
    reference = keras_model("B0", seed=1)
    path = tmp_path / "efficientnetb0.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    assert "stem_conv" in read_keras_weights(path).layers
    model = convert_checkpoint(path, "keras", "efficientnet_b0").eval()
    images = photo_batch()
    with torch.no_grad():
        ours = model(normalise(images, model.preprocess))
    assert (ours - keras_logits(reference, images)).abs().max() <= TOLERANCE


def test_imagenet_files_std_quirk_becomes_the_right_std():
    # Keras's ImageNet weights keep the std in the variance slot and weights="imagenet" adds
    # Rescaling(1/sqrt(std)) after Normalization; reproduce that pair of layers here.
    pixels = np.random.default_rng(0).uniform(0, 1, (4, 8, 8, 3)).astype("float32")
    normalization = keras.layers.Normalization(
        mean=list(IMAGENET_MEAN), variance=list(IMAGENET_STD)
    )
    rescaling = keras.layers.Rescaling([1.0 / np.sqrt(s) for s in IMAGENET_STD])
    keras_out = keras.ops.convert_to_numpy(rescaling(normalization(pixels)))

    weights = KerasWeights(
        {"normalization": [np.array(IMAGENET_MEAN), np.array(IMAGENET_STD), np.array(0)]}, "x"
    )
    from effnet.registry import get_spec

    pre = keras_preprocess(weights, get_spec("efficientnet_b0"))
    ours = (pixels - np.array(pre.mean)) / np.array(pre.std)
    assert np.allclose(ours, keras_out, atol=1e-5)
    assert np.allclose(pre.std, IMAGENET_STD)
    # Without the extra layer (a model built with weights=None) the stored variance is used.
    plain = keras_preprocess(weights, get_spec("efficientnet_b0"), imagenet_rescaling=False)
    assert np.allclose(plain.std, np.sqrt(IMAGENET_STD))


def test_not_a_keras_file_is_a_clear_error(tmp_path):
    path = tmp_path / "model.weights.h5"
    path.write_bytes(b"certainly not HDF5")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        convert_checkpoint(path, "keras", "efficientnet_b0")
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(ValueError, match="not a Keras weight file"):
        convert_checkpoint(tmp_path / "empty.h5", "keras", "efficientnet_b0")
