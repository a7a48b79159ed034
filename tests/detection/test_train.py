"""Training a detector end to end on the shapes set, through the one training loop: its resume,
EMA, logs, run-folder lock and divergence guard."""

import json

import pytest
import torch

from effnet.cli import main
from effnet.detection.checkpoint import load_detector
from effnet.detection.config import DetectionConfig
from effnet.detection.evaluate import evaluate_detector
from effnet.detection.model import EfficientDet
from effnet.detection.task import DetectionTask, recalibrate_bn
from effnet.detection.train import train_detector
from effnet.train import rundir
from effnet.train.divergence import DivergedError, nonfinite_tensors
from tests.cli.test_train import one_error_line

from .cocofiles import REVERSED, renumbered
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
    assert len(losses) == 30 and losses[-1] < 0.6 * losses[0]  # every 2 steps: 8+ an epoch
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
    for split in ("train", "val"):  # the same categories under other ids: matched by name
        path = tmp_path / "shapes" / split / "annotations.json"
        path.write_text(json.dumps(renumbered(json.loads(path.read_text()), REVERSED)))
    resumed = train_detector(DetectionConfig(**small, output_dir=str(tmp_path / "b")), resume=True)
    assert (straight.steps, resumed.steps) == (4, 4)
    assert resumed.history[-1]["val_map"] == straight.history[-1]["val_map"]
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


def _poisoned(monkeypatch, at_step, what):
    """Make training step ``at_step`` (1-based) go NaN: its loss, or the weights it updates."""
    real = DetectionTask.loss
    calls = []

    def loss(task, outputs, targets, images):
        value = real(task, outputs, targets, images)
        if not torch.is_grad_enabled():  # scoring, not a training step
            return value
        calls.append(1)
        if len(calls) < at_step:
            return value
        return value * float("nan")

    real_step = torch.optim.AdamW.step
    steps = []

    def step(optimizer, *args, **kwargs):
        result = real_step(optimizer, *args, **kwargs)
        steps.append(1)
        if len(steps) >= at_step:
            with torch.no_grad():
                optimizer.param_groups[0]["params"][0].fill_(float("inf"))
        return result

    if what == "loss":
        monkeypatch.setattr(DetectionTask, "loss", loss)
    else:
        monkeypatch.setattr(torch.optim.AdamW, "step", step)


@pytest.mark.parametrize(
    ("what", "at_step", "expected"),
    [("loss", 3, "the loss is nan at step 3"),
     # the last step's weights: no later loss sees them, the check before scoring does
     ("weights", 4, "the weights hold NaN or infinite values after step 4, epoch 2")],
)  # fmt: skip
def test_a_diverged_step_stops_the_run_and_keeps_the_last_finite_state(
    tmp_path, monkeypatch, what, at_step, expected
):
    tiny = small_config(tmp_path, shapes_train=4, shapes_val=2, batch_size=2)  # 2 steps an epoch
    cfg = DetectionConfig(**tiny, output_dir=str(tmp_path / "run"))
    _poisoned(monkeypatch, at_step, what)  # epoch 1 (steps 1-2) ends and is saved first
    with pytest.raises(DivergedError, match="training diverged") as caught:
        train_detector(cfg)
    message = str(caught.value)
    assert expected in message and "last.pt keeps the last good state" in message
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert saved["progress"]["step"] == 2 and not nonfinite_tensors(saved["model"])
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_an_absurd_learning_rate_is_exit_2_not_a_saved_model(tmp_path, capsys):
    """One step at lr 1e30 leaves finite weights of ~1e25 that predict NaN: no success."""
    config = tmp_path / "det.py"
    fields = small_config(tmp_path, lr=1e30, warmup_epochs=0.0, grad_clip_norm=0.0, max_steps=1,
                          shapes_train=4, shapes_val=2, batch_size=2,
                          output_dir=str(tmp_path / "run"))  # fmt: skip
    config.write_text(
        "from effnet.detection.config import DetectionConfig\n\n"
        f"def get_config():\n    return DetectionConfig(**{fields!r})\n"
    )
    code = main(["train", "--config", str(config)])
    one_error_line(
        capsys, code, "training diverged: the weights predict NaN", "lower lr_per_256 (or lr"
    )
    assert not (tmp_path / "run" / "model.safetensors").exists()
    assert not (tmp_path / "run" / "last.pt").exists()
