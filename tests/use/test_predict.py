"""predict on real photographs: image modes, transparency, batches, unreadable files."""

import io

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

import effnet
from effnet.data import Preprocess
from effnet.data.images import collect_images
from effnet.data.loading import SkipWarner
from effnet.use.predict import Prediction, predict
from effnet.weights import save_model
from tests.use.checkpoints import CLASSES, biased, photo_folder, truncated_jpeg


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model = effnet.create_model("efficientnet_b0", num_classes=3)
    pre = Preprocess(resolution=40, crop_pct=0.875, interpolation="bilinear")
    return save_model(tmp_path_factory.mktemp("ckpt") / "b0.safetensors", model, CLASSES, pre)


@pytest.fixture(scope="module")
def always_coffee(tmp_path_factory):
    return effnet.load(biased(tmp_path_factory.mktemp("biased") / "b0.safetensors"))


def test_predict_accepts_grayscale_rgba_palette_and_jpeg_like_rgb(checkpoint, tmp_path):
    photo = Image.fromarray(skdata.chelsea())
    gray = photo.convert("L")
    paths = {
        "rgb.png": photo,
        "opaque_rgba.png": photo.convert("RGBA"),
        "palette.png": photo.convert("P"),
        "gray.png": gray,
        "gray_as_rgb.png": gray.convert("RGB"),
    }
    for name, image in paths.items():
        image.save(tmp_path / name)
    photo.save(tmp_path / "photo.jpg", quality=95)
    loaded = effnet.load(checkpoint)
    results = {p.path.name: p for p in predict(loaded, collect_images([str(tmp_path)]), top_k=3)}
    assert len(results) == 6
    for p in results.values():
        assert p.labels and set(p.labels) <= set(CLASSES) and len(p.labels) == 3
        assert p.probabilities == sorted(p.probabilities, reverse=True)
        assert 0.99 < sum(p.probabilities) <= 1.0 + 1e-6
    # An opaque RGBA image is the RGB image; a grayscale one is its three-channel copy.
    np.testing.assert_allclose(
        results["opaque_rgba.png"].probabilities, results["rgb.png"].probabilities, rtol=1e-5
    )
    np.testing.assert_allclose(
        results["gray.png"].probabilities, results["gray_as_rgb.png"].probabilities, rtol=1e-5
    )


def test_transparent_pixels_are_composited_on_white(checkpoint, tmp_path):
    rgba = np.zeros((60, 60, 4), np.uint8)
    rgba[..., 0] = 200  # red, fully transparent: must read as white, not red or black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    Image.fromarray(np.full((60, 60, 3), 255, np.uint8)).save(tmp_path / "white.png")
    loaded = effnet.load(checkpoint)
    clear, white = predict(loaded, [tmp_path / "clear.png", tmp_path / "white.png"])
    np.testing.assert_allclose(clear.probabilities, white.probabilities, rtol=1e-5)


def test_batches_give_the_same_answers_in_the_same_order(checkpoint, tmp_path):
    paths = collect_images([str(photo_folder(tmp_path, {"cat": 3, "coffee": 2}))])
    loaded = effnet.load(checkpoint)
    one_by_one = predict(loaded, paths, top_k=2, batch_size=1)
    together = predict(loaded, paths, top_k=2, batch_size=4)
    assert [p.path for p in together] == paths
    for a, b in zip(one_by_one, together, strict=True):
        assert a.indices == b.indices
        np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-4, atol=1e-6)


def test_a_known_answer_with_checkpoint_class_names(always_coffee, tmp_path):
    Image.fromarray(skdata.coffee()).save(tmp_path / "cup.png")
    (result,) = predict(always_coffee, [tmp_path / "cup.png"], top_k=5)
    expected = torch.tensor([0.0, 1.0, 5.0]).softmax(0)
    assert result.labels == ["coffee", "cat", "astronaut"] and result.indices == [2, 1, 0]
    assert result.probabilities == pytest.approx(expected.flip(0).tolist(), rel=1e-5)
    assert result.to_dict()["top"][0] == {
        "label": "coffee", "index": 2, "probability": result.probabilities[0]
    }  # fmt: skip
    assert result.format().startswith(f"{tmp_path / 'cup.png'}: coffee 97.6%, cat 1.8%")
    tiny = Prediction(result.path, [0], ["astronaut"], [0.00001234])
    assert tiny.format().endswith("astronaut 0.0012%")  # not "0.0%"


def test_a_named_unreadable_file_stops_with_its_name(always_coffee, tmp_path):
    Image.fromarray(skdata.coffee()).save(tmp_path / "cup.png")
    broken = truncated_jpeg(tmp_path / "broken.jpg")
    with pytest.raises(ValueError, match=r"broken.jpg is not a readable image \(.*truncated"):
        predict(always_coffee, [tmp_path / "cup.png", broken])


def test_unreadable_files_found_in_a_folder_are_skipped_with_a_warning(always_coffee, tmp_path):
    folder = photo_folder(tmp_path / "pics", {"cat": 2})
    broken = truncated_jpeg(folder / "cat" / "1b.jpg")
    paths = collect_images([str(folder)])
    stream = io.StringIO()
    warn = SkipWarner(stream)
    results = predict(always_coffee, paths, batch_size=2, skippable=paths, on_skipped=warn)
    assert [p.path.name for p in results] == ["0.png", "1.png"]
    (line,) = stream.getvalue().splitlines()
    assert line.startswith(f"warning: skipping unreadable image {broken} (OSError: ")
    with pytest.raises(ValueError, match="none of the 1 images could be read"):
        predict(always_coffee, [broken], skippable=[broken], on_skipped=warn)


def test_wrong_counts_are_refused(always_coffee, tmp_path):
    with pytest.raises(ValueError, match="--top-k must be >= 1"):
        predict(always_coffee, [tmp_path / "x.png"], top_k=0)
    with pytest.raises(ValueError, match="batch size must be >= 1"):
        predict(always_coffee, [tmp_path / "x.png"], batch_size=0)


def test_a_photo_given_to_a_small_input_model_is_flagged(tmp_path, capsys):
    """The digits demo's model answers "0 88%" for a cat photo: say the image is not its kind."""
    digits = effnet.create_model("efficientnet_b0", num_classes=10)
    digits.preprocess = Preprocess(24, 1.0)
    Image.fromarray(skdata.chelsea()).save(tmp_path / "cat.png")  # 451x300
    Image.fromarray(skdata.chelsea()).resize((32, 32)).save(tmp_path / "small.png")
    predict(digits.eval(), [tmp_path / "small.png"])
    assert capsys.readouterr().err == ""  # digit-sized: no remark
    predict(digits, [tmp_path / "cat.png", tmp_path / "cat.png"])
    err = capsys.readouterr().err
    assert err.startswith(f"warning: {tmp_path / 'cat.png'}: the model was trained on 24px images")
    assert "451x300 image is shrunk 12x" in err and "(and 1 more image like it)" in err
    imagenet = effnet.create_model("efficientnet_b0", num_classes=3).eval()
    predict(imagenet, [tmp_path / "cat.png"])
    assert capsys.readouterr().err == ""  # a 224 px model is meant for photos
