"""The paper's learning rate: 0.016 per 256 images, 5 warm-up epochs, x0.97 every 2.4 epochs."""

import math

import pytest
import torch

from effnet.train.schedule import PaperSchedule, paper_lr, scaled_lr

STEPS_PER_EPOCH = 100


def lr(step, base=1.0, **kw):
    return paper_lr(step, STEPS_PER_EPOCH, base, **kw)


def test_linear_scaling_gives_the_papers_0_256_at_batch_4096():
    # docs/paper.md section 7: initial lr 0.256 for batch 4096, i.e. 0.016 per 256 images.
    assert scaled_lr(0.016, 4096) == pytest.approx(0.256)
    assert scaled_lr(0.016, 256) == pytest.approx(0.016)
    assert scaled_lr(0.016, 512) == pytest.approx(2 * scaled_lr(0.016, 256))


def test_warmup_rises_linearly_from_zero_and_ends_at_the_decayed_value():
    warmup_steps = 5 * STEPS_PER_EPOCH
    assert lr(0) == 0.0
    assert lr(warmup_steps // 2) == pytest.approx(0.5)
    assert lr(warmup_steps - 1) == pytest.approx((warmup_steps - 1) / warmup_steps)
    # The decay clock runs from step 0: at the end of warm-up (epoch 5), floor(5 / 2.4) = 2
    # decays have happened.
    assert lr(warmup_steps) == pytest.approx(0.97**2)


def test_decays_by_0_97_every_2_4_epochs_in_steps():
    decay_steps = 2.4 * STEPS_PER_EPOCH  # 240 steps
    for k in range(3, 8):
        start = math.ceil(k * decay_steps)
        assert lr(start) == pytest.approx(0.97**k)
        assert lr(start - 1) == pytest.approx(0.97 ** (k - 1))  # staircase: flat until the edge
    # 350 epochs end near 0.97 ** 145 of the base
    assert lr(350 * STEPS_PER_EPOCH - 1) == pytest.approx(0.97**145)


def test_smooth_decay_when_staircase_is_off():
    assert lr(1000, staircase=False) == pytest.approx(0.97 ** (1000 / 240))


def test_bigger_batch_means_proportionally_bigger_lr_at_the_same_epoch():
    # Same data, batch 512 instead of 256: half the steps per epoch, twice the lr at every epoch.
    small = PaperSchedule(_optimizer(), steps_per_epoch=200, base_lr=scaled_lr(0.016, 256))
    large = PaperSchedule(_optimizer(), steps_per_epoch=100, base_lr=scaled_lr(0.016, 512))
    for epoch in (1, 4.5, 5, 7.2, 100):
        assert large.lr_at(int(epoch * 100)) == pytest.approx(2 * small.lr_at(int(epoch * 200)))


def test_groups_get_their_scale_and_a_frozen_backbone_gets_zero():
    backbone, head = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD(
        [
            {"params": [backbone], "lr_scale": 0.1, "backbone": True},
            {"params": [head], "lr_scale": 1.0, "backbone": False},
        ],
        lr=1.0,
    )
    sched = PaperSchedule(opt, 10, base_lr=1.0, warmup_epochs=0, freeze_backbone_epochs=2)
    sched.set_step(5)  # epoch 0.5: frozen
    assert opt.param_groups[0]["lr"] == 0.0
    assert opt.param_groups[1]["lr"] == pytest.approx(1.0)
    sched.set_step(25)  # epoch 2.5: thawed, at a tenth of the lr, after one 0.97 decay
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.97)
    assert opt.param_groups[1]["lr"] == pytest.approx(0.97)


def test_state_dict_restores_the_step():
    opt = _optimizer()
    sched = PaperSchedule(opt, STEPS_PER_EPOCH, base_lr=1.0)
    sched.set_step(777)
    other_opt = _optimizer()
    other = PaperSchedule(other_opt, STEPS_PER_EPOCH, base_lr=1.0)
    other.load_state_dict(sched.state_dict())
    assert other.last_step == 777
    assert other_opt.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == lr(777)


def _optimizer():
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.0)


def test_cosine_warms_up_then_anneals_to_zero_at_the_last_step():
    import itertools
    import math

    from effnet.train.schedule import PaperSchedule

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.0)
    schedule = PaperSchedule(opt, 10, 0.1, warmup_epochs=1, cosine_total_steps=50)
    assert schedule.lr_at(5) == pytest.approx(0.05)  # the same linear warm-up
    assert schedule.lr_at(10) == pytest.approx(0.1)  # peak when the warm-up ends
    assert schedule.lr_at(30) == pytest.approx(0.05)  # half-way down the half cosine
    assert schedule.lr_at(50) == pytest.approx(0.0, abs=1e-12)
    lrs = [schedule.lr_at(s) for s in range(10, 51)]
    assert all(a >= b for a, b in itertools.pairwise(lrs))
    assert not math.isclose(lrs[20], 0.1 * 0.97, rel_tol=1e-3)  # not the paper's decay
