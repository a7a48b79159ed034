"""eval on folders of real photographs: class-name matching, exact counts, unreadable files."""

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

import effnet
from effnet.data import Preprocess, eval_transform
from effnet.data.loading import SkipWarner
from effnet.use.evaluate import EvalResult, evaluate, plot_confusion
from effnet.weights import save_model
from tests.use.checkpoints import CLASSES, biased, crop, photo_folder, truncated_jpeg, with_bn_from

PRE = Preprocess(resolution=40, crop_pct=0.875, interpolation="bilinear")


@pytest.fixture(scope="module")
def always_coffee(tmp_path_factory):
    return effnet.load(biased(tmp_path_factory.mktemp("biased") / "b0.safetensors"))


@pytest.fixture(scope="module")
def photo_model(tmp_path_factory):
    """B0 with a nearest-centroid head over crops of each class's photograph (crops 4-9).

    Batch-norm statistics come from a photograph and each classifier row is a class centroid of
    the pooled features (bias -|c|^2 / 2): the test crops (0-3) are told apart well but not
    perfectly, so the scores are real numbers and the answers vary.
    """
    model = with_bn_from(effnet.create_model("efficientnet_b0", num_classes=3), PRE)
    transform = eval_transform(PRE)
    with torch.no_grad():
        centroids = torch.stack(
            [
                model.forward_features(
                    torch.stack([transform(crop(n, i)) for i in range(4, 10)])
                ).mean(dim=(0, 2, 3))
                for n in CLASSES
            ]
        )
        squared = (centroids**2).sum(dim=1)
        scale = 100 / float(squared.mean())  # logits of order 10-100; the argmax is unchanged
        model.classifier.weight.copy_(scale * centroids)
        model.classifier.bias.copy_(-0.5 * scale * squared)
    path = save_model(tmp_path_factory.mktemp("m") / "b0.safetensors", model, CLASSES, PRE)
    return effnet.load(path)


def test_eval_matches_folders_to_checkpoint_classes_by_name(always_coffee, tmp_path):
    """A test folder holding only class 'coffee' (index 2) is scored against index 2."""
    folder = tmp_path / "coffee"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.roll(skdata.coffee(), 40 * i, axis=1)).save(folder / f"{i}.png")
    seen = []
    hook = always_coffee.register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape))
    try:
        result = evaluate(always_coffee, tmp_path, batch_size=2, progress=False)
    finally:
        hook.remove()
    assert result.top1 == 1.0 and result.num_images == 3
    assert result.per_class() == {"coffee": (3, 3)}
    assert result.confusion[2, 2] == 3 and result.confusion.sum() == 3
    # The checkpoint's preprocessing decides the input size (32 here, not B0's 224).
    assert [tuple(s) for s in seen] == [(2, 3, 32, 32), (1, 3, 32, 32)]
    assert result.skipped == []


def test_counts_are_those_of_one_forward_pass_per_image(photo_model, tmp_path):
    root = photo_folder(tmp_path, {"astronaut": 3, "cat": 4, "coffee": 3})
    result = evaluate(photo_model, root, batch_size=4, progress=False)
    transform = eval_transform(PRE)
    confusion = np.zeros((3, 3), np.int64)
    for label, name in enumerate(CLASSES):
        for path in sorted((root / name).iterdir()):
            with torch.no_grad():
                logits = photo_model(transform(Image.open(path))[None])[0]
            confusion[label, int(logits.argmax())] += 1
    np.testing.assert_array_equal(result.confusion, confusion)
    assert len(set(confusion.argmax(axis=1))) > 1  # the model's answers vary with the photo
    assert 0.5 < result.top1 < 1.0 and confusion.sum() - np.trace(confusion) > 0
    assert result.topk == 3 and result.topk_accuracy == 1.0  # top-5 of 3 classes: all of them
    assert result.top1 == np.trace(confusion) / 10


def test_unreadable_images_are_skipped_warned_once_and_counted(photo_model, tmp_path):
    root = photo_folder(tmp_path, {"cat": 3, "coffee": 2})
    broken = truncated_jpeg(root / "cat" / "broken.jpg")
    text = root / "coffee" / "notes.png"
    text.write_text("not pixels")
    clean = evaluate(photo_model, root, progress=False, on_skipped=SkipWarner(io.StringIO()))
    stream = io.StringIO()
    result = evaluate(photo_model, root, batch_size=2, workers=1, progress=False,
                      on_skipped=SkipWarner(stream))  # fmt: skip
    assert sorted(result.skipped) == sorted([str(broken), str(text)])
    assert result.num_images == 5
    np.testing.assert_array_equal(result.confusion, clean.confusion)  # through a worker too
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert all(line.startswith("warning: skipping unreadable image ") for line in lines)
    assert any(str(broken) in line and "truncated" in line for line in lines)
    assert result.to_dict()["skipped_images"] == 2
    assert "skipped 2 unreadable images" in result.format()


def test_a_folder_with_no_readable_image_is_an_error(photo_model, tmp_path):
    broken = truncated_jpeg(tmp_path / "cat" / "broken.jpg")
    (tmp_path / "coffee").mkdir()
    (tmp_path / "coffee" / "x.png").write_text("not pixels")
    quiet = SkipWarner(io.StringIO())
    with pytest.raises(ValueError, match=r"none of the 2 images in .* could be read \(first: "):
        evaluate(photo_model, tmp_path, progress=False, on_skipped=quiet)
    assert quiet.warned == {str(broken), str(tmp_path / "coffee" / "x.png")}
    with pytest.raises(ValueError, match="batch size must be >= 1"):
        evaluate(photo_model, tmp_path, batch_size=0)


def result_of(confusion, names, topk_correct):
    return EvalResult(names, np.array(confusion), topk_correct, 2, 1.25, "data/test")


def test_summary_json_and_worst_classes():
    names = [f"c{i}" for i in range(4)]
    confusion = [[2, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 1, 2, 1]]
    result = result_of(confusion, names, 6)
    assert result.num_images == 8 and result.top1 == 0.5 and result.topk_accuracy == 0.75
    assert result.per_class() == {"c0": (2, 2), "c1": (1, 2), "c3": (1, 4)}  # c2: no images
    text = result.format()
    assert text.splitlines()[:2] == [
        "8 images from data/test in 1.2 s",
        "top-1 50.00%   top-2 75.00%",
    ]
    assert "c3   25.00%  (1/4)" in text and "skipped" not in text
    worst = result.format(max_classes=2).splitlines()
    assert worst[2] == "per-class accuracy (worst 2 of 3):"
    assert [line.split()[0] for line in worst[3:]] == ["c3", "c1"]
    report = json.loads(json.dumps(result.to_dict()))
    assert report["top2"] == 0.75 and report["per_class"]["c1"] == {
        "accuracy": 0.5, "correct": 1, "total": 2
    }  # fmt: skip
    assert report["confusion"] == confusion and report["skipped_images"] == 0


def test_confusion_png_draws_only_classes_present(tmp_path):
    names = [f"class{i}" for i in range(40)]
    confusion = np.zeros((40, 40), np.int64)
    confusion[3, 3], confusion[3, 7], confusion[7, 7] = 4, 1, 2
    small = plot_confusion(result_of(confusion, names, 7), tmp_path / "cm.png")
    picture = np.asarray(Image.open(small).convert("RGB"))
    assert 400 <= picture.shape[1] <= 800  # a 2x2 picture, not 40x40 (which is 2000 px)
    assert (picture.min(axis=2) < 100).any()  # dark cells and text were drawn
