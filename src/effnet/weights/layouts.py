"""Where each peer library keeps every EfficientNet weight: one mapping table per peer.

A *layout* says, for each effnet submodule (``stem.conv``, ``blocks.3.1.expand.bn``, ...), what the
same module is called in a peer's state dict. The tables are pure data, so both directions
(peer -> effnet and effnet -> peer) come from one source and nothing in the model bends to fit a
peer. What differs between peers beyond names (tensor order in Keras, BN epsilon, padding) lives in
:mod:`effnet.weights.convert`; this module only knows names and module kinds.

Each table entry is a format string. Block entries see ``{block}``, the block's own prefix, which
is itself formatted from ``stage`` (0-based), ``stage1`` (1-based), ``index`` (within the stage),
``letter`` (``a``, ``b``, ... as Keras names repeats) and ``flat`` (0-based over the network).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..spec import INVERTED_RESIDUALS, BlockSpec, NetSpec

#: The kinds of module a weight can belong to; each kind has a fixed list of tensors.
CONV, DWCONV, CONV_BIAS, BN, LINEAR = "conv", "dwconv", "conv_bias", "bn", "linear"

#: Tensor names of each kind in PyTorch's naming (the same in effnet and every torch peer).
TORCH_TENSORS: dict[str, tuple[str, ...]] = {
    CONV: ("weight",),
    DWCONV: ("weight",),
    CONV_BIAS: ("weight", "bias"),
    BN: ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"),
    LINEAR: ("weight", "bias"),
}

#: Parts of an MBConv block, in execution order, with their kind.
BLOCK_PARTS: tuple[tuple[str, str], ...] = (
    ("expand.conv", CONV),
    ("expand.bn", BN),
    ("depthwise.conv", DWCONV),
    ("depthwise.bn", BN),
    ("se.reduce", CONV_BIAS),
    ("se.expand", CONV_BIAS),
    ("project.conv", CONV),
    ("project.bn", BN),
)

#: Parts of a fused MBConv block (a kxk expansion conv, no depthwise), in execution order.
FUSED_PARTS: tuple[tuple[str, str], ...] = (
    ("expand.conv", CONV),
    ("expand.bn", BN),
    ("se.reduce", CONV_BIAS),
    ("se.expand", CONV_BIAS),
    ("project.conv", CONV),
    ("project.bn", BN),
)

#: A fused block with expansion 1 is one activated kxk conv (EfficientNetV2's first stage).
FUSED_SINGLE_PARTS: tuple[tuple[str, str], ...] = (
    ("conv.conv", CONV),
    ("conv.bn", BN),
    ("se.reduce", CONV_BIAS),
    ("se.expand", CONV_BIAS),
)


@dataclass(frozen=True)
class Layout:
    """One peer's names for effnet's modules.

    ``expanded`` names the parts of a block that has a 1x1 expansion conv; ``unexpanded`` the parts
    of a block without one (expand ratio 1: EfficientNet's first stage), where peers often renumber
    what remains. ``head`` may use ``{last}`` (number of stages + 1, torchvision's index).
    ``fused`` names the parts of a fused MBConv block, for peers that have them (empty: none).
    """

    peer: str
    stem: tuple[str, str]
    block: str
    expanded: MappingProxyType
    unexpanded: MappingProxyType
    head: tuple[str, str]
    classifier: str
    fused: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))


def _parts(**names: str) -> MappingProxyType:
    """A read-only table keyed by effnet part names (``expand_conv`` -> ``expand.conv``)."""
    return MappingProxyType({key.replace("_", ".", 1): value for key, value in names.items()})


TORCHVISION = Layout(
    peer="torchvision",
    stem=("features.0.0", "features.0.1"),
    block="features.{stage1}.{index}.block",
    expanded=_parts(
        expand_conv="{block}.0.0",
        expand_bn="{block}.0.1",
        depthwise_conv="{block}.1.0",
        depthwise_bn="{block}.1.1",
        se_reduce="{block}.2.fc1",
        se_expand="{block}.2.fc2",
        project_conv="{block}.3.0",
        project_bn="{block}.3.1",
    ),
    unexpanded=_parts(
        depthwise_conv="{block}.0.0",
        depthwise_bn="{block}.0.1",
        se_reduce="{block}.1.fc1",
        se_expand="{block}.1.fc2",
        project_conv="{block}.2.0",
        project_bn="{block}.2.1",
    ),
    head=("features.{last}.0", "features.{last}.1"),
    classifier="classifier.1",
    fused=_parts(  # torchvision's FusedMBConv (EfficientNetV2): no SE; expansion 1 is one conv
        expand_conv="{block}.0.0",
        expand_bn="{block}.0.1",
        project_conv="{block}.1.0",
        project_bn="{block}.1.1",
        conv_conv="{block}.0.0",
        conv_bn="{block}.0.1",
    ),
)

#: timm's ``efficientnet_b*`` and ``tf_efficientnet_b*`` share this layout; they differ in padding
#: and BN epsilon only. Blocks without expansion are timm's DepthwiseSeparableConv (bn1, bn2).
TIMM = Layout(
    peer="timm",
    stem=("conv_stem", "bn1"),
    block="blocks.{stage}.{index}",
    expanded=_parts(
        expand_conv="{block}.conv_pw",
        expand_bn="{block}.bn1",
        depthwise_conv="{block}.conv_dw",
        depthwise_bn="{block}.bn2",
        se_reduce="{block}.se.conv_reduce",
        se_expand="{block}.se.conv_expand",
        project_conv="{block}.conv_pwl",
        project_bn="{block}.bn3",
    ),
    unexpanded=_parts(
        depthwise_conv="{block}.conv_dw",
        depthwise_bn="{block}.bn1",
        se_reduce="{block}.se.conv_reduce",
        se_expand="{block}.se.conv_expand",
        project_conv="{block}.conv_pw",
        project_bn="{block}.bn2",
    ),
    head=("conv_head", "bn2"),
    classifier="classifier",
    fused=_parts(  # timm's EdgeResidual
        expand_conv="{block}.conv_exp",
        expand_bn="{block}.bn1",
        se_reduce="{block}.se.conv_reduce",
        se_expand="{block}.se.conv_expand",
        project_conv="{block}.conv_pwl",
        project_bn="{block}.bn2",
        conv_conv="{block}.conv",  # expansion 1: timm's ConvBnAct (EfficientNetV2's ``cn``)
        conv_bn="{block}.bn1",
    ),
)

#: efficientnet-pytorch numbers blocks over the whole network and keeps ``_bn0`` for the expansion
#: BN even where there is no expansion conv (the names do not shift).
LUKEMELAS = Layout(
    peer="lukemelas",
    stem=("_conv_stem", "_bn0"),
    block="_blocks.{flat}",
    expanded=_parts(
        expand_conv="{block}._expand_conv",
        expand_bn="{block}._bn0",
        depthwise_conv="{block}._depthwise_conv",
        depthwise_bn="{block}._bn1",
        se_reduce="{block}._se_reduce",
        se_expand="{block}._se_expand",
        project_conv="{block}._project_conv",
        project_bn="{block}._bn2",
    ),
    unexpanded=_parts(
        depthwise_conv="{block}._depthwise_conv",
        depthwise_bn="{block}._bn1",
        se_reduce="{block}._se_reduce",
        se_expand="{block}._se_expand",
        project_conv="{block}._project_conv",
        project_bn="{block}._bn2",
    ),
    head=("_conv_head", "_bn1"),
    classifier="_fc",
)

#: Keras applications name layers, not tensors: ``block2a_expand_conv`` and so on.
KERAS = Layout(
    peer="keras",
    stem=("stem_conv", "stem_bn"),
    block="block{stage1}{letter}",
    expanded=_parts(
        expand_conv="{block}_expand_conv",
        expand_bn="{block}_expand_bn",
        depthwise_conv="{block}_dwconv",
        depthwise_bn="{block}_bn",
        se_reduce="{block}_se_reduce",
        se_expand="{block}_se_expand",
        project_conv="{block}_project_conv",
        project_bn="{block}_project_bn",
    ),
    unexpanded=_parts(
        depthwise_conv="{block}_dwconv",
        depthwise_bn="{block}_bn",
        se_reduce="{block}_se_reduce",
        se_expand="{block}_se_expand",
        project_conv="{block}_project_conv",
        project_bn="{block}_project_bn",
    ),
    head=("top_conv", "top_bn"),
    classifier="predictions",
)

#: Keras's EfficientNetV2 (``keras.applications.EfficientNetV2*``): V1's names, but the depthwise
#: conv is ``dwconv2``; a fused block with expansion 1 is only its kxk ``project_conv``.
KERAS_V2 = Layout(
    peer="keras-v2",
    stem=KERAS.stem,
    block=KERAS.block,
    expanded=MappingProxyType({**KERAS.expanded, "depthwise.conv": "{block}_dwconv2"}),
    unexpanded=MappingProxyType({**KERAS.unexpanded, "depthwise.conv": "{block}_dwconv2"}),
    head=KERAS.head,
    classifier=KERAS.classifier,
    fused=_parts(
        expand_conv="{block}_expand_conv",
        expand_bn="{block}_expand_bn",
        se_reduce="{block}_se_reduce",
        se_expand="{block}_se_expand",
        project_conv="{block}_project_conv",
        project_bn="{block}_project_bn",
        conv_conv="{block}_project_conv",
        conv_bn="{block}_project_bn",
    ),
)

LAYOUTS: dict[str, Layout] = {
    layout.peer: layout for layout in (TORCHVISION, TIMM, LUKEMELAS, KERAS, KERAS_V2)
}


@dataclass(frozen=True)
class ModulePair:
    """One module in both namings, and its kind (which decides its tensors and their order)."""

    effnet: str
    peer: str
    kind: str


def module_pairs(layout: Layout, spec: NetSpec, num_classes: int) -> Iterator[ModulePair]:
    """Every weight-carrying module of ``spec``'s model with the peer's name for it.

    Only EfficientNet-style specs ((fused) MBConv stages, a head conv) have peer layouts.
    """
    if any(s.kind not in INVERTED_RESIDUALS for s in spec.stages) or not spec.head_channels:
        raise ValueError(
            f"{spec.name} is not an EfficientNet (MBConv stages and a head conv); "
            f"{layout.peer} checkpoints only exist for those"
        )
    if any(stage.kind == "fused" for stage in spec.stages) and not layout.fused:
        raise ValueError(f"{layout.peer} has no fused MBConv blocks, which {spec.name} uses")
    yield ModulePair("stem.conv", layout.stem[0], CONV)
    yield ModulePair("stem.bn", layout.stem[1], BN)
    index_in_stage: dict[int, int] = {}
    for flat, (stage, block) in enumerate(spec.blocks()):
        index = index_in_stage.get(stage, 0)
        index_in_stage[stage] = index + 1
        letter = _letter(index) if "{letter}" in layout.block else ""  # V2-XL has 32 repeats
        fields: dict[str, Any] = dict(
            stage=stage, stage1=stage + 1, index=index, letter=letter, flat=flat
        )
        prefix = layout.block.format(**fields)
        table, parts = _block_table(layout, block)
        for part, kind in parts:
            if part.startswith("se.") and not block.se_channels:
                continue
            yield ModulePair(
                f"blocks.{stage}.{index}.{part}", table[part].format(block=prefix), kind
            )
    last = len(spec.stages) + 1
    yield ModulePair("head.conv", layout.head[0].format(last=last), CONV)
    yield ModulePair("head.bn", layout.head[1].format(last=last), BN)
    if num_classes:
        yield ModulePair("classifier", layout.classifier, LINEAR)


def _block_table(
    layout: Layout, block: BlockSpec
) -> tuple[MappingProxyType, tuple[tuple[str, str], ...]]:
    """The peer's names for one block's parts, and the parts it has."""
    if block.kind == "fused":
        return layout.fused, FUSED_SINGLE_PARTS if block.expand == 1 else FUSED_PARTS
    if block.mid_channels != block.in_channels:
        return layout.expanded, BLOCK_PARTS
    return layout.unexpanded, tuple(p for p in BLOCK_PARTS if not p[0].startswith("expand."))


def torch_key_map(layout: Layout, spec: NetSpec, num_classes: int) -> dict[str, str]:
    """effnet state-dict key -> peer state-dict key, for peers whose tensors are PyTorch's."""
    return {
        f"{pair.effnet}.{tensor}": f"{pair.peer}.{tensor}"
        for pair in module_pairs(layout, spec, num_classes)
        for tensor in TORCH_TENSORS[pair.kind]
    }


def _letter(index: int) -> str:
    """Keras's repeat letters: a, b, ..., z (no EfficientNet stage has more than 26 blocks)."""
    if index >= 26:
        raise ValueError(f"Keras names at most 26 blocks per stage, got block {index + 1}")
    return chr(ord("a") + index)
