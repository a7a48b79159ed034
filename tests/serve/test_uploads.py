"""The service's split preprocessing (crop per image in the HTTP process, normalise per batch in
the worker) gives bit for bit the tensors of ``eval_transform``, which every other command uses."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from effnet.data.preprocess import Preprocess, eval_transform, normalize_batch
from effnet.serve.uploads import RequestError, decode_upload, prepare


def encoded(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


PHOTOS = {
    "rgb jpeg": encoded(Image.fromarray(skdata.coffee()), "JPEG"),
    "grey png": encoded(Image.fromarray(skdata.camera()), "PNG"),
    "rgba png": encoded(Image.fromarray(skdata.chelsea()).convert("RGBA"), "PNG"),
}
PREPROCESS = {
    "imagenet bicubic": Preprocess(224),
    "lite bilinear": Preprocess(96, 0.9, "bilinear", (0.498,) * 3, (0.502,) * 3),
    "one channel": Preprocess(32, 1.0, "bilinear", (0.5,), (0.25,)),
}


@pytest.mark.parametrize("photo", PHOTOS)
@pytest.mark.parametrize("pre", PREPROCESS)
def test_prepare_then_normalize_equals_eval_transform(photo, pre):
    data, pre = PHOTOS[photo], PREPROCESS[pre]
    expected = eval_transform(pre)(decode_upload(data, 10**8))
    pixels = [prepare(data, pre, 10**8)] * 2
    batch = normalize_batch(torch.from_numpy(np.stack(pixels)), pre)
    assert batch.shape == (2, *expected.shape)
    assert torch.equal(batch[0], expected) and torch.equal(batch[1], expected)


def test_pixel_limit_is_read_from_the_header():
    with pytest.raises(RequestError) as err:
        decode_upload(PHOTOS["rgb jpeg"], 600 * 400 - 1)
    assert err.value.status == 413 and "600x400" in err.value.message
    assert decode_upload(PHOTOS["rgb jpeg"], 600 * 400).size == (600, 400)
