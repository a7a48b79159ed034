"""curves.png tells the truth: enough train-loss points on a short run, the losses apart, accuracy
within 0-100, progressive stages marked; and an earlier V2 stage is scored with its BN statistics
measured at the evaluation size, not with those of its smaller training images."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from effnet.data.preprocess import eval_transform
from effnet.train import build, load_config, train
from effnet.train.logs import POINTS_PER_EPOCH, curves_figure, log_interval
from effnet.train.progressive import StageRunner, with_measured_bn

ROOT = Path(__file__).resolve().parents[2]
V2 = ROOT / "configs/v2_digits.py"


@pytest.mark.parametrize(
    ("log_every", "steps_per_epoch", "total_steps"),
    [(50, 39, 468), (10, 39, 117), (50, 4, 8), (50, 1000, 3), (50, 1251, 437_850), (1, 7, 7)],
)
def test_every_epoch_has_several_train_records_but_never_more_than_log_every_asks(
    log_every, steps_per_epoch, total_steps
):
    every = log_interval(log_every, steps_per_epoch, total_steps)
    span = min(steps_per_epoch, total_steps)
    records_in_first_epoch = sum(1 for step in range(1, span + 1) if step % every == 0)
    assert records_in_first_epoch >= min(POINTS_PER_EPOCH, span)
    assert 1 <= every <= log_every


@pytest.fixture(scope="module")
def short_v2_run(tmp_path_factory):
    """V2 on 64 digits, 2 epochs of 2 steps at the config's log_every=10: the first two of its
    three progressive stages (16 px, then 20 px), scored at 24 px."""
    out = tmp_path_factory.mktemp("v2")
    overrides = ["batch_size=32", "limit_train_images=64", "epochs=2", "warmup_epochs=1"]
    cfg = load_config(V2, [*overrides, "num_workers=0", "device=cpu", f"output_dir={out}"])
    assert cfg.log_every > 2 * 2  # the old rule: one train record in the whole run
    result = train(cfg)
    return result, [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_a_short_runs_curves_have_a_train_line_three_panels_and_its_stages(short_v2_run):
    result, records = short_v2_run
    fig = curves_figure(records, "v2")
    ax_train, ax_val, ax_acc = fig.axes
    train_line = ax_train.lines[0]
    assert len(train_line.get_xdata()) == result.steps == 4  # a point a step, not one dot
    # validation loss has a panel of its own; accuracy stays within 0-100
    (val_line, *_) = ax_val.lines
    assert list(val_line.get_ydata()) == [h["val_loss"] for h in result.history]
    assert ax_acc.get_ylim() == (0, 100)
    assert all(0 <= y <= 100 for y in ax_acc.lines[0].get_ydata())
    for ax in fig.axes:  # each stage starts where the log says, labelled with its resolution
        marks = [(line.get_xdata()[0], line.get_label()) for line in ax.lines[1:]]
        assert marks == [(0, "16 px"), (1, "20 px")]


def test_accuracy_axis_never_runs_past_100():
    records = [
        {"kind": "eval", "step": s, "epoch": s, "val_acc": a} for s, a in [(1, 0.9), (2, 1.0)]
    ]
    ax_acc = curves_figure(records).axes[2]
    assert ax_acc.get_ylim()[1] == 100
    assert ax_acc.lines[0].get_clip_on() is False  # a 100% point is drawn whole on the edge


def test_the_short_v2_runs_minival_loss_is_that_of_a_classifier(short_v2_run):
    result, _ = short_v2_run
    assert all(h["val_loss"] < 2 * math.log(10) for h in result.history), result.history


def score(model, images):
    x = torch.stack([image for image, _ in images])
    y = torch.tensor([label for _, label in images])
    with torch.no_grad():
        return F.cross_entropy(model.eval()(x), y).item()


def test_an_earlier_stage_is_scored_with_bn_statistics_of_the_evaluation_size():
    """Weights whose BN statistics are a 16 px stage's score a loss of ~1e8 at 24 px (measured:
    6e8, against 6.0 at 16 px); the stage runner scores a copy measured at 24 px instead."""
    cfg = load_config(V2, ["limit_train_images=64", "epochs=3"])
    data = build.load_data(cfg, cfg.image_size)
    torch.manual_seed(0)
    model = build.build_model(cfg, build.model_spec(cfg), data.num_classes)
    runner = StageRunner(cfg, data.train, data.num_classes, (0.5,) * 3, (0.5,) * 3)
    stage = runner.enter(0, model)
    assert stage.image_size == 16 and cfg.image_size == 24
    at_24 = build.probe_images(data, 32)
    at_16 = build.probe_images(data, 32)
    at_16.transform = eval_transform(dataclasses.replace(data.preprocess, resolution=16))
    trained = with_measured_bn(model, at_16, 32)  # BN statistics as a 16 px stage leaves them
    images_24 = [at_24[i] for i in range(len(at_24))]
    images_16 = [at_16[i] for i in range(len(at_16))]
    loss_16 = score(trained, images_16)

    before = {k: v.clone() for k, v in trained.state_dict().items()}
    scored = runner.scoring_model(trained, at_24, 24, 32)
    assert score(trained, images_24) > 100 * loss_16  # the cause: statistics of other sizes
    assert score(scored, images_24) < 2 * loss_16  # the fix
    assert all(torch.equal(v, trained.state_dict()[k]) for k, v in before.items())  # untouched
    weights = [k for k in before if "running" not in k and "num_batches" not in k]
    assert all(torch.equal(before[k], scored.state_dict()[k]) for k in weights)

    runner.enter(2, model)  # the last stage is scored as trained (the paper's protocol)
    assert runner.scoring_model(trained, at_24, 24, 32) is trained
