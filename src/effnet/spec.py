"""Network specifications as plain, frozen data.

A spec is the paper's Table 1 written as dataclasses: it can be printed, compared, hashed and
serialised, and it holds no torch objects. Everything else (scaling, FLOP counting, the torch model)
reads a spec; nothing writes into one, so a scaled network is always a new spec.

Four block kinds cover EfficientNet, its deployment and V2 relatives, and the paper's Table 3
baselines:

- ``"mbconv"``: inverted residual (MobileNetV2, EfficientNet): optional 1x1 expansion, depthwise
  kxk, optional squeeze-excitation, linear 1x1 projection, identity skip when shapes allow.
- ``"fused"``: fused inverted residual (EfficientNet-EdgeTPU, EfficientNetV2): one full kxk
  expansion conv in place of 1x1 + depthwise, optional squeeze-excitation, linear 1x1 projection;
  with expansion 1 the kxk conv maps straight to the output width (and is activated).
- ``"separable"``: MobileNetV1's depthwise separable conv (depthwise kxk, 1x1, both activated,
  no skip).
- ``"bottleneck"``: ResNet-50's 1x1 reduce, 3x3, 1x1 expand with a projection shortcut.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

BLOCK_KINDS = ("mbconv", "fused", "separable", "bottleneck")
#: Block kinds built from an expansion and a projection (an inverted residual).
INVERTED_RESIDUALS = ("mbconv", "fused")
ACTIVATIONS = ("silu", "relu", "relu6")
#: Bounds on a spec's numbers: far beyond any published network, short of what no machine builds
#: (a spec is data a user may write, or a checkpoint header may carry).
MAX_RESOLUTION = 8192
MAX_CHANNELS = 1 << 16
MAX_REPEATS = 1000
MAX_KERNEL = 31
MAX_STRIDE = 8
MAX_STAGES = 64
#: Bounds on the network as a whole (``effnet.flops.check_size``): each field may be within its
#: own bound while the product is not (65,536 channels in 1,000 blocks is 10^13 weights). Twice
#: the parameters and four times the multiply-adds of the largest model shipped, EfficientNet-L2
#: (480M, 476G at 800 px); over twice the largest feature map (B7 at EfficientDet's 1536 px).
MAX_PARAMS = 1_000_000_000  # 4 GB of float32 weights
MAX_MACS = 2_000_000_000_000  # multiply-adds per image
MAX_FEATURE_MAP = 1 << 28  # values in one feature map of one image: 1 GB of float32
MAX_BATCH_VALUES = 1 << 31  # values in one feature map of a batch: 8 GB of float32


def _integers(owner: Any, *names: str) -> None:
    """Each named field of ``owner`` is an integer (not a bool, a float or a string)."""
    for name in names:
        value = getattr(owner, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{type(owner).__name__}.{name} must be an integer, got {value!r}")


def _within(owner: Any, name: str, low: float, high: float, open_high: bool = False) -> None:
    """Field ``name`` of ``owner`` is a number in [low, high] (or [low, high) with open_high)."""
    value = getattr(owner, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{type(owner).__name__}.{name} must be a number, got {value!r}")
    inside = low <= value < high if open_high else low <= value <= high
    if not inside:
        bracket = ")" if open_high else "]"
        raise ValueError(
            f"{type(owner).__name__}.{name} must be in [{low:g}, {high:g}{bracket}, got {value}"
        )


@dataclass(frozen=True)
class BlockSpec:
    """One block, with its real input and output widths (what a layer constructor needs)."""

    kind: str
    kernel: int
    stride: int
    expand: float
    in_channels: int
    out_channels: int
    se_ratio: float = 0.0
    expand_from: int | None = None
    skip: bool = True

    @property
    def mid_channels(self) -> int:
        """Width of the block's inner convolutions.

        MBConv expands its *input* (MobileNetV2's t), or ``expand_from`` channels where a stage
        says so (EdgeTPU's first stage expands 24 channels although its input has 32); a ResNet
        bottleneck narrows its *output* by the expansion factor 4; a separable conv keeps the input
        width for its depthwise conv.
        """
        if self.kind in INVERTED_RESIDUALS:
            return round((self.expand_from or self.in_channels) * self.expand)
        if self.kind == "bottleneck":
            return round(self.out_channels / self.expand)
        return self.in_channels

    @property
    def se_channels(self) -> int:
        """Squeeze-excitation bottleneck: a fraction of the block *input* width (paper: 0.25)."""
        return max(1, int(self.in_channels * self.se_ratio)) if self.se_ratio > 0 else 0

    @property
    def has_skip(self) -> bool:
        """Identity skip for (fused) MBConv when the shape is unchanged and the stage has skips;
        bottlenecks always add."""
        if self.kind in INVERTED_RESIDUALS:
            return self.skip and self.stride == 1 and self.in_channels == self.out_channels
        return self.kind == "bottleneck"


@dataclass(frozen=True)
class StageSpec:
    """A row of Table 1: ``repeats`` blocks of one operator; the first has the stride."""

    kind: str
    kernel: int
    stride: int
    expand: float
    out_channels: int
    repeats: int
    se_ratio: float = 0.0
    #: Expand this many channels instead of the first block's input (None: the input width).
    expand_from: int | None = None
    #: False for a stage without identity skips even where shapes allow (EdgeTPU's first).
    skip: bool = True

    def __post_init__(self) -> None:
        if self.kind not in BLOCK_KINDS:
            raise ValueError(f"unknown block kind {self.kind!r}; expected one of {BLOCK_KINDS}")
        _integers(self, "kernel", "stride", "out_channels", "repeats")
        if self.repeats < 1:
            raise ValueError(f"a stage needs at least one block, got repeats={self.repeats}")
        if self.out_channels < 1:
            raise ValueError(f"a stage needs at least one channel, got {self.out_channels}")
        _within(self, "kernel", 1, MAX_KERNEL)
        _within(self, "stride", 1, MAX_STRIDE)
        _within(self, "out_channels", 1, MAX_CHANNELS)
        _within(self, "repeats", 1, MAX_REPEATS)
        _within(self, "expand", 0, 64, open_high=False)
        if not self.expand > 0:
            raise ValueError(f"StageSpec.expand must be positive, got {self.expand}")
        _within(self, "se_ratio", 0, 1)
        if getattr(self, "expand_from", None) is not None:
            _integers(self, "expand_from")
            _within(self, "expand_from", 1, MAX_CHANNELS)


@dataclass(frozen=True)
class StemSpec:
    """The first convolution (and ResNet's 3x3 max-pool, which halves resolution once more)."""

    channels: int
    kernel: int = 3
    stride: int = 2
    max_pool: bool = False

    def __post_init__(self) -> None:
        _integers(self, "channels", "kernel", "stride")
        _within(self, "channels", 1, MAX_CHANNELS)
        _within(self, "kernel", 1, MAX_KERNEL)
        _within(self, "stride", 1, MAX_STRIDE)


@dataclass(frozen=True)
class NetSpec:
    """A whole classification network: stem, stages, optional 1x1 head conv, pooling, classifier.

    ``head_channels`` is None for networks whose last stage feeds the pool directly (ResNet,
    MobileNetV1). ``head_scales_down`` is False for MobileNetV2, whose 1280-wide head is widened
    by a multiplier above 1 but never narrowed (MobileNetV2 paper, section 5.1).

    Three fields let a family opt out of parts of compound scaling (EfficientNet-Lite keeps its
    stem at 32 and head at 1280 channels, and the first and last stages' repeats, fixed so that
    the scaled models stay quantization- and accelerator-friendly): ``fixed_stem``, ``fixed_head``
    and ``fixed_repeats`` (indices of the stages whose repeats scaling leaves alone).
    """

    name: str
    stem: StemSpec
    stages: tuple[StageSpec, ...]
    head_channels: int | None
    resolution: int
    dropout: float = 0.2
    drop_path_rate: float = 0.2
    activation: str = "silu"
    head_scales_down: bool = True
    bn_eps: float = 1e-3
    bn_momentum: float = 0.01  # PyTorch convention: 1 - TF's 0.99
    fixed_stem: bool = False
    fixed_head: bool = False
    fixed_repeats: tuple[int, ...] = ()
    #: Scaled channel counts step up one multiple of 8 when plain rounding loses more than
    #: ``1 - round_limit`` of them (V1's 90% rule); EfficientNetV2's builder uses 0 (never).
    round_limit: float = 0.9

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; expected one of {ACTIVATIONS}"
            )
        _integers(self, "resolution")
        if self.resolution < 1:
            raise ValueError(f"resolution must be positive, got {self.resolution}")
        if self.resolution > MAX_RESOLUTION:
            raise ValueError(
                f"resolution {self.resolution} is above the {MAX_RESOLUTION} px a network can be "
                "built for"
            )
        self._check_types()
        if self.head_channels is not None:
            _integers(self, "head_channels")
            _within(self, "head_channels", 1, MAX_CHANNELS)
        _within(self, "dropout", 0, 1, open_high=True)
        _within(self, "drop_path_rate", 0, 1, open_high=True)
        _within(self, "bn_eps", 0, 1)
        if not self.bn_eps > 0:
            raise ValueError(f"NetSpec.bn_eps must be positive, got {self.bn_eps}")
        _within(self, "bn_momentum", 0, 1)
        _within(self, "round_limit", 0, 1)
        for index, first, rest in self.stage_blocks():
            for block in (first, rest):
                if block.mid_channels < 1:
                    raise ValueError(
                        f"stage {index + 1}: expand {block.expand:g} of {block.in_channels} "
                        f"channels leaves {block.mid_channels} inside its blocks; a block needs "
                        "at least one"
                    )

    def _check_types(self) -> None:
        """The non-numeric fields: a name, flags that are bools, stage indices that exist."""
        if not self.stages:
            raise ValueError("a network needs at least one stage")
        if not isinstance(self.stem, StemSpec) or not all(
            isinstance(stage, StageSpec) for stage in self.stages
        ):
            raise ValueError("a NetSpec needs a StemSpec and a tuple of StageSpecs")
        if len(self.stages) > MAX_STAGES:
            raise ValueError(f"a network has at most {MAX_STAGES} stages, got {len(self.stages)}")
        if not isinstance(self.name, str):
            raise ValueError(f"NetSpec.name must be a string, got {self.name!r}")
        for owner, flag in [(self, "head_scales_down"), (self, "fixed_stem"),
                            (self, "fixed_head"), (self.stem, "max_pool"),
                            *((stage, "skip") for stage in self.stages)]:  # fmt: skip
            if not isinstance(getattr(owner, flag), bool):
                raise ValueError(
                    f"{type(owner).__name__}.{flag} must be true or false, got "
                    f"{getattr(owner, flag)!r}"
                )
        for index in self.fixed_repeats:
            if isinstance(index, bool) or index not in range(len(self.stages)):
                raise ValueError(
                    f"NetSpec.fixed_repeats holds {index!r}, not a stage index below "
                    f"{len(self.stages)}"
                )

    def stage_blocks(self) -> Iterator[tuple[int, BlockSpec, BlockSpec]]:
        """Yield ``(stage_index, first_block, repeated_block)`` per stage: the first block has
        the stride and the width change, the ``repeats - 1`` after it are all alike (stride 1,
        input width = output width), so a stage is described in two blocks whatever its depth."""
        in_ch = self.stem.channels
        for s, stage in enumerate(self.stages):
            common = {
                "kind": stage.kind,
                "kernel": stage.kernel,
                "expand": stage.expand,
                "out_channels": stage.out_channels,
                "se_ratio": stage.se_ratio,
                "skip": stage.skip,
            }
            first = BlockSpec(
                stride=stage.stride, in_channels=in_ch, expand_from=stage.expand_from, **common
            )
            rest = BlockSpec(stride=1, in_channels=stage.out_channels, **common)
            yield s, first, rest
            in_ch = stage.out_channels

    def blocks(self) -> Iterator[tuple[int, BlockSpec]]:
        """Yield ``(stage_index, block)`` for every block, with the real in/out widths filled in."""
        for s, first, rest in self.stage_blocks():
            yield s, first
            for _ in range(self.stages[s].repeats - 1):
                yield s, rest

    @property
    def num_blocks(self) -> int:
        return sum(stage.repeats for stage in self.stages)

    @property
    def num_features(self) -> int:
        """Width of the pooled feature vector that the classifier sees."""
        return self.head_channels or self.stages[-1].out_channels

    def replace(self, **changes: Any) -> NetSpec:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetSpec:
        fields = dict(data)
        fields["stem"] = StemSpec(**fields["stem"])
        fields["stages"] = tuple(StageSpec(**stage) for stage in fields["stages"])
        fields["fixed_repeats"] = tuple(fields.get("fixed_repeats", ()))
        return cls(**fields)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> NetSpec:
        return cls.from_dict(json.loads(text))


def _mb(kernel: int, stride: int, expand: int, out: int, repeats: int) -> StageSpec:
    return StageSpec("mbconv", kernel, stride, expand, out, repeats, se_ratio=0.25)


#: EfficientNet-B0, the paper's Table 1. Stage 1 (the stem) and stage 9 (the head) are the stem
#: and ``head_channels``; the seven MBConv stages are rows 2-8.
EFFICIENTNET_B0 = NetSpec(
    name="efficientnet_b0",
    stem=StemSpec(channels=32, kernel=3, stride=2),
    stages=(
        _mb(kernel=3, stride=1, expand=1, out=16, repeats=1),
        _mb(kernel=3, stride=2, expand=6, out=24, repeats=2),
        _mb(kernel=5, stride=2, expand=6, out=40, repeats=2),
        _mb(kernel=3, stride=2, expand=6, out=80, repeats=3),
        _mb(kernel=5, stride=1, expand=6, out=112, repeats=3),
        _mb(kernel=5, stride=2, expand=6, out=192, repeats=4),
        _mb(kernel=3, stride=1, expand=6, out=320, repeats=1),
    ),
    head_channels=1280,
    resolution=224,
    dropout=0.2,
    drop_path_rate=0.2,
    activation="silu",
)

#: EfficientNet-Lite0: B0's stages without squeeze-excitation, with ReLU6, for integer
#: accelerators and quantization; scaling leaves the stem, the head and the first and last
#: stages' repeats alone (the reference Lite builder's ``fix_head_stem``).
EFFICIENTNET_LITE0 = EFFICIENTNET_B0.replace(
    name="efficientnet_lite0",
    stages=tuple(dataclasses.replace(stage, se_ratio=0.0) for stage in EFFICIENTNET_B0.stages),
    activation="relu6",
    fixed_stem=True,
    fixed_head=True,
    fixed_repeats=(0, len(EFFICIENTNET_B0.stages) - 1),
)


def _fused(kernel: int, stride: int, expand: int, out: int, repeats: int) -> StageSpec:
    return StageSpec("fused", kernel, stride, expand, out, repeats)


#: EfficientNet-EdgeTPU-S: found by architecture search for the Edge TPU, which runs a full 3x3
#: conv faster than 1x1 + depthwise at high resolution, so its first three stages are fused
#: MBConv blocks; ReLU and no squeeze-excitation throughout. The first stage expands 24
#: channels (not its 32 input channels) and has no identity skip (which matters from EdgeTPU-M
#: on, where depth scaling gives it a second, shape-preserving block), as the searched network.
EFFICIENTNET_ES = NetSpec(
    name="efficientnet_es",
    stem=StemSpec(channels=32, kernel=3, stride=2),
    stages=(
        dataclasses.replace(_fused(3, 1, 4, 24, 1), expand_from=24, skip=False),
        _fused(kernel=3, stride=2, expand=8, out=32, repeats=2),
        _fused(kernel=3, stride=2, expand=8, out=48, repeats=4),
        StageSpec("mbconv", kernel=5, stride=2, expand=8, out_channels=96, repeats=5),
        StageSpec("mbconv", kernel=5, stride=1, expand=8, out_channels=144, repeats=4),
        StageSpec("mbconv", kernel=5, stride=2, expand=8, out_channels=192, repeats=2),
    ),
    head_channels=1280,
    resolution=224,
    dropout=0.2,
    drop_path_rate=0.2,
    activation="relu",
)
