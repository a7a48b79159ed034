"""Convolution padding: PyTorch's symmetric k//2, or TensorFlow's "SAME".

Checkpoints trained in TensorFlow (timm's ``tf_`` models, Keras) saw asymmetric padding on strided
convs: "SAME" pads so that out = ceil(in / stride) and puts the odd extra pixel on the bottom/right.
Loading them into symmetric layers shifts every strided conv by half a pixel and silently costs
1-2% top-1, so the builder takes ``padding="same"`` for them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PADDINGS = ("symmetric", "same")


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding that TensorFlow's "SAME" applies along one axis."""
    total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """A Conv2d that pads like TensorFlow "SAME", computed from the input size at call time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = same_padding(
            x.shape[-2], self.kernel_size[0], self.stride[0], self.dilation[0]
        )
        left, right = same_padding(
            x.shape[-1], self.kernel_size[1], self.stride[1], self.dilation[1]
        )
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


class Conv2dCroppedTaps(nn.Conv2d):
    """A stride-1, k//2-padded conv that skips the kernel taps which can only ever see padding.

    When the input is smaller than the kernel's reach (a 5x5 depthwise conv on B0's 1x1 or 2x2
    late stages, as in training at low resolution), the outer taps multiply zeros only: cropping
    the kernel to 2*min(k//2, size-1)+1 gives exactly the same output and gradients. It matters
    because oneDNN's depthwise backward on such inputs is pathologically slow on CPU (19 ms for a
    [32, 1152, 1, 1] input with a 5x5 kernel, more than the rest of B0's step at 24 px). The
    parameter keeps its full shape, so checkpoints and folding are unchanged. Only training with
    gradients takes the cropped path (the backward is what is slow); evaluation, tracing and export
    see a plain conv, as do inputs at least as large as the kernel.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half_h, half_w = self.kernel_size[0] // 2, self.kernel_size[1] // 2
        reach_h, reach_w = min(half_h, x.shape[-2] - 1), min(half_w, x.shape[-1] - 1)
        plain = not (self.training and torch.is_grad_enabled()) or torch.jit.is_tracing()
        if plain or (reach_h == half_h and reach_w == half_w):
            return super().forward(x)
        weight = self.weight[
            :, :, half_h - reach_h : half_h + reach_h + 1, half_w - reach_w : half_w + reach_w + 1
        ]
        return F.conv2d(x, weight, self.bias, 1, (reach_h, reach_w), 1, self.groups)


def make_conv(
    in_channels: int,
    out_channels: int,
    kernel: int,
    stride: int = 1,
    groups: int = 1,
    bias: bool = False,
    padding: str = "symmetric",
) -> nn.Conv2d:
    """A conv whose output is ceil(in / stride) under either padding convention.

    With stride 1 and an odd kernel both conventions pad k//2 on each side, so only strided convs
    need the dynamic "SAME" layer; the rest stay plain (and export and fuse like any Conv2d).
    """
    if padding not in PADDINGS:
        raise ValueError(f"unknown padding {padding!r}; expected one of {PADDINGS}")
    if padding == "same" and stride > 1:
        return Conv2dSame(in_channels, out_channels, kernel, stride, 0, groups=groups, bias=bias)
    if stride == 1 and kernel > 1 and kernel % 2 == 1:
        return Conv2dCroppedTaps(
            in_channels, out_channels, kernel, 1, kernel // 2, groups=groups, bias=bias
        )
    return nn.Conv2d(
        in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=bias
    )
