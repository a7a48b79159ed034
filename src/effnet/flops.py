"""Parameter and multiply-add counts computed from a spec alone, without building a model.

Compound scaling searches over many candidate networks; building each one in torch just to count it
would be slow (B7 alone has 66M parameters to initialise). These formulas give the same numbers in
microseconds, and the tests hold them equal to the torch model's parameter count and to
``torch.utils.flop_counter`` so the two can never drift apart.

Multiply-adds ("FLOPs" in the paper) count convolutions and the classifier only; batch norm,
activations, pooling and the squeeze-excitation gating multiply are a rounding error next to them
and are not counted by ``torch.utils.flop_counter`` either.
"""

from __future__ import annotations

from dataclasses import dataclass

from .spec import BlockSpec, NetSpec


def conv_out_size(size: int, stride: int) -> int:
    """Output size of a padded conv: ceil(size / stride), for symmetric and TF padding alike."""
    return -(-size // stride)


@dataclass(frozen=True)
class Cost:
    params: int = 0
    macs: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.params + other.params, self.macs + other.macs)


def _conv(cin: int, cout: int, k: int, out_hw: int, groups: int = 1, bn: bool = True) -> Cost:
    weights = cout * (cin // groups) * k * k
    return Cost(params=weights + (2 * cout if bn else 0), macs=weights * out_hw * out_hw)


def _linear(cin: int, cout: int) -> Cost:
    return Cost(params=cin * cout + cout, macs=cin * cout)


def block_cost(block: BlockSpec, in_hw: int) -> Cost:
    """Cost of one block whose input is ``in_hw`` pixels square."""
    out_hw = conv_out_size(in_hw, block.stride)
    cin, cout, mid, k = block.in_channels, block.out_channels, block.mid_channels, block.kernel
    if block.kind == "separable":
        return _conv(cin, cin, k, out_hw, groups=cin) + _conv(cin, cout, 1, out_hw)
    if block.kind == "bottleneck":
        cost = _conv(cin, mid, 1, in_hw) + _conv(mid, mid, k, out_hw) + _conv(mid, cout, 1, out_hw)
        if block.stride != 1 or cin != cout:
            cost = cost + _conv(cin, cout, 1, out_hw)
        return cost
    if block.kind == "fused" and block.expand == 1:
        return _conv(cin, cout, k, out_hw) + _se(block.se_channels, cout)
    cost = Cost()
    if block.kind == "fused":
        cost = _conv(cin, mid, k, out_hw)
    else:
        if mid != cin:
            cost = cost + _conv(cin, mid, 1, in_hw)
        cost = cost + _conv(mid, mid, k, out_hw, groups=mid)
    return cost + _se(block.se_channels, mid) + _conv(mid, cout, 1, out_hw)


def _se(se: int, channels: int) -> Cost:
    """Squeeze-excitation: two biased 1x1 convs on the pooled vector (none when ``se`` is 0)."""
    if not se:
        return Cost()
    return Cost(params=channels * se + se + se * channels + channels, macs=2 * channels * se)


@dataclass(frozen=True)
class StageCost:
    """One row of a profile table: a stage's input resolution, widths, depth and cost."""

    name: str
    in_resolution: int
    out_channels: int
    layers: int
    params: int
    macs: int


def stage_costs(
    spec: NetSpec, num_classes: int = 1000, resolution: int | None = None
) -> list[StageCost]:
    """Per-stage costs (stem, each stage, head, classifier) at ``resolution`` (default: own)."""
    hw = resolution or spec.resolution
    rows = []
    stem_hw = conv_out_size(hw, spec.stem.stride)
    stem = _conv(3, spec.stem.channels, spec.stem.kernel, stem_hw)
    rows.append(StageCost("stem", hw, spec.stem.channels, 1, stem.params, stem.macs))
    hw = conv_out_size(stem_hw, 2) if spec.stem.max_pool else stem_hw
    blocks = list(spec.blocks())
    for s, stage in enumerate(spec.stages):
        stage_in = hw
        cost = Cost()
        for _, block in (b for b in blocks if b[0] == s):
            cost = cost + block_cost(block, hw)
            hw = conv_out_size(hw, block.stride)
        label = f"{stage.kind} k{stage.kernel} e{stage.expand:g}"
        rows.append(
            StageCost(label, stage_in, stage.out_channels, stage.repeats, cost.params, cost.macs)
        )
    if spec.head_channels:
        head = _conv(spec.stages[-1].out_channels, spec.head_channels, 1, hw)
        rows.append(StageCost("head conv1x1", hw, spec.head_channels, 1, head.params, head.macs))
    if num_classes:
        fc = _linear(spec.num_features, num_classes)
        rows.append(StageCost("pool + fc", hw, num_classes, 1, fc.params, fc.macs))
    return rows


def count(spec: NetSpec, num_classes: int = 1000, resolution: int | None = None) -> Cost:
    """Total parameters and multiply-adds of ``spec`` at ``resolution`` (default: its own)."""
    total = Cost()
    for row in stage_costs(spec, num_classes, resolution):
        total = total + Cost(row.params, row.macs)
    return total
