"""Keras 3 EfficientNetV2 weight files (``keras.applications.EfficientNetV2*``) load exactly.

Keras V2 names its depthwise conv ``dwconv2`` and keeps an expansion-1 fused block as its kxk
``project_conv``: the ``keras-v2`` peer's layout. Its B models normalise with ImageNet's mean/std
inside the model (constants, not stored in the file), its S/M/L rescale 0-255 to [-1, 1].
"""

import os

os.environ["KERAS_BACKEND"] = "torch"

import keras
import numpy as np
import pytest
import torch

from effnet.data.preprocess import IMAGENET_MEAN, IMAGENET_STD
from effnet.weights import convert_checkpoint
from effnet.weights.peers import PEERS

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
from tests.weights.test_keras_h5 import keras_logits

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def keras_v2_model(variant: str, seed: int = 0):
    """test_keras_h5's ``keras_model`` for V2: random BN, statistics measured on photos (V2's
    normalisation constants are built in, not weights)."""
    keras.utils.set_random_seed(seed)
    model = getattr(keras.applications, f"EfficientNet{variant}")(
        weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None
    )
    rng = np.random.default_rng(seed)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        _, _, mean, variance = layer.get_weights()
        n = mean.shape[0]
        layer.set_weights([rng.uniform(*BN_SCALE, n), rng.normal(0.0, 0.2, n), mean, variance])
        layer.momentum = 0.0  # moving statistics := the calibration batch's statistics
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    for layer in dropouts:
        layer.rate = 0.0
    model(photo_batch(photos=CALIBRATION).permute(0, 2, 3, 1).numpy() * 255.0, training=True)
    assert_bn_matters([layer.get_weights()[2:] for layer in norms])
    return model


@pytest.mark.parametrize(
    ("variant", "mean"),
    [("V2B0", IMAGENET_MEAN), pytest.param("V2S", (128 / 255,) * 3, marks=pytest.mark.slow)],
)
def test_keras_v2_weights_file_gives_the_keras_logits(variant, mean, tmp_path):
    reference = keras_v2_model(variant)
    path = tmp_path / "model.weights.h5"
    reference.save_weights(str(path))
    name = f"efficientnetv2_{variant[2:].lower()}"
    assert PEERS["keras-v2"].peer_model_name(name) == f"EfficientNet{variant}"
    model = convert_checkpoint(path, "keras-v2").eval()  # the variant told from the shapes
    assert (model.spec.name, model.padding, model.spec.bn_eps) == (name, "same", 1e-3)
    assert np.allclose(model.preprocess.mean, mean)
    images = photo_batch()
    expected = keras_logits(reference, images)
    with torch.no_grad():
        ours = model(normalise(images, model.preprocess))
    assert (expected[0] - expected[1]).abs().max() > 0.1
    diff = (ours - expected).abs().max().item()
    print(f"max abs diff keras {variant}: {diff:.3g}")
    assert diff <= TOLERANCE
    if variant == "V2B0":
        assert np.allclose(model.preprocess.std, IMAGENET_STD)
