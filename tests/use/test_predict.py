"""predict and eval on real photographs: image modes, folders and globs, class-name matching."""

import json
import shlex

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata
from torch import nn

import effnet
from effnet.cli import build_parser, main
from effnet.data import Preprocess
from effnet.data.images import collect_images
from effnet.use.evaluate import evaluate
from effnet.use.predict import predict
from effnet.weights import save_model

CLASSES = ["astronaut", "cat", "coffee"]
MY_COMMANDS = ("eval", "predict", "finetune", "cam", "export")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model = effnet.create_model("efficientnet_b0", num_classes=3)
    pre = Preprocess(resolution=40, crop_pct=0.875, interpolation="bilinear")
    return save_model(tmp_path_factory.mktemp("ckpt") / "b0.safetensors", model, CLASSES, pre)


@pytest.fixture(scope="module")
def biased_checkpoint(tmp_path_factory):
    """A model that always answers 'coffee' (index 2): zero classifier weights, bias favours it."""
    model = effnet.create_model("efficientnet_b0", num_classes=3)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.0, 1.0, 5.0]))
    path = tmp_path_factory.mktemp("biased") / "b0.safetensors"
    return save_model(path, model, CLASSES, Preprocess(32))


def test_collect_images_expands_folders_and_globs_in_order(tmp_path):
    for name in ("b.png", "a.jpg", "sub/c.png", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    single = tmp_path / "b.png"
    found = collect_images([str(single), str(tmp_path), str(tmp_path / "*.png")])
    names = [p.relative_to(tmp_path).as_posix() for p in found]
    assert names == ["b.png", "a.jpg", "sub/c.png"]  # typed order, folder sorted, no duplicates


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


def test_predict_command_prints_json_with_checkpoint_class_names(
    biased_checkpoint, tmp_path, capsys
):
    Image.fromarray(skdata.coffee()).save(tmp_path / "cup.png")
    argv = ["predict", "--weights", str(biased_checkpoint), str(tmp_path / "*.png"), "--json"]
    assert main([*argv, "--top-k", "2"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert [t["label"] for t in entry["top"]] == ["coffee", "cat"]
    expected = torch.tensor([0.0, 1.0, 5.0]).softmax(0)
    assert entry["top"][0]["probability"] == pytest.approx(float(expected[2]), rel=1e-5)


def test_eval_matches_folders_to_checkpoint_classes_by_name(biased_checkpoint, tmp_path):
    """A test folder holding only class 'coffee' (index 2) is scored against index 2."""
    folder = tmp_path / "coffee"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.roll(skdata.coffee(), 40 * i, axis=1)).save(folder / f"{i}.png")
    loaded = effnet.load(biased_checkpoint)
    seen = []
    loaded.register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape))
    result = evaluate(loaded, tmp_path, batch_size=2, progress=False)
    assert result.top1 == 1.0 and result.num_images == 3
    assert result.per_class() == {"coffee": (3, 3)}
    assert result.confusion[2, 2] == 3 and result.confusion.sum() == 3
    # The checkpoint's preprocessing decides the input size (32 here, not B0's 224).
    assert [tuple(s) for s in seen] == [(2, 3, 32, 32), (1, 3, 32, 32)]


def test_eval_command_writes_json_and_confusion_png(biased_checkpoint, tmp_path, capsys):
    for name, photo in (("cat", skdata.chelsea()), ("coffee", skdata.coffee())):
        (tmp_path / "data" / name).mkdir(parents=True)
        Image.fromarray(photo).save(tmp_path / "data" / name / "x.png")
    out_json, out_png = tmp_path / "r.json", tmp_path / "cm.png"
    argv = ["eval", "--weights", str(biased_checkpoint), str(tmp_path / "data"), "--no-progress"]
    assert main([*argv, "--json", str(out_json), "--confusion", str(out_png)]) == 0
    printed = capsys.readouterr().out
    assert "top-1 50.00%" in printed and "top-3 100.00%" in printed
    report = json.loads(out_json.read_text())
    assert report["top1"] == 0.5 and report["top3"] == 1.0
    assert report["per_class"]["cat"]["accuracy"] == 0.0
    assert report["per_class"]["coffee"]["accuracy"] == 1.0
    assert Image.open(out_png).size[0] >= 400


def test_every_use_command_help_has_a_pasteable_example():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name in MY_COMMANDS:
        helptext = subparsers.choices[name].format_help()
        assert "example:" in helptext, name
        examples = [
            line.strip()
            for line in helptext.split("example:")[1].splitlines()
            if line.strip().startswith("effnet ")
        ]
        assert examples, name
        for line in examples:
            argv = shlex.split(line, comments=True)[1:]
            args = parser.parse_args(argv)  # exits (SystemExit) if the example does not parse
            assert callable(args.func), line


def test_weights_that_are_a_plain_state_dict_need_and_use_model(tmp_path):
    model = effnet.create_model("efficientnet_b0", num_classes=7)
    path = tmp_path / "plain.pth"
    torch.save(model.state_dict(), path)
    loaded = effnet.load(path, model="efficientnet_b0")
    assert loaded.num_classes == 7 and loaded.class_names == [str(i) for i in range(7)]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))
    assert isinstance(loaded.classifier, nn.Linear)
