"""``effdet`` (Ross Wightman's efficientdet-pytorch) checkpoints in, effnet detectors out.

The layout is a table, as for the classifiers (:mod:`effnet.weights.layouts`): the backbone is
timm's ``tf_efficientnet_b*`` under ``backbone.`` (timm's table, reused), and every BiFPN and head
tensor is renamed by one of the rules in :data:`EFFDET_RULES`. effdet's weights were trained in
TensorFlow (SAME padding, BN epsilon 1e-3), which is what :class:`EfficientDet` builds, so the
converted model computes what effdet computes. Nothing of effdet is imported: only its files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import torch

from ..registry import get_spec
from ..weights.checkpoint import load_state_dict_checked
from ..weights.convert import read_state_dict, shapes_only
from ..weights.layouts import TIMM, TORCH_TENSORS, module_pairs
from .model import EfficientDet
from .spec import DET_SPECS, DetSpec, get_det_spec

_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_NET = r"(class_net|box_net)"
_NODE = r"fpn\.cell\.(\d+)\.fnode\.(\d+)"

#: effdet name (regex) -> effnet name (template of the regex's groups), tried in order.
EFFDET_RULES: tuple[tuple[str, str], ...] = (
    (r"fpn\.resample\.3\.conv\.conv\.(weight|bias)", r"fpn.p6.conv.\1"),
    (rf"fpn\.resample\.3\.conv\.bn\.{_BN}", r"fpn.p6.bn.\1"),
    (rf"{_NODE}\.combine\.resample\.(\d+)\.conv\.conv\.(weight|bias)",
     r"fpn.cells.\1.nodes.\2.lateral.\3.conv.\4"),
    (rf"{_NODE}\.combine\.resample\.(\d+)\.conv\.bn\.{_BN}",
     r"fpn.cells.\1.nodes.\2.lateral.\3.bn.\4"),
    (rf"{_NODE}\.combine\.edge_weights", r"fpn.cells.\1.nodes.\2.weight"),
    (rf"{_NODE}\.after_combine\.conv\.conv_dw\.weight",
     r"fpn.cells.\1.nodes.\2.conv.depthwise.weight"),
    (rf"{_NODE}\.after_combine\.conv\.conv_pw\.(weight|bias)",
     r"fpn.cells.\1.nodes.\2.conv.pointwise.\3"),
    (rf"{_NODE}\.after_combine\.conv\.bn\.{_BN}", r"fpn.cells.\1.nodes.\2.conv.bn.\3"),
    (rf"{_NET}\.conv_rep\.(\d+)\.conv_dw\.weight", r"\1.convs.\2.depthwise.weight"),
    (rf"{_NET}\.conv_rep\.(\d+)\.conv_pw\.(weight|bias)", r"\1.convs.\2.pointwise.\3"),
    (rf"{_NET}\.bn_rep\.(\d+)\.(\d+)\.bn\.{_BN}", r"\1.bns.\2.\3.\4"),
    (rf"{_NET}\.predict\.conv_dw\.weight", r"\1.predict.depthwise.weight"),
    (rf"{_NET}\.predict\.conv_pw\.(weight|bias)", r"\1.predict.pointwise.\2"),
)  # fmt: skip


def backbone_key_map(spec: DetSpec) -> dict[str, str]:
    """effdet backbone key -> effnet key, from timm's layout table (no head conv, no classifier)."""
    net = get_spec(spec.backbone)
    return {
        f"backbone.{pair.peer}.{tensor}": f"backbone.{pair.effnet}.{tensor}"
        for pair in module_pairs(TIMM, net, 0)
        if not pair.effnet.startswith(("head.", "classifier"))
        for tensor in TORCH_TENSORS[pair.kind]
    }


def effdet_to_effnet(
    state: Mapping[str, torch.Tensor], spec: DetSpec
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Renamed tensors, and each effnet key's effdet name (for error messages).

    Tensors no rule claims keep their names, so loading reports them instead of dropping them.
    """
    backbone = backbone_key_map(spec)
    rules = [(re.compile(pattern), template) for pattern, template in EFFDET_RULES]
    out: dict[str, torch.Tensor] = {}
    names: dict[str, str] = {}
    for key, value in state.items():
        target = backbone.get(key)
        for pattern, template in rules if target is None else ():
            match = pattern.fullmatch(key)
            if match:
                target = match.expand(template)
                break
        out[target or key] = value
        names[target or key] = key
    for source, target in backbone.items():  # older timm files lack BN batch counters
        if source not in state and target.endswith("num_batches_tracked"):
            out[target] = torch.tensor(0, dtype=torch.long)
    return out, names


def _strip(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """effdet's training bench saves the detector as ``model.``; keep the detector's tensors."""
    if any(k.startswith("model.backbone.") for k in state):
        return {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    return {k: v for k, v in state.items() if not k.startswith("anchors.")}


def infer_det_spec(state: Mapping[str, torch.Tensor]) -> DetSpec:
    """Which D0-D7 a checkpoint holds, from its BiFPN width and depth (D6/D7 need naming)."""
    width = state["fpn.cell.0.fnode.0.after_combine.conv.conv_pw.weight"].shape[0]
    depth = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("fpn.cell."))
    found = [s for s in DET_SPECS.values() if (s.fpn_channels, s.fpn_repeats) == (width, depth)]
    if len(found) != 1:
        raise ValueError(
            f"cannot tell which EfficientDet this is (BiFPN {width} wide, {depth} cells: "
            f"{', '.join(s.name for s in found) or 'none'}); pass the model name"
        )
    return found[0]


def convert_effdet(
    source: str | os.PathLike | Mapping[str, Any],
    model: str | DetSpec | None = None,
    class_names: list[str] | None = None,
) -> EfficientDet:
    """An effnet :class:`EfficientDet` holding an effdet checkpoint's weights (in train mode).

    ``source``: a ``.pth``/``.safetensors`` file or a state dict (``model.state_dict()`` of
    effdet's ``EfficientDet``, or of its training bench). ``model``: ``efficientdet_d0`` ... ``d7``
    (told from the shapes when omitted, except D6 vs D7).
    """
    state = read_state_dict(source) if not isinstance(source, Mapping) else dict(source)
    state = _strip(state)
    spec = get_det_spec(model) if model is not None else infer_det_spec(state)
    outputs = state["class_net.predict.conv_pw.weight"].shape[0]
    num_classes = outputs // spec.num_anchors
    converted, names = effdet_to_effnet(state, spec)
    with shapes_only():
        net = EfficientDet(spec, num_classes)
    net.to_empty(device="cpu")
    load_state_dict_checked(net, converted, source_names=names, source="effdet")
    net.class_names = list(class_names) if class_names is not None else None
    net.weights_source = str(source) if not isinstance(source, Mapping) else None
    return net
