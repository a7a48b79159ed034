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

from .spec import (
    MAX_BATCH_VALUES,
    MAX_FEATURE_MAP,
    MAX_MACS,
    MAX_PARAMS,
    BlockSpec,
    NetSpec,
)


def conv_out_size(size: int, stride: int) -> int:
    """Output size of a padded conv: ceil(size / stride), for symmetric and TF padding alike."""
    return -(-size // stride)


@dataclass(frozen=True)
class Cost:
    params: int = 0
    macs: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.params + other.params, self.macs + other.macs)

    def __mul__(self, times: int) -> Cost:
        return Cost(self.params * times, self.macs * times)


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
    spec: NetSpec, num_classes: int = 1000, resolution: int | None = None, in_chans: int = 3
) -> list[StageCost]:
    """Per-stage costs (stem, each stage, head, classifier) at ``resolution`` (default: own).

    A stage is its first block plus ``repeats - 1`` copies of the next, all alike, so the count
    takes time in the number of stages, not blocks (a spec read from a file is counted before
    anything is built from it, whatever depth it claims).
    """
    hw = resolution or spec.resolution
    rows = []
    stem_hw = conv_out_size(hw, spec.stem.stride)
    stem = _conv(in_chans, spec.stem.channels, spec.stem.kernel, stem_hw)
    rows.append(StageCost("stem", hw, spec.stem.channels, 1, stem.params, stem.macs))
    hw = conv_out_size(stem_hw, 2) if spec.stem.max_pool else stem_hw
    for s, first, rest in spec.stage_blocks():
        stage = spec.stages[s]
        stage_in, hw = hw, conv_out_size(hw, first.stride)
        cost = block_cost(first, stage_in) + block_cost(rest, hw) * (stage.repeats - 1)
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


def count(
    spec: NetSpec, num_classes: int = 1000, resolution: int | None = None, in_chans: int = 3
) -> Cost:
    """Total parameters and multiply-adds of ``spec`` at ``resolution`` (default: its own)."""
    total = Cost()
    for row in stage_costs(spec, num_classes, resolution, in_chans):
        total = total + Cost(row.params, row.macs)
    return total


def _feature_map(block: BlockSpec, in_hw: int) -> int:
    """Values in the largest tensor one block makes (input, expansion, inner or output)."""
    out_hw = conv_out_size(in_hw, block.stride)
    mid_hw = in_hw if block.kind in ("mbconv", "bottleneck") else out_hw
    return max(
        block.in_channels * in_hw * in_hw,
        block.mid_channels * mid_hw * mid_hw,
        block.out_channels * out_hw * out_hw,
    )


def _feature_maps(spec: NetSpec, hw: int, in_chans: int) -> list[int]:
    """Values in the largest tensor of one image per row of :func:`stage_costs` (input and stem,
    each stage, the head conv)."""
    stem_hw = conv_out_size(hw, spec.stem.stride)
    sizes = [max(in_chans * hw * hw, spec.stem.channels * stem_hw * stem_hw)]
    hw = conv_out_size(stem_hw, 2) if spec.stem.max_pool else stem_hw
    for _, first, rest in spec.stage_blocks():
        first_map = _feature_map(first, hw)
        hw = conv_out_size(hw, first.stride)
        sizes.append(max(first_map, _feature_map(rest, hw)))
    return [*sizes, (spec.head_channels or 0) * hw * hw]


def largest_feature_map(spec: NetSpec, resolution: int | None = None, in_chans: int = 3) -> int:
    """Values in the largest feature map ``spec`` makes of one image at ``resolution``: what
    inference needs in memory beside the weights, whatever the multiply-adds."""
    return max(_feature_maps(spec, resolution or spec.resolution, in_chans))


def _where(spec: NetSpec, index: int, num_classes: int) -> str:
    """The spec field behind row ``index`` of :func:`stage_costs`."""
    if index == 0:
        return f"stem (channels={spec.stem.channels})"
    if index <= len(spec.stages):
        stage = spec.stages[index - 1]
        return (
            f"stages[{index - 1}] (out_channels={stage.out_channels}, "
            f"repeats={stage.repeats}, expand={stage.expand:g})"
        )
    if index == len(spec.stages) + 1 and spec.head_channels:
        return f"head_channels={spec.head_channels}"
    return f"the classifier (num_classes={num_classes})"


def check_size(
    spec: NetSpec,
    num_classes: int = 1000,
    resolution: int | None = None,
    in_chans: int = 3,
    batch: int = 1,
) -> Cost:
    """The cost of ``spec``, or a ValueError naming the field and the count when the model it
    describes could not be held in memory or run on one image (``effnet.spec.MAX_PARAMS``,
    ``MAX_MACS``, ``MAX_FEATURE_MAP``), or on a ``batch`` of images (``MAX_BATCH_VALUES``).
    Each field of a spec is bounded on its own; this bounds their product, before a spec from a
    file or a user is built."""
    hw = resolution or spec.resolution
    rows = stage_costs(spec, num_classes, hw, in_chans)
    total = Cost(sum(r.params for r in rows), sum(r.macs for r in rows))
    for what, value, limit, unit in (
        ("params", total.params, MAX_PARAMS, "parameters (4 bytes each)"),
        ("macs", total.macs, MAX_MACS, f"multiply-adds per image at {hw} px"),
    ):
        if value > limit:
            index = max(range(len(rows)), key=lambda i: getattr(rows[i], what))
            raise ValueError(
                f"spec {spec.name!r} describes {value:,} {unit}, most of them in "
                f"{_where(spec, index, num_classes)}; the limit is {limit:,}"
            )
    maps = _feature_maps(spec, hw, in_chans)
    if max(maps) > MAX_FEATURE_MAP:
        index = maps.index(max(maps))
        raise ValueError(
            f"spec {spec.name!r} at {hw} px makes a feature map of {max(maps):,} values per "
            f"image in {_where(spec, index, num_classes)}; the limit is {MAX_FEATURE_MAP:,}"
        )
    if batch * max(maps) > MAX_BATCH_VALUES:
        raise ValueError(
            f"a batch of {batch} images makes {spec.name!r} hold feature maps of "
            f"{batch * max(maps):,} values at {hw} px; the limit is {MAX_BATCH_VALUES:,}"
        )
    return total
