"""A run's pieces from its config: sizes, architecture, model, optimizer and friends."""

import pytest
import torch

import effnet
from effnet.train import TrainConfig
from effnet.train.build import (
    fresh_state,
    micro_batch,
    model_spec,
    plan_run,
    prepare_model,
    wrap_for_training,
)
from effnet.train.distributed import Dist
from effnet.train.optim import RMSpropTF
from effnet.weights.checkpoint import save_model

ONE = Dist(0, 1, 0, torch.device("cpu"), owns_group=False)


def test_micro_batch_splits_the_global_batch_over_ranks_and_accumulation():
    assert micro_batch(TrainConfig(batch_size=32, grad_accum_steps=2), world_size=2) == 8
    with pytest.raises(ValueError, match="divide evenly"):
        micro_batch(TrainConfig(batch_size=30, grad_accum_steps=4), world_size=1)


def test_plan_counts_whole_batches_per_rank_and_caps_at_max_steps():
    cfg = TrainConfig(batch_size=32, epochs=12, lr_per_256=0.016)
    plan = plan_run(cfg, 24, train_images=1257, world_size=1)
    assert (plan.micro_batch, plan.steps_per_epoch, plan.total_steps) == (32, 39, 468)
    assert plan.base_lr == pytest.approx(0.002)  # 0.016 per 256 images
    two = plan_run(cfg.replace(max_steps=50), 24, train_images=1257, world_size=2)
    assert (two.micro_batch, two.steps_per_epoch, two.total_steps) == (16, 39, 50)
    with pytest.raises(ValueError, match="larger than the 20 training images"):
        plan_run(cfg, 24, train_images=20, world_size=1)


def test_spec_is_the_init_checkpoints_and_bn_momentum_overrides_it(tmp_path):
    assert model_spec(TrainConfig(model="efficientnet_b1")).name == "efficientnet_b1"
    init = save_model(
        tmp_path / "init.safetensors", effnet.create_model("efficientnet_b0", num_classes=3),
        ["a", "b", "c"],
    )  # fmt: skip
    spec = model_spec(TrainConfig(model="efficientnet_b1", init_checkpoint=str(init)))
    assert spec.name == "efficientnet_b0"
    assert model_spec(TrainConfig(model="efficientnet_b0", bn_momentum=0.3)).bn_momentum == 0.3


def test_every_rank_builds_the_same_weights_whatever_its_rng_did_before():
    cfg = TrainConfig(seed=7, channels_last=False)
    spec = model_spec(cfg)
    torch.manual_seed(1)
    a = prepare_model(cfg, spec, 4, ONE)
    torch.manual_seed(2)
    b = prepare_model(cfg, spec, 4, ONE)
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    assert all(torch.equal(x, y) for x, y in pairs)
    c = prepare_model(cfg.replace(seed=8), spec, 4, ONE)
    assert not torch.equal(a.classifier.weight, c.classifier.weight)


def test_zero_init_head_and_channels_last():
    cfg = TrainConfig(zero_init_head=True, channels_last=True)
    model = prepare_model(cfg, model_spec(cfg), 3, ONE)
    assert model.classifier.weight.abs().sum() == 0 and model.classifier.bias.abs().sum() == 0
    conv = next(p for p in model.parameters() if p.ndim == 4 and p.shape[2] > 1)
    assert conv.is_contiguous(memory_format=torch.channels_last)


def test_fresh_state_follows_the_config():
    cfg = TrainConfig(ema_decay=0.99, warmup_epochs=1, channels_last=False)
    model = prepare_model(cfg, model_spec(cfg), 3, ONE)
    plan = plan_run(cfg.replace(batch_size=32), 32, train_images=320, world_size=1)
    state = fresh_state(cfg, model, plan, None, ONE)
    assert isinstance(state.optimizer, RMSpropTF)
    assert state.ema is not None and state.eval_model is state.ema.module
    assert not state.scaler.is_enabled()
    assert state.progress.step == 0 and state.best_model is None
    assert state.schedule.set_step(0) == 0.0  # warm-up starts from zero
    plain = fresh_state(cfg.replace(ema_decay=0.0, optimizer="sgd"), model, plan, None, ONE)
    assert plain.ema is None and plain.eval_model is model
    assert isinstance(plain.optimizer, torch.optim.SGD)


def test_one_process_trains_the_bare_model():
    model = torch.nn.Linear(2, 2)
    assert wrap_for_training(model, TrainConfig(), ONE) is model
