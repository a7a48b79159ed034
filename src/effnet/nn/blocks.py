"""The four block kinds a :class:`~effnet.spec.BlockSpec` can name, and their factory."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import StochasticDepth

from ..spec import BlockSpec
from .layers import ConvBNAct, SqueezeExcite, activation_layer


def _with_skip(out: torch.Tensor, x: torch.Tensor, drop_path: nn.Module | None) -> torch.Tensor:
    """The inverted residuals' identity skip, the branch through stochastic depth if it has it."""
    if drop_path is not None:
        out = drop_path(out)
    return out + x


class MBConv(nn.Module):
    """Inverted residual with squeeze-excitation (EfficientNet, MobileNetV2 without SE).

    1x1 expand (skipped when expand == 1) -> depthwise kxk -> SE -> linear 1x1 project, with an
    identity skip and stochastic depth when input and output shapes agree.
    """

    def __init__(self, spec: BlockSpec, act: str, drop_path: float, **conv_kw: object) -> None:
        super().__init__()
        mid = spec.mid_channels
        self.expand = (
            ConvBNAct(spec.in_channels, mid, 1, act=act, **conv_kw)
            if mid != spec.in_channels
            else None
        )
        self.depthwise = ConvBNAct(
            mid, mid, spec.kernel, spec.stride, groups=mid, act=act, **conv_kw
        )
        self.se = SqueezeExcite(mid, spec.se_channels, act) if spec.se_channels else None
        self.project = ConvBNAct(mid, spec.out_channels, 1, act=None, **conv_kw)
        self.has_skip = spec.has_skip
        self.drop_path = StochasticDepth(drop_path, "row") if self.has_skip and drop_path else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand(x) if self.expand is not None else x
        out = self.depthwise(out)
        if self.se is not None:
            out = self.se(out)
        out = self.project(out)
        return _with_skip(out, x, self.drop_path) if self.has_skip else out


class FusedMBConv(nn.Module):
    """Fused inverted residual (EfficientNet-EdgeTPU, EfficientNetV2's early stages).

    A full kxk conv does the expansion and the spatial mixing at once (faster than 1x1 + depthwise
    on accelerators and at high resolution), then optional SE and a linear 1x1 projection. With
    expansion 1 there is nothing to project: the one kxk conv maps to the output width and is
    activated (V2's first stage). Identity skip and stochastic depth as in :class:`MBConv`.
    """

    def __init__(self, spec: BlockSpec, act: str, drop_path: float, **conv_kw: object) -> None:
        super().__init__()
        if spec.expand == 1:
            self.conv = ConvBNAct(
                spec.in_channels, spec.out_channels, spec.kernel, spec.stride, act=act, **conv_kw
            )
            self.project = None
            width = spec.out_channels
        else:
            width = spec.mid_channels
            self.expand = ConvBNAct(
                spec.in_channels, width, spec.kernel, spec.stride, act=act, **conv_kw
            )
            self.project = ConvBNAct(width, spec.out_channels, 1, act=None, **conv_kw)
        self.se = SqueezeExcite(width, spec.se_channels, act) if spec.se_channels else None
        self.has_skip = spec.has_skip
        self.drop_path = StochasticDepth(drop_path, "row") if self.has_skip and drop_path else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x) if self.project is None else self.expand(x)
        if self.se is not None:
            out = self.se(out)
        if self.project is not None:
            out = self.project(out)
        return _with_skip(out, x, self.drop_path) if self.has_skip else out


class SeparableConv(nn.Module):
    """MobileNetV1's depthwise separable conv: depthwise kxk and pointwise 1x1, both activated."""

    def __init__(self, spec: BlockSpec, act: str, drop_path: float, **conv_kw: object) -> None:
        super().__init__()
        cin = spec.in_channels
        self.depthwise = ConvBNAct(
            cin, cin, spec.kernel, spec.stride, groups=cin, act=act, **conv_kw
        )
        self.pointwise = ConvBNAct(cin, spec.out_channels, 1, act=act, **conv_kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class Bottleneck(nn.Module):
    """ResNet-50's bottleneck (stride on the 3x3, as in torchvision's "v1.5")."""

    def __init__(self, spec: BlockSpec, act: str, drop_path: float, **conv_kw: object) -> None:
        super().__init__()
        mid = spec.mid_channels
        self.reduce = ConvBNAct(spec.in_channels, mid, 1, act=act, **conv_kw)
        self.conv = ConvBNAct(mid, mid, spec.kernel, spec.stride, act=act, **conv_kw)
        self.expand = ConvBNAct(mid, spec.out_channels, 1, act=None, **conv_kw)
        needs_projection = spec.stride != 1 or spec.in_channels != spec.out_channels
        self.shortcut = (
            ConvBNAct(spec.in_channels, spec.out_channels, 1, spec.stride, act=None, **conv_kw)
            if needs_projection
            else None
        )
        self.drop_path = StochasticDepth(drop_path, "row") if drop_path else None
        self.act = activation_layer(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand(self.conv(self.reduce(x)))
        if self.drop_path is not None:
            out = self.drop_path(out)
        shortcut = self.shortcut(x) if self.shortcut is not None else x
        return self.act(out + shortcut)


_BLOCKS: dict[str, type[nn.Module]] = {
    "mbconv": MBConv,
    "fused": FusedMBConv,
    "separable": SeparableConv,
    "bottleneck": Bottleneck,
}


def make_block(spec: BlockSpec, act: str, drop_path: float = 0.0, **conv_kw: object) -> nn.Module:
    """Build the torch module for one block spec; ``conv_kw`` carries BN settings and padding."""
    return _BLOCKS[spec.kind](spec, act, drop_path, **conv_kw)
