"""Loop plumbing: gradient accumulation with bf16 autocast, max_steps, early user errors, and
unreadable evaluation images (left out of the scores, warned about once)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from effnet.data.preprocess import eval_transform
from effnet.train import TrainConfig, train
from effnet.weights.checkpoint import load_model


@pytest.fixture
def photos(tmp_path):
    """``train/{astronaut,coffee}``: 6 crops of scikit-image's photos per class, no test split."""
    rng = np.random.default_rng(1)
    for name, photo in (("astronaut", skdata.astronaut()), ("coffee", skdata.coffee())):
        (tmp_path / "train" / name).mkdir(parents=True)
        for i in range(6):
            y, x = rng.integers(0, 150, size=2)
            Image.fromarray(photo[y : y + 250, x : x + 250]).resize((36, 36)).save(
                tmp_path / "train" / name / f"{i}.jpg"
            )
    return tmp_path


def test_accumulation_bf16_and_max_steps(photos, tmp_path):
    cfg = TrainConfig(
        dataset="imagefolder", data_dir=str(photos), minival_size=0, image_size=32,
        batch_size=4, grad_accum_steps=2, amp="bf16", channels_last=False, epochs=5,
        max_steps=2, warmup_epochs=0, num_workers=0, log_every=1, autoaugment=None,
        output_dir=str(tmp_path / "run"),
    )  # fmt: skip
    result = train(cfg)
    assert result.steps == 2  # capped by max_steps, before the end of epoch 1 (3 steps of 4)
    assert result.test_acc is None and result.checkpoint.is_file()
    records = [json.loads(x) for x in (tmp_path / "run/log.jsonl").read_text().splitlines()]
    train_records = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train_records] == [1, 2]
    assert train_records[-1]["epoch"] == pytest.approx(2 / 3)
    assert all(np.isfinite(r["loss"]) for r in train_records)
    assert json.loads((tmp_path / "run/summary.json").read_text())["steps"] == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dataset": "mnist_typo"}, "unknown dataset 'mnist_typo'"),
        ({"dataset": "imagefolder", "data_dir": None}, "needs data_dir"),
        ({"dataset": "imagefolder", "data_dir": "/no/such/folder"}, "does not exist"),
        ({"dataset": "digits", "batch_size": 5000}, "larger than the 1257 training images"),
        ({"dataset": "digits", "batch_size": 30, "grad_accum_steps": 4}, "divide evenly"),
        ({"dataset": "digits", "model": "efficientnet_b9"}, "unknown model"),
    ],
)
def test_bad_runs_fail_before_training_with_a_clear_message(tmp_path, changes, message):
    cfg = TrainConfig(output_dir=str(tmp_path), image_size=32, **changes)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        train(cfg)


def test_an_unreadable_test_image_is_left_out_and_warned_about_once(photos, tmp_path, capsys):
    # A test split (val/) with one broken file; a minival, so the end scores two sets of weights
    # (final and best) on the test split, and the file comes round twice.
    for name in ("astronaut", "coffee"):
        (photos / "val" / name).mkdir(parents=True)
        for i in range(2):
            (photos / "val" / name / f"{i}.jpg").write_bytes(
                (photos / "train" / name / "0.jpg").read_bytes()
            )
    broken = photos / "val" / "coffee" / "broken.jpg"
    broken.write_text("not a picture")
    cfg = TrainConfig(
        dataset="imagefolder", data_dir=str(photos), minival_size=4, image_size=32, batch_size=4,
        channels_last=False, epochs=1, warmup_epochs=0, num_workers=0, autoaugment=None,
        output_dir=str(tmp_path / "run"),
    )  # fmt: skip
    result = train(cfg)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "unreadable" in line]
    assert len(warnings) == 1 and str(broken) in warnings[0]
    assert result.skipped_images == 0  # training met no broken file; evaluation's are not counted
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["early_stopped_test_acc"] is not None
    # The score is over the 4 readable test images: the saved weights, scored here, agree.
    model, meta = load_model(result.checkpoint)
    transform = eval_transform(meta["preprocess"])
    readable = sorted(p for p in (photos / "val").rglob("*.jpg") if p != broken)
    images = torch.stack([transform(Image.open(p).convert("RGB")) for p in readable])
    labels = torch.tensor([meta["class_names"].index(p.parent.name) for p in readable])
    with torch.no_grad():
        correct = (model.eval()(images).argmax(1) == labels).sum().item()
    assert correct > 0  # else 0/4 and 0/5 would look alike
    assert result.final_test_acc == correct / 4
