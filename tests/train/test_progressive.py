"""Progressive learning: the schedule interpolates as the V2 paper's Algorithm 1, each stage sets
what it says (training size, dropout, RandAugment, mixup), and a run killed with SIGKILL in one
stage and resumed into the next ends bit-identical to an unbroken one."""

import json
import subprocess

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torch import nn

from effnet.train import TrainConfig
from effnet.train.config import load_config
from effnet.train.progressive import Progressive, StageRunner, StageSettings
from effnet.variants_v2 import V2_TRAIN
from tests.train.test_checkpoint import ENV, ROOT, kill_9_after_step, train_records


def test_settings_interpolate_linearly_from_first_to_last_stage():
    s = Progressive()  # the paper's V2-S: 128 -> 300 px, RandAugment 5 -> 15, dropout 0.1 -> 0.3
    assert s.table() == [
        StageSettings(0, 128, 0.1, 5, 0.0),
        StageSettings(1, 185, 0.166667, 8, 0.0),
        StageSettings(2, 242, 0.233333, 12, 0.0),
        StageSettings(3, 300, 0.3, 15, 0.0),
    ]
    # 350 epochs in four runs of about 87 (the paper's), the last stage to the end
    assert [s.stage_of(e, 350) for e in (0, 87, 88, 174, 175, 262, 263, 349)] == [
        0, 0, 1, 1, 2, 2, 3, 3,
    ]  # fmt: skip
    assert Progressive(stages=1, image_size=(64, 96)).settings(0).image_size == 96
    with pytest.raises(ValueError, match="RandAugment magnitudes are 0-30"):
        Progressive(randaugment=(5, 40))
    with pytest.raises(ValueError, match="progressive must be a Progressive"):
        TrainConfig(progressive=(128, 300))


@pytest.mark.parametrize(
    ("name", "model", "sizes", "randaugment", "dropout", "mixup"),
    [
        ("v2_s_imagenet", "efficientnetv2_s", (128, 300), (5, 15), (0.1, 0.3), (0, 0)),
        ("v2_m_imagenet", "efficientnetv2_m", (128, 380), (5, 20), (0.1, 0.4), (0, 0.2)),
        ("v2_l_imagenet", "efficientnetv2_l", (128, 380), (5, 25), (0.1, 0.5), (0, 0.4)),
    ],
)
def test_imagenet_configs_state_the_papers_table_6(name, model, sizes, randaugment, dropout, mixup):
    cfg = load_config(ROOT / "configs" / f"{name}.py")
    p = cfg.progressive
    assert (cfg.model, cfg.epochs, p.stages) == (model, 350, 4)
    assert (p.image_size, p.randaugment, p.dropout, p.mixup) == (sizes, randaugment, dropout, mixup)
    assert cfg.image_size > V2_TRAIN[model] >= p.image_size[1] - 80  # evaluated larger


class _Images(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return Image.new("RGB", (40, 40), (10 * i, 50, 90)), i % 2


def test_each_stage_sets_size_dropout_randaugment_and_mixup():
    from effnet.data.loading import TransformedSubset

    cfg = TrainConfig(
        epochs=4, autoaugment=None, seed=3,
        progressive=Progressive(stages=2, image_size=(16, 32), randaugment=(0, 9),
                                dropout=(0.1, 0.4), mixup=(0.0, 0.5)),
    )  # fmt: skip
    train = TransformedSubset(_Images(), range(4), transform=None, classes=["a", "b"])
    model = nn.Module()
    model.dropout = nn.Dropout(0.0)
    runner = StageRunner(cfg, train, 2, (0.5,) * 3, (0.5,) * 3)
    seen = []
    for epoch in range(4):
        entered = runner.enter(epoch, model)
        assert (entered is not None) == (epoch in (0, 2))  # a new stage only at its boundary
        seen.append((train[(0, 1)][0].shape[-1], model.dropout.p))
    assert seen == [(16, 0.1), (16, 0.1), (32, 0.4), (32, 0.4)]
    assert "RandAugment" in repr(train.transform)

    images, labels = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 0, 1])
    mixed, targets = runner.mix(images, labels, step=7)
    assert targets.shape == (4, 2) and torch.allclose(targets.sum(1), torch.ones(4))
    assert not torch.equal(mixed, images)
    fresh = StageRunner(cfg, train, 2, (0.5,) * 3, (0.5,) * 3)  # as after a resume
    fresh.enter(3, model)
    again, _ = fresh.mix(images, labels, step=7)
    assert torch.equal(again, mixed)  # seeded by (seed, step, micro-batch, rank): replayable
    runner.enter(0, model)
    assert runner.mix(images, labels, step=8)[1] is labels  # alpha 0: hard labels untouched


# 64 images in batches of 16 = 4 steps an epoch, 3 epochs, 3 stages: one stage per epoch, with
# mixup and RandAugment on from stage 2. Killed after step 5 (stage 2), resumed through stage 3.
OVERRIDES = [
    "batch_size=16", "limit_train_images=64", "epochs=3", "warmup_epochs=1", "save_every_steps=1",
    "deterministic=true", "ema_decay=0.99", "log_every=1", "num_workers=0", "device=cpu",
]  # fmt: skip
KILL_AFTER_STEP = 5


def command(out, *extra):
    import sys

    return [
        sys.executable, "-m", "effnet.cli", "train", "--config", str(ROOT / "configs/v2_digits.py"),
        *extra, "--override", *OVERRIDES, f"output_dir={out}",
    ]  # fmt: skip


def test_kill_9_in_one_stage_then_resume_into_the_next_is_bit_identical(tmp_path):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    subprocess.run(command(straight), env=ENV, check=True, capture_output=True, timeout=600)
    kill_9_after_step(command(interrupted), interrupted, KILL_AFTER_STEP, tmp_path / "killed.err")
    saved = torch.load(interrupted / "last.pt", weights_only=True)["progress"]
    assert 4 <= saved["step"] < 8  # stopped inside stage 2, before stage 3 began
    resumed = subprocess.run(
        command(interrupted, "--resume"), env=ENV, check=True, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert "progressive stage 3/3: 24 px" in resumed.stdout

    for name in ("model.safetensors", "best.safetensors"):
        a, b = load_file(straight / name), load_file(interrupted / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
    losses = [(r["step"], r["loss"]) for r in train_records(interrupted)]
    assert [s for s, _ in losses] == list(range(1, 13))
    assert losses == [(r["step"], r["loss"]) for r in train_records(straight)]
    # The stages the log records are the config's, at the epochs it says.
    records = [json.loads(line) for line in (straight / "log.jsonl").read_text().splitlines()]
    stages = [(r["epoch"], r["image_size"], r["randaugment"], r["mixup"]) for r in records
              if r["kind"] == "stage"]  # fmt: skip
    assert stages == [(0, 16, 0, 0.0), (1, 20, 2, 0.1), (2, 24, 4, 0.2)]
