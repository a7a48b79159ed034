"""Labels never shift silently: a resume checks the data's classes against the run's (kept in
``last.pt``), one class is refused, and classes the minival hold-out cannot split are named.
The resumes through ``effnet train`` and ``effnet finetune`` are in tests/cli/."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

from effnet.cli import main
from effnet.train import build, load_config
from effnet.train.checkpoint import check_classes, class_change

CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "b0_digits.py")


def digit_folders(root: Path, names: list[str], per_class: int) -> Path:
    """``root/<name>/``: ``per_class`` of sklearn's 8x8 digits each; class i holds digit i % 10."""
    digits = load_digits()
    pixels = np.clip(digits.images * (255 / 16), 0, 255).round().astype(np.uint8)
    for i, name in enumerate(names):
        (root / name).mkdir(parents=True)
        which = np.flatnonzero(digits.target == i % 10)[i // 10 * per_class :][:per_class]
        for j in which:
            Image.fromarray(pixels[j]).save(root / name / f"{j:04d}.png")
    return root


def train_argv(data: Path, out: Path, *overrides: str) -> list[str]:
    settings = {
        "data.dataset": "imagefolder", "data.dir": str(data), "data.image_size": "16",
        "schedule.batch_size": "10", "schedule.max_steps": "1", "schedule.warmup_epochs": "0",
        "regularization.autoaugment": "none", "runtime.num_workers": "0",
        "runtime.device": "cpu", "runtime.output_dir": str(out), "data.minival_size": "0",
    }  # fmt: skip
    settings.update(item.split("=", 1) for item in overrides)
    return ["train", "--config", CONFIG, "--override", *(f"{k}={v}" for k, v in settings.items())]


@pytest.mark.parametrize(
    "before, now, said",
    [
        (["cat", "dog"], ["dog", "kitten"], "class 'cat' was renamed to 'kitten'"),
        (["cat", "dog"], ["bird", "cat", "dog"], "added 'bird'"),
        (["bird", "cat", "dog"], ["cat", "dog"], "removed 'bird'"),
        (["a", "b", "c"], ["a", "x", "y"], "removed 'b', 'c'; added 'x', 'y'"),
        (["a", "b"], ["b", "a"], "the same classes in another order ('b', 'a')"),
        ([], [f"c{i}" for i in range(7)], "added 'c0', 'c1', 'c2', 'c3', 'c4' and 2 more"),
    ],
)
def test_class_change_names_the_difference(before, now, said):
    assert class_change(before, now) == said


def test_a_state_without_class_names_is_checked_by_its_heads_size(tmp_path):
    saved = {"model": {"classifier.weight": torch.zeros(3, 8)}}
    check_classes(tmp_path / "last.pt", saved, ["a", "b", "c"])  # no error
    with pytest.raises(ValueError, match=r"trained on 3 classes and the data has 4"):
        check_classes(tmp_path / "last.pt", saved, ["a", "b", "c", "d"])
    with pytest.raises(ValueError, match=r"class 'c' was renamed to 'd'.*--overwrite"):
        check_classes(tmp_path / "last.pt", {"classes": ["a", "b", "c"]}, ["a", "b", "d"])


def test_a_one_class_folder_is_refused_in_one_line(tmp_path, capsys):
    data = digit_folders(tmp_path / "data", ["seven"], per_class=12)
    assert main(train_argv(data, tmp_path / "run")) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"effnet train: error: {data} has one class folder, 'seven'; a classifier needs at "
        "least two classes (one sub-folder of images per class)"
    )
    assert not (tmp_path / "run").exists()


def test_classes_of_one_image_are_named_as_unsplittable_for_the_minival(tmp_path, capsys):
    names = [f"c{i:03d}" for i in range(100)]
    data = digit_folders(tmp_path / "data", names, per_class=1)
    assert main(train_argv(data, tmp_path / "run", "data.minival_size=10")) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]
    (line,) = [w for w in warnings if "single image" in w]
    assert line.startswith(
        "warning: 100 of 100 classes have a single image and cannot be split between training "
        "and the minival (c000, c001, c002, c003, c004, ...); 10 classes have every image in the "
        "minival and are never trained on ("
    )
    assert line.endswith(
        "add images to those classes, or set minival_size=0 to train on every image"
    )
    # With no minival there is nothing to split, and nothing to warn about.
    cfg = load_config(CONFIG, train_argv(data, tmp_path / "run2")[4:])
    assert build.split_warning(build.load_data(cfg, 16)) is None
