"""effnet models out to a PyTorch peer's layout (torchvision, timm, timm-tf, efficientnet-pytorch).

The reverse of :mod:`effnet.weights.convert`, with the same layout tables: a fine-tuned effnet
model can be loaded by code that expects the peer's state dict, provided the peer builds the same
numerics (padding, BN epsilon); otherwise the error says how to build one that does.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from ..spec import NetSpec
from .layouts import TORCH_TENSORS, module_pairs
from .peers import Peer, get_peer

if TYPE_CHECKING:
    from ..models import EfficientNet


def export_state_dict(
    model: EfficientNet, peer: str, strict: bool = True
) -> dict[str, torch.Tensor]:
    """An effnet model's weights in a PyTorch peer's layout (torchvision, timm, timm-tf, lukemelas).

    With ``strict`` the model's padding and BN epsilon must be the ones the peer builds by default,
    because the peer model would otherwise compute something else from the same weights; the
    error says how to build a peer model that matches.
    """
    info = get_peer(peer)
    if info.file_kind != "torch":
        raise ValueError(f"export to {peer} is not supported; it goes to torchvision or timm")
    spec: NetSpec = model.spec
    padding = model.padding
    if strict:
        _check_peer_numerics(info, spec, padding)
    num_classes = int(model.num_classes)
    if model.features_only:
        raise ValueError("a features_only model has no head to export; build it with a head")
    key_map = {}
    for pair in module_pairs(info.layout, spec, num_classes):
        for tensor in TORCH_TENSORS[pair.kind]:
            key_map[f"{pair.effnet}.{tensor}"] = f"{pair.peer}.{tensor}"
    own = model.state_dict()
    return {key_map[k]: v.detach().clone() for k, v in own.items()}


def _timm_name(model: str) -> str:
    """timm's own model of that architecture (its tf_ port where timm has only that: V2-B*)."""
    timm, tf = get_peer("timm"), get_peer("timm-tf")
    only_tf = model in tf.models and model not in timm.models
    return (tf if only_tf else timm).peer_model_name(model)


def _check_peer_numerics(peer: Peer, spec: NetSpec, padding: str) -> None:
    eps = peer.eps_for(spec.name)
    if padding == peer.padding and math.isclose(spec.bn_eps, eps, rel_tol=1e-9):
        return
    mismatch = (
        f"this model uses padding={padding!r}, bn_eps={spec.bn_eps:g}; {peer.name} builds "
        f"{peer.peer_model_name(spec.name)} with padding={peer.padding!r}, bn_eps={eps:g}"
    )
    if peer.name == "torchvision":
        hint = (
            "torchvision has no TensorFlow SAME padding; export to 'timm-tf' instead"
            if padding != "symmetric"
            else f"build torchvision.models.{peer.peer_model_name(spec.name)}(norm_layer="
            f"functools.partial(torch.nn.BatchNorm2d, eps={spec.bn_eps:g}))"
        )
    elif peer.name in ("timm", "timm-tf"):
        pad_type = "same" if padding == "same" else ""
        hint = (
            f"build timm.create_model('{_timm_name(spec.name)}', "
            f"bn_eps={spec.bn_eps:g}, pad_type={pad_type!r})"
        )
    else:
        hint = (
            f"build EfficientNet.from_name('{peer.peer_model_name(spec.name)}', "
            f"batch_norm_epsilon={spec.bn_eps:g})"
            if padding == "same"
            else "efficientnet-pytorch always pads SAME; export to 'timm' instead"
        )
    raise ValueError(f"{mismatch}. To use these weights there, {hint} and export with strict=False")
