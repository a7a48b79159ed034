"""Training a detector end to end on the shapes set, with the engine's resume, EMA and logs."""

import json

import pytest
import torch

from effnet.detection.checkpoint import load_detector
from effnet.detection.config import DetectionConfig
from effnet.detection.evaluate import evaluate_detector
from effnet.detection.model import EfficientDet
from effnet.detection.train import recalibrate_bn, train_detector
from effnet.train import rundir

from .trained import trained_run

#: What 60 steps reach on the 64 validation images (about 5% measured), and what chance gives:
#: an untrained D0 (every anchor at the 0.01 prior) scores about 0.3% mAP@.5 there.
TRAINED_MAP50 = 0.03
CHANCE_MAP50 = 0.006


def test_a_short_training_beats_an_untrained_detector_by_far():
    root = trained_run()
    model, extra = load_detector(root / "run" / "model.safetensors")
    assert extra["steps"] == 60 and extra["epochs"] == 3
    assert model.labels() == ["circle", "rectangle", "triangle", "ellipse"]
    torch.manual_seed(0)
    chance = evaluate_detector(EfficientDet(model.spec, num_classes=4), root / "shapes" / "val")
    assert chance.map50 < CHANCE_MAP50
    assert extra["val_map50"] >= TRAINED_MAP50 >= 5 * CHANCE_MAP50
    assert extra["test_map50"] is not None and extra["test_map50"] > chance.map50
    # the run's records: training loss falls, validation is logged, curves are drawn
    records = [json.loads(line) for line in (root / "run" / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if r["kind"] == "train"]
    assert len(losses) == 12 and losses[-1] < 0.6 * losses[0]
    assert [r["epoch"] for r in records if r["kind"] == "eval"] == [1, 2, 3]
    assert (root / "run" / "curves.png").stat().st_size > 10_000


def small_config(tmp_path, **changes) -> dict:
    """D0 at 32 px on 32 tiny shapes images: two steps an epoch."""
    return dict(
        model="efficientdet_d0", image_size=32, anchor_scale=2.0, bn_momentum=0.1,
        shapes_image_size=32, shapes_train=32, shapes_val=4, shapes_test=0, shapes_min_size=8,
        shapes_max_size=16, batch_size=16, drop_path_rate=0.0, bn_calibration_images=0,
        data_dir=str(tmp_path / "shapes"), log_every=1, epochs=2,
    ) | changes  # fmt: skip


def test_resume_continues_exactly(tmp_path):
    small = small_config(tmp_path)
    straight = train_detector(DetectionConfig(**small, output_dir=str(tmp_path / "a")))
    train_detector(DetectionConfig(**{**small, "epochs": 1}, output_dir=str(tmp_path / "b")))
    resumed = train_detector(DetectionConfig(**small, output_dir=str(tmp_path / "b")), resume=True)
    assert (straight.steps, resumed.steps) == (4, 4)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    for key in ("model", "ema"):
        state_a = a[key] if key == "model" else a[key]["module"]
        state_b = b[key] if key == "model" else b[key]["module"]
        assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)


def test_bn_recalibration_is_the_plain_average_over_the_batches():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4, momentum=0.01))
    batches = [torch.randn(8, 3, 5, 5), torch.randn(8, 3, 5, 5) + 2]
    with torch.no_grad():
        expected = torch.stack([net[0](b).mean((0, 2, 3)) for b in batches]).mean(0)
    out = recalibrate_bn(net, batches)
    assert out is net and not net.training and net[1].momentum == 0.01  # momentum put back
    torch.testing.assert_close(net[1].running_mean, expected)


def test_the_run_folder_is_held_as_a_classifiers_is(tmp_path):
    finished = tmp_path / "finished"
    finished.mkdir()
    (finished / "model.safetensors").write_bytes(b"a finished run's weights")
    with pytest.raises(rundir.RunFolderTakenError, match="--overwrite"):
        train_detector(DetectionConfig(**small_config(tmp_path, output_dir=str(finished))))
    assert (finished / "model.safetensors").read_bytes() == b"a finished run's weights"
    busy = tmp_path / "busy"
    lock = rundir.acquire(busy)  # another live run trains into it
    try:
        with pytest.raises(rundir.RunFolderBusyError, match="in use by another training run"):
            train_detector(DetectionConfig(**small_config(tmp_path, output_dir=str(busy))))
    finally:
        lock.release()
    assert not (busy / "log.jsonl").exists()
