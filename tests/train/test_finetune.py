"""Fine-tuning: the engine's part (init checkpoint, new head, frozen backbone, lr scale) and
effnet.finetune, which derives the CLI's defaults from the data and the weights in Python.

For effnet.finetune the starting weights are a freshly initialised B0 whose file says it was
trained at 16 px (no download is possible in tests); the data is sklearn's digits written out as
an ImageFolder.
"""

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from skimage import data as skdata
from sklearn.datasets import load_digits

import effnet
import effnet.train
from effnet.cli import main
from effnet.data import Preprocess
from effnet.train import load_config, train
from effnet.train.config import finetune_config
from effnet.train.finetune import FINETUNE_DEFAULTS, default_workers, prepare
from effnet.weights import read_metadata
from effnet.weights.checkpoint import load_model, save_model


def photo_folder(root):
    """``root/{train,val}/{cat,coffee}``: 8 + 2 crops of scikit-image's photos per class."""
    rng = np.random.default_rng(0)
    for name, photo in (("cat", skdata.chelsea()), ("coffee", skdata.coffee())):
        for split, count in (("train", 8), ("val", 2)):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                y, x = rng.integers(0, 100, size=2)
                crop = Image.fromarray(photo[y : y + 200, x : x + 200]).resize((40, 40))
                crop.save(root / split / name / f"{i}.png")
    return root


def test_init_checkpoint_with_other_classes_frozen_backbone_trains_only_the_head(tmp_path):
    torch.manual_seed(1)
    source = effnet.create_model("efficientnet_b0", num_classes=5)
    init = save_model(tmp_path / "init.safetensors", source, [f"c{i}" for i in range(5)])
    data = photo_folder(tmp_path / "photos")
    cfg = load_config(
        "configs/b0_digits.py",
        [f"init_checkpoint={init}", "freeze_backbone_epochs=1", "epochs=1", "ema_decay=0",
         "dataset=imagefolder", f"data_dir={data}", "minival_size=4", "image_size=32",
         "batch_size=6", "warmup_epochs=0", "zero_init_head=true", "backbone_lr_scale=0.1",
         f"output_dir={tmp_path / 'run'}"],
    )  # fmt: skip
    result = train(cfg)
    assert result.steps == 2  # 16 - 4 minival = 12 images, batches of 6
    before, after = load_file(init), load_file(result.checkpoint)
    backbone = [k for k in before if not k.startswith("classifier.")]
    # Weights, BN statistics and all: the backbone is exactly the init checkpoint's.
    assert all(torch.equal(before[k], after[k]) for k in backbone)
    assert after["classifier.weight"].shape == (2, 1280)
    model, meta = load_model(result.checkpoint)
    assert meta["class_names"] == ["cat", "coffee"]
    assert meta["preprocess"].resolution == 32
    assert model.num_classes == 2
    # The new head started at zero (zero_init_head) and learned.
    assert after["classifier.weight"].abs().sum() > 0
    fresh = effnet.create_model("efficientnet_b0", num_classes=2)
    fresh.load_state_dict(after)  # a plain 2-class B0


TRAIN_IMAGES, TEST_IMAGES = 300, 100


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory):
    """300 training and 100 test digits as PNGs in DATA/{train,test}/<digit>/."""
    root = tmp_path_factory.mktemp("digits_folder")
    digits = load_digits()
    pixels = np.clip(digits.images * (255 / 16), 0, 255).round().astype(np.uint8)
    for i in range(TRAIN_IMAGES + TEST_IMAGES):
        split = "train" if i < TRAIN_IMAGES else "test"
        folder = root / split / str(digits.target[i])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels[i]).save(folder / f"{i:04d}.png")
    return root


@pytest.fixture(scope="module")
def init(tmp_path_factory):
    torch.manual_seed(0)
    model = effnet.create_model("efficientnet_b0", num_classes=3)
    folder = tmp_path_factory.mktemp("init")
    return save_model(folder / "init.safetensors", model, preprocess=Preprocess(16, 1.0))


def test_defaults_come_from_the_weights_and_the_data(digits_folder, init):
    cfg, start = prepare(digits_folder, init, epochs=4)
    assert cfg.image_size == 16  # the weights' resolution, not B0's 224
    assert cfg.minival_size == TRAIN_IMAGES // 10  # not ImageNet's 25,000
    assert cfg.num_workers == default_workers() <= max(1, os.cpu_count() or 1)
    assert cfg.output_dir == f"runs/finetune_{digits_folder.name}"
    assert cfg.init_checkpoint == str(init) and start.spec.name == "efficientnet_b0"
    # The recipe's five lr decays are spread over the run that was asked for.
    assert (cfg.epochs, cfg.lr_decay_epochs) == (4, 0.8)
    assert cfg == finetune_config(**FINETUNE_DEFAULTS, epochs=4).replace(
        data_dir=str(digits_folder),
        image_size=16,
        minival_size=TRAIN_IMAGES // 10,
        output_dir=cfg.output_dir,
        init_checkpoint=str(init),
    )
    # What the caller says is never re-derived.
    given, _ = prepare(digits_folder, init, minival_size=7, overrides=["image_size=32"])
    assert (given.minival_size, given.image_size) == (7, 32)


def test_default_workers_follow_the_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    assert default_workers() == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(64)), raising=False)
    assert default_workers() == 8
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0}, raising=False)
    assert default_workers() == 0  # one core: load in the training process


def test_the_cli_and_the_api_build_the_same_run(digits_folder, init, monkeypatch, tmp_path):
    runs = []

    def fake_train(cfg, resume=False, overwrite=False):
        runs.append(cfg)
        return effnet.train.TrainResult(0.0, None, tmp_path / "m", tmp_path / "b")

    monkeypatch.setattr(effnet.train, "train", fake_train)
    monkeypatch.setattr(effnet.train.api, "train", fake_train)
    argv = ["finetune", str(digits_folder), "--weights", str(init), "--epochs", "3"]
    assert main([*argv, "--batch-size", "16", "--override", "hflip=false"]) == 0
    effnet.finetune(digits_folder, weights=init, epochs=3, batch_size=16, overrides=["hflip=false"])
    assert len(runs) == 2 and runs[0] == runs[1]


def test_finetune_with_default_arguments_trains_and_writes_a_usable_checkpoint(
    digits_folder, init, tmp_path
):
    """Acceptance: defaults only (beyond one epoch and the folder to write to) give a run at the
    weights' resolution with a minival sized to the data, and a checkpoint eval/predict read."""
    out = tmp_path / "run"
    result = effnet.finetune(digits_folder, weights=init, epochs=1, output_dir=str(out))
    ran = json.loads((out / "config.json").read_text())
    assert (ran["image_size"], ran["minival_size"]) == (16, TRAIN_IMAGES // 10)
    assert ran["num_workers"] == default_workers() and ran["optimizer"] == "sgd"
    meta = read_metadata(result.best_checkpoint)
    assert meta["preprocess"].resolution == 16  # trained and saved at the weights' resolution
    assert meta["class_names"] == [str(d) for d in range(10)]
    scored = effnet.evaluate(result.best_checkpoint, digits_folder / "test", device="cpu")
    assert scored.num_images == TEST_IMAGES
    assert result.test_acc is not None and abs(scored.top1 - result.test_acc) < 1e-6
    zeros = effnet.predict(result.best_checkpoint, digits_folder / "test" / "0", top_k=2)
    assert zeros and all(len(p.labels) == 2 for p in zeros)
