"""EMA of weights: the formula, TF's num_updates warm-up, and BN buffers."""

import pytest
import torch
from torch import nn

from effnet.train.ema import ModelEma


def small_net():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2))


def test_average_follows_the_formula_without_warmup():
    net = nn.Linear(3, 2)
    ema = ModelEma(net, decay=0.9, warmup=False)
    start = net.weight.detach().clone()
    expected = start.clone()
    for k in range(5):
        with torch.no_grad():
            net.weight.add_(float(k + 1))
        ema.update(net)
        expected = 0.9 * expected + 0.1 * net.weight.detach()
    torch.testing.assert_close(ema.module.weight, expected)
    assert not ema.module.weight.requires_grad


def test_warmup_uses_tensorflows_num_updates_rule():
    ema = ModelEma(nn.Linear(1, 1), decay=0.9999, warmup=True)
    decays = []
    for _ in range(3):
        ema.num_updates += 1
        decays.append(ema.current_decay())
    assert decays == pytest.approx([2 / 11, 3 / 12, 4 / 13])
    ema.num_updates = 10**6
    assert ema.current_decay() == 0.9999


def test_bn_running_stats_are_averaged_and_the_counter_copied():
    torch.manual_seed(0)
    net = small_net()
    net(torch.randn(2, 3, 5, 5))  # materialise the lazy layer
    ema = ModelEma(net, decay=0.5, warmup=False)
    start_mean = ema.module[1].running_mean.clone()
    net.train()
    net(torch.randn(8, 3, 5, 5) + 3.0)  # moves BN running_mean towards ~3 * weights
    ema.update(net)
    bn_live, bn_avg = net[1], ema.module[1]
    torch.testing.assert_close(bn_avg.running_mean, 0.5 * start_mean + 0.5 * bn_live.running_mean)
    assert bn_avg.num_batches_tracked.item() == bn_live.num_batches_tracked.item() == 2


def test_state_dict_round_trip():
    net = nn.Linear(2, 2)
    ema = ModelEma(net, decay=0.99)
    for _ in range(4):
        with torch.no_grad():
            net.weight.mul_(1.1)
        ema.update(net)
    other = ModelEma(nn.Linear(2, 2), decay=0.99)
    other.load_state_dict(ema.state_dict())
    assert other.num_updates == 4
    torch.testing.assert_close(other.module.weight, ema.module.weight)
