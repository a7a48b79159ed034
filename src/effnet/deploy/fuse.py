"""Fold batch norm into the convolution before it, for inference.

In eval mode a BatchNorm2d is a per-channel affine map, so ``bn(conv(x))`` equals one conv with
rescaled weights and a bias. Folding removes a full pass over every activation map (EfficientNet has
one BN per conv: 49 in B0), which matters most on CPUs where these networks are memory-bound. It is
also what lets an exporter or compiler see plain ``conv -> activation`` chains it can fuse further.
"""

from __future__ import annotations

import copy
import itertools

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def count_batchnorms(model: nn.Module) -> int:
    """How many batch-norm modules ``model`` still holds (0 once it is fully folded)."""
    return sum(isinstance(m, _BATCHNORMS) for m in model.modules())


def _fold_pair(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm2d without running statistics into a conv")
    # fuse_conv_bn_eval deep-copies the conv, so subclasses (TF "SAME" padding) keep their forward.
    return fuse_conv_bn_eval(conv.eval(), bn.eval())


def _fold_children(module: nn.Module) -> None:
    # effnet's ConvBNAct: a Sequential with named children conv, bn, act.
    conv, bn = getattr(module, "conv", None), getattr(module, "bn", None)
    if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
        module.conv = _fold_pair(conv, bn)
        module.bn = nn.Identity()
    # Any other Sequential: a Conv2d immediately followed by a BatchNorm2d.
    if isinstance(module, nn.Sequential):
        names = list(module._modules)
        for first, second in itertools.pairwise(names):
            a, b = module._modules[first], module._modules[second]
            if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                module._modules[first] = _fold_pair(a, b)
                module._modules[second] = nn.Identity()
    for child in module.children():
        _fold_children(child)


def fold_batchnorm(model: nn.Module, strict: bool = True) -> nn.Module:
    """An eval-mode copy of ``model`` with every conv -> BN pair folded into one biased conv.

    The input model is left untouched (it may still be trained). With ``strict`` a BN that does not
    directly follow a conv (and so cannot be folded) is an error rather than a silent slowdown.
    """
    folded = copy.deepcopy(model).eval()
    with torch.no_grad():
        _fold_children(folded)
    left = count_batchnorms(folded)
    if strict and left:
        raise ValueError(
            f"{left} BatchNorm module(s) do not follow a Conv2d and cannot be folded; "
            "pass strict=False to keep them"
        )
    return folded
