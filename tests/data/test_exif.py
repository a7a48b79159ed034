"""Images are read as people see them: the EXIF orientation tag is applied by the one decoder,
and predict (both runners), serve's uploads, CAM and eval's folders all go through it.

Expected pixels are the photograph turned by numpy, from the EXIF standard's table of the eight
orientations, never by the code under test.
"""

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

import effnet
from effnet.cli import main
from effnet.data import Preprocess, eval_transform
from effnet.data.images import decode_image, open_image
from effnet.use.image_batches import load_image
from effnet.use.predict_ray import _unpack, decode_row
from effnet.weights import save_model
from tests.use.checkpoints import calibrated

ORIENTATION = 0x0112
#: What a viewer does to the stored pixels for each tag value (EXIF 2.32, table of Orientation).
UPRIGHT = {
    1: lambda a: a,
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),  # the phone held upright: stored sideways, "rotate 90 CW"
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


def stored() -> np.ndarray:
    """A real photograph, not square (a turn shows in its shape), as the camera stored it."""
    return np.asarray(Image.fromarray(skdata.chelsea()).resize((60, 40)))


def tagged(orientation: int, fmt: str = "PNG", pixels: np.ndarray | None = None) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    out = io.BytesIO()
    Image.fromarray(stored() if pixels is None else pixels).save(out, format=fmt, exif=exif)
    return out.getvalue()


@pytest.mark.parametrize("orientation", sorted(UPRIGHT))
def test_every_orientation_is_applied_by_the_decoder(tmp_path, orientation):
    path = tmp_path / "photo.png"
    path.write_bytes(tagged(orientation))
    expected = UPRIGHT[orientation](stored())
    assert np.array_equal(np.asarray(decode_image(path)), expected)
    assert np.array_equal(np.asarray(open_image(path)), expected)


def test_a_phone_jpeg_is_turned_upright(tmp_path):
    """A JPEG tagged "rotate 90": the decoded pixels are the file's own pixels, turned."""
    path = tmp_path / "phone.jpg"
    path.write_bytes(tagged(6, "JPEG"))
    with Image.open(path) as raw:
        as_stored = np.asarray(raw.convert("RGB"))
    assert as_stored.shape == (40, 60, 3)
    image = decode_image(path)
    assert image.size == (40, 60)  # portrait: width 40, height 60
    assert np.array_equal(np.asarray(image), np.rot90(as_stored, -1))
    assert np.abs(np.asarray(image, float) - np.rot90(stored(), -1)).mean() < 8  # the photo


def test_an_exif_block_of_no_known_byte_order_leaves_the_image_as_stored(tmp_path):
    data = bytearray(tagged(6, "JPEG"))
    start = data.index(b"Exif\0\0") + 6
    data[start : start + 8] = b"XX\0\0\0\0\0\0"  # neither byte order: no tag can be read
    path = tmp_path / "odd.jpg"
    path.write_bytes(bytes(data))
    assert decode_image(path).size == (60, 40)


def test_predicts_decoders_and_serves_upload_decoder_turn_it_too(tmp_path):
    from effnet.serve.uploads import decode_upload

    path, turned = tmp_path / "phone.png", tmp_path / "turned.png"
    path.write_bytes(tagged(6))
    Image.fromarray(np.rot90(stored(), -1)).save(turned)  # the same photo, stored upright
    transform = eval_transform(Preprocess(32))
    _, pixels, size, error = load_image(str(path), transform)  # the one-process runner
    _, expected, expected_size, _ = load_image(str(turned), transform)
    assert error is None and size == expected_size == (40, 60)
    assert torch.equal(pixels, expected)
    rows = {"paths": np.array([[str(path), str(turned)]], dtype=object)}
    batch = _unpack(decode_row(rows, Preprocess(32)))  # the Ray runner's task
    assert batch.sizes == [(40, 60), (40, 60)] and torch.equal(batch.pixels[0], batch.pixels[1])
    upload = decode_upload(path.read_bytes(), max_pixels=10_000)
    assert np.array_equal(np.asarray(upload), np.rot90(stored(), -1))


@pytest.fixture(scope="module")
def photo_model(tmp_path_factory):
    """B0 at 32 px whose answers depend on the pixels (logits of order 1-10, not ~1e-5)."""
    torch.manual_seed(0)  # module fixtures run before the per-test seeding in conftest
    pre = Preprocess(32)
    model = calibrated("efficientnet_b0", 32, num_classes=3)
    with torch.no_grad():  # logits of a few units on the photo: probabilities not saturated
        scale = model(eval_transform(pre)(Image.fromarray(stored()))[None]).abs().max() / 3
        model.classifier.weight /= scale
        model.classifier.bias /= scale
    path = tmp_path_factory.mktemp("model") / "b0.safetensors"
    return str(save_model(path, model, ["a", "b", "c"], pre))


def test_predict_cam_and_eval_see_the_tagged_photo_as_the_upright_one(
    photo_model, tmp_path, capsys
):
    from effnet.data.folders import ImageFolder
    from effnet.use.cam import cam_for_image
    from effnet.weights.factory import load

    root = tmp_path / "data" / "a"
    root.mkdir(parents=True)
    (root / "tagged.png").write_bytes(tagged(6))
    Image.fromarray(np.rot90(stored(), -1)).save(root / "upright.png")
    Image.fromarray(stored()).save(root / "sideways.png")
    argv = ["predict", "--weights", photo_model, str(root), "--json", "--top-k", "3"]
    assert main([*argv, "--batch-size", "1"]) == 0  # alone in its batch: exact answers
    found = json.loads(capsys.readouterr().out)
    answers = {entry["path"].rsplit("/", 1)[1]: entry["top"] for entry in found}
    assert 0.4 < answers["sideways.png"][0]["probability"] < 0.999
    assert answers["tagged.png"] == answers["upright.png"] != answers["sideways.png"]

    model = load(photo_model, None, "cpu")
    view, cam = cam_for_image(model, root / "tagged.png")
    view_upright, cam_upright = cam_for_image(model, root / "upright.png")
    assert np.array_equal(view, view_upright) and torch.equal(cam.raw, cam_upright.raw)

    folder = ImageFolder(tmp_path / "data")  # eval's and training's reader
    pixels = {Path(p).name: np.asarray(folder[i][0]) for i, (p, _) in enumerate(folder.samples)}
    assert np.array_equal(pixels["tagged.png"], pixels["upright.png"])


def test_a_tagged_photo_given_in_memory_is_answered_as_its_file_is(photo_model, tmp_path):
    """``effnet.predict(model, Image.open(path))`` turns the image as the file path would."""
    path = tmp_path / "tagged.png"
    path.write_bytes(tagged(6))
    from_file = effnet.predict(photo_model, path, top_k=3)[0]
    with Image.open(path) as opened:
        in_memory = effnet.predict(photo_model, opened, top_k=3)[0]
    sideways = effnet.predict(photo_model, Image.fromarray(stored()), top_k=3)[0]
    assert in_memory.indices == from_file.indices
    assert in_memory.probabilities == pytest.approx(from_file.probabilities, abs=1e-6)
    assert sideways.probabilities != pytest.approx(from_file.probabilities, abs=1e-3)
