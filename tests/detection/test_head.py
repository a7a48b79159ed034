"""Class and box nets: convs shared across levels, BN per level, the 0.01 class prior."""

import math

import torch

from effnet.detection.head import PRIOR_PROBABILITY, HeadNet


def test_convs_are_shared_and_bns_are_per_level():
    head = HeadNet(channels=8, outputs=3, num_anchors=9, repeats=2, num_levels=5)
    assert len(head.convs) == 2 and len(head.bns) == 2 and all(len(b) == 5 for b in head.bns)
    maps = [torch.randn(2, 8, s, s) for s in (8, 4, 2, 1, 1)]
    out = head.eval()(maps)
    assert [tuple(o.shape) for o in out] == [(2, 27, s, s) for s in (8, 4, 2, 1, 1)]
    # the same input at two levels differs only through the levels' BN statistics
    with torch.no_grad():
        head.bns[0][1].running_mean.fill_(0.5)
    same = head([maps[0], maps[0]])
    assert not torch.equal(same[0], same[1])
    with torch.no_grad():
        head.bns[0][1].running_mean.zero_()
    same = head([maps[0], maps[0]])
    assert torch.equal(same[0], same[1])


def test_class_prior_initialisation():
    head = HeadNet(channels=8, outputs=3, num_anchors=9, repeats=1, num_levels=5)
    head.reset_parameters(class_prior=True)
    bias = head.predict.pointwise.bias
    torch.testing.assert_close(torch.sigmoid(bias), torch.full_like(bias, PRIOR_PROBABILITY))
    head.reset_parameters(class_prior=False)
    assert head.predict.pointwise.bias.abs().sum() == 0
    weight = head.convs[0].pointwise.weight
    assert abs(weight.std().item() - math.sqrt(1 / 8)) < 0.1  # variance scaling, fan-in 8
