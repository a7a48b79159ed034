"""EfficientNetV2 through the registry: torchvision's V2-S file, served from 127.0.0.1 under its
entry, downloads, verifies and loads as ``create_model("efficientnetv2_s", pretrained="tv_in1k")``
with torchvision's own logits and preprocessing."""

import dataclasses
import hashlib
import io

import torch
import torchvision.models as tvm

import effnet
from effnet.data import Preprocess
from effnet.weights.pretrained import WEIGHTS

# _one_thread: autouse, keeps small batches single-threaded; _server/server: the local HTTP server
from tests.weights.test_convert import (
    TOLERANCE,
    _one_thread,  # noqa: F401
    logits,
    normalise,
    photo_batch,
    randomize_bn,
)
from tests.weights.test_fetch import _server, server  # noqa: F401


def test_v2_entry_downloads_and_gives_torchvisions_logits(server, monkeypatch):  # noqa: F811
    reference = randomize_bn(tvm.efficientnet_v2_s(weights=None))
    buffer = io.BytesIO()
    torch.save(reference.state_dict(), buffer)
    body = buffer.getvalue()
    entry = WEIGHTS["efficientnetv2_s.tv_in1k"]
    server.files["/" + entry.file_name] = body
    served = dataclasses.replace(
        entry, url=f"{server.url}/{entry.file_name}", sha256=hashlib.sha256(body).hexdigest()
    )
    monkeypatch.setitem(WEIGHTS, entry.name, served)

    model = effnet.create_model("efficientnetv2_s", pretrained="tv_in1k", progress=False)
    assert model.weights_source == "efficientnetv2_s.tv_in1k"
    assert server.hits["/" + entry.file_name] == 1
    # torchvision's transform for these weights: resize 384, crop 384, bilinear, ImageNet mean/std
    published = tvm.EfficientNet_V2_S_Weights.IMAGENET1K_V1.transforms()
    pre = model.preprocess
    assert (pre.resolution, pre.resize_size) == (published.crop_size[0], published.resize_size[0])
    assert pre.interpolation == published.interpolation.value
    assert (list(pre.mean), list(pre.std)) == (published.mean, published.std)
    x = normalise(photo_batch(), Preprocess(72))
    expected = logits(reference, x)
    assert (expected[0] - expected[1]).abs().max() > 0.1  # the logits depend on the photo
    assert (logits(model, x) - expected).abs().max().item() <= TOLERANCE
