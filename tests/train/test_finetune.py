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
from safetensors.torch import load_file, save_file
from skimage import data as skdata
from sklearn.datasets import load_digits

import effnet
import effnet.train
from effnet.cli import main
from effnet.data import Preprocess
from effnet.train import TrainConfig, load_config, train
from effnet.train.checkpoint import load_state, resume_state, save_state
from effnet.train.finetune import FINETUNE_DEFAULTS, default_workers, prepare
from effnet.train.fit import choose_batch
from effnet.train.recipes import finetune_config
from effnet.weights import read_metadata
from effnet.weights.checkpoint import load_model, save_model
from tests.photo_inputs import photo_classes
from tests.train.test_checkpoint import CLASSES, ONE, small_state, take_steps


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
        fit_batch=True,  # the recipe's batch is a default the engine fits to the folder
    )
    # What the caller says is never re-derived.
    given, _ = prepare(digits_folder, init, minival_size=7, overrides=["image_size=32"])
    assert (given.minival_size, given.image_size) == (7, 32)
    for batch in (dict(batch_size=16), dict(overrides=["batch_size=16"])):
        explicit, _ = prepare(digits_folder, init, **batch)
        assert (explicit.batch_size, explicit.fit_batch) == (16, False)


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


# ---- the run folder: last.pt holds no second copy of the best weights --------------------------
def test_last_pt_names_the_best_weights_when_best_safetensors_holds_them(tmp_path, capsys):
    cfg = TrainConfig(output_dir=str(tmp_path))
    state = small_state(0)
    take_steps(state, 2)
    state.best_model = {k: v.clone() for k, v in state.ema.module.state_dict().items()}
    save_state(tmp_path / "last.pt", ONE, cfg, state, CLASSES)  # best == the EMA: a marker
    assert isinstance(torch.load(tmp_path / "last.pt", weights_only=True)["best_model"], str)
    take_steps(state, 2)  # the EMA moves on; the best stays behind
    save_state(tmp_path / "last.pt", ONE, cfg, state, CLASSES)  # no best.safetensors: a copy
    assert torch.load(tmp_path / "last.pt", weights_only=True)["best_model"].keys() == (
        state.best_model.keys()
    )
    save_file(state.best_model, tmp_path / "best.safetensors")  # the run's export of it
    state.progress.best_val_acc, state.progress.best_epoch = 0.75, 1.0
    save_state(tmp_path / "last.pt", ONE, cfg, state, CLASSES)
    saved = torch.load(tmp_path / "last.pt", weights_only=True)["best_model"]
    assert set(saved) == {"file", "sha256"}

    resumed = small_state(1)
    resume_state(tmp_path / "last.pt", load_state(tmp_path / "last.pt"), cfg, ONE, resumed, CLASSES)
    assert all(torch.equal(resumed.best_model[k], v) for k, v in state.best_model.items())
    assert resumed.progress.best_val_acc == 0.75

    other = {k: v + 1 for k, v in state.best_model.items()}
    save_file(other, tmp_path / "best.safetensors")  # replaced since: the best is not there
    again = small_state(1)
    resume_state(tmp_path / "last.pt", load_state(tmp_path / "last.pt"), cfg, ONE, again, CLASSES)
    assert again.best_model is None and again.progress.best_val_acc == -1.0
    assert "no longer holds the best weights so far (epoch 1.0)" in capsys.readouterr().err


@pytest.mark.slow  # three short runs (~10 s on a quiet machine); the pieces are fast tests in
# test_fit.py (the recorded batch re-plans the same run, a tail replays exactly from any step)
def test_a_resumed_finetune_with_a_fitted_batch_and_a_kept_last_batch_is_bit_identical(
    init, tmp_path
):
    """36 crops at the recipe's default batch: a fitted batch and a kept incomplete last step.
    Stopped one step before the end (just before that last step) and resumed, the run ends with
    the weights of a run that never stopped."""
    data = photo_classes(tmp_path / "data", train=10, test=1, size=24)  # 36 + 4 minival
    settings = dict(epochs=2, image_size=16, device="cpu", deterministic=True, num_workers=0)
    straight = effnet.finetune(data, init, output_dir=str(tmp_path / "a"), **settings)
    ran = json.loads((tmp_path / "a" / "config.json").read_text())
    fitted = choose_batch(64, 36, fit=True)
    assert ran["batch_size"] == fitted.batch_size and fitted.tail  # what this test is about
    steps = 2 * fitted.steps_per_epoch
    out = str(tmp_path / "b")
    effnet.finetune(data, init, output_dir=out, max_steps=steps - 1, **settings)
    resumed = effnet.finetune(data, init, output_dir=out, resume=True, **settings)
    assert straight.steps == resumed.steps == steps
    a, b = load_file(straight.checkpoint), load_file(resumed.checkpoint)
    assert all(torch.equal(a[k], b[k]) for k in a)
