"""The weighted bi-directional feature pyramid (BiFPN), the paper's section 3.

P3-P5 come from the backbone; P6 is P5 through a 1x1 conv + BN and a 3x3/2 max pool, P7 is P6
max-pooled again. One BiFPN cell runs a top-down pass (P6 ... P3) and a bottom-up pass (P4 ... P7);
every node resizes its inputs to its level (nearest upsampling, 3x3/2 max pooling with
TensorFlow's SAME padding), fuses them with *fast normalised fusion*
``sum_i relu(w_i) * x_i / (sum_j relu(w_j) + 1e-4)`` (or a plain sum), then applies swish and a
depthwise-separable conv + BN. A backbone map whose width is not the BiFPN's passes through its
own 1x1 conv + BN in each node that reads it (the official model's layout, so its weights load).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.padding import same_padding

EPS_FUSION = 1e-4


def max_pool_same(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-2 max pooling padded like TensorFlow's SAME (with -inf): ceil(size / 2) out."""
    top, bottom = same_padding(x.shape[-2], 3, 2)
    left, right = same_padding(x.shape[-1], 3, 2)
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
    return F.max_pool2d(x, 3, 2)


def resize_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bring a map to a neighbouring level's size: max-pool down, nearest-upsample up."""
    height, width = x.shape[-2:]
    if height > size[0] and width > size[1]:
        return max_pool_same(x)
    if height < size[0] or width < size[1]:
        return F.interpolate(x, size=size, mode="nearest")
    return x


class ConvBN(nn.Sequential):
    """1x1 conv (with bias, as the official model) + BN: a lateral projection to the BiFPN width."""

    def __init__(self, in_channels: int, out_channels: int, eps: float, momentum: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=True)
        self.bn = nn.BatchNorm2d(out_channels, eps=eps, momentum=momentum)


class SeparableConv(nn.Module):
    """Depthwise 3x3, pointwise 1x1 (with bias), optional BN; no activation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        bn: bool = True,
        eps: float = 1e-3,
        momentum: float = 0.01,
    ) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            in_channels, in_channels, 3, 1, 1, groups=in_channels, bias=False
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=True)
        self.bn = nn.BatchNorm2d(out_channels, eps=eps, momentum=momentum) if bn else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pointwise(self.depthwise(x))
        return self.bn(x) if self.bn is not None else x


class FusionNode(nn.Module):
    """One BiFPN node: project, resize, fuse its inputs, then swish + separable conv + BN.

    ``inputs`` are indices into the list of maps computed so far (the five levels, then earlier
    nodes); ``in_channels`` their widths, which decide where a lateral 1x1 projection is needed.
    """

    def __init__(
        self,
        level: int,
        inputs: tuple[int, ...],
        in_channels: tuple[int, ...],
        channels: int,
        fusion: str,
        eps: float,
        momentum: float,
    ) -> None:
        super().__init__()
        self.level = level
        self.inputs = inputs
        self.lateral = nn.ModuleDict(
            {
                str(index): ConvBN(width, channels, eps, momentum)
                for index, width in zip(inputs, in_channels, strict=True)
                if width != channels
            }
        )
        self.fusion = fusion
        self.weight = nn.Parameter(torch.ones(len(inputs))) if fusion == "fast" else None
        self.act = nn.SiLU()
        self.conv = SeparableConv(channels, channels, eps=eps, momentum=momentum)

    def forward(self, maps: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        nodes = []
        for index in self.inputs:
            x = maps[index]
            if str(index) in self.lateral:
                x = self.lateral[str(index)](x)
            nodes.append(resize_to(x, size))
        if self.weight is None:
            fused = torch.stack(nodes, dim=-1).sum(dim=-1)
        else:
            w = F.relu(self.weight.to(nodes[0].dtype))
            total = w.sum() + EPS_FUSION
            fused = torch.stack([n * w[i] / total for i, n in enumerate(nodes)], dim=-1).sum(-1)
        return self.conv(self.act(fused))


def bifpn_nodes(num_levels: int) -> list[tuple[int, tuple[int, ...]]]:
    """(level index, input indices) for every node of one cell, in execution order.

    Indices 0 .. num_levels-1 are the cell's inputs (P3 first); node k's output is index
    num_levels + k. Top-down nodes read their level and the level above; bottom-up nodes read
    their level's input, its top-down node and the bottom-up node below.
    """
    last = {level: level for level in range(num_levels)}  # newest map of each level
    first = dict(last)
    nodes: list[tuple[int, tuple[int, ...]]] = []
    for level in range(num_levels - 2, -1, -1):
        nodes.append((level, (last[level], last[level + 1])))
        last[level] = num_levels + len(nodes) - 1
    for level in range(1, num_levels):
        ids = (first[level], last[level]) if last[level] != first[level] else (first[level],)
        nodes.append((level, (*ids, last[level - 1])))
        last[level] = num_levels + len(nodes) - 1
    return nodes


class BiFPNCell(nn.Module):
    """One top-down + bottom-up pass; returns the newest map of each level."""

    def __init__(
        self, in_channels: list[int], channels: int, fusion: str, eps: float, momentum: float
    ) -> None:
        super().__init__()
        self.num_levels = len(in_channels)
        widths = list(in_channels)
        nodes = []
        for level, inputs in bifpn_nodes(self.num_levels):
            node_widths = tuple(widths[i] for i in inputs)
            nodes.append(FusionNode(level, inputs, node_widths, channels, fusion, eps, momentum))
            widths.append(channels)
        self.nodes = nn.ModuleList(nodes)

    def forward(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        sizes = [tuple(m.shape[-2:]) for m in maps]
        maps = list(maps)
        for node in self.nodes:
            maps.append(node(maps, sizes[node.level]))
        return maps[-self.num_levels :]


class BiFPN(nn.Module):
    """P6/P7 from the backbone's last map, then ``repeats`` BiFPN cells at ``channels`` width."""

    def __init__(
        self,
        backbone_channels: list[int],
        channels: int,
        repeats: int,
        num_levels: int = 5,
        fusion: str = "fast",
        eps: float = 1e-3,
        momentum: float = 0.01,
    ) -> None:
        super().__init__()
        extra = num_levels - len(backbone_channels)
        self.p6 = ConvBN(backbone_channels[-1], channels, eps, momentum) if extra else None
        self.num_extra = extra
        widths = [*backbone_channels, *([channels] * extra)]
        cells = []
        for _ in range(repeats):
            cells.append(BiFPNCell(widths, channels, fusion, eps, momentum))
            widths = [channels] * num_levels
        self.cells = nn.ModuleList(cells)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        maps = list(features)
        for i in range(self.num_extra):
            x = maps[-1]
            if i == 0 and self.p6 is not None:
                x = self.p6(x)
            maps.append(max_pool_same(x))
        for cell in self.cells:
            maps = cell(maps)
        return maps
