"""The libraries whose EfficientNet checkpoints effnet loads, and how each one computes.

Names are only half of loading a checkpoint (:mod:`effnet.weights.layouts`); the other half is
the arithmetic the weights were trained under. Two settings decide whether the logits come out
equal, and both fail silently when wrong (PAPER.md section 9):

- **padding**: TensorFlow-trained weights (timm's ``tf_*``, efficientnet-pytorch, Keras) expect
  "SAME" padding; PyTorch-trained ones (torchvision, timm's own) expect symmetric padding.
- **BN epsilon**: PyTorch's default 1e-5 (timm's own models, torchvision B0-B4) or TensorFlow's
  1e-3 (timm ``tf_*``, efficientnet-pytorch, Keras, and torchvision B5-B7, whose weights were
  ported from efficientnet-pytorch).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .layouts import KERAS, LUKEMELAS, TIMM, TORCHVISION, Layout

_B0_B7 = tuple(f"efficientnet_b{i}" for i in range(8))
_ALL = (*_B0_B7, "efficientnet_b8", "efficientnet_l2")


@dataclass(frozen=True)
class Peer:
    """One library's EfficientNet: its layout, numerics and names.

    ``model_name`` formats the peer's own constructor name from the variant (``b0`` ... ``l2``):
    ``{v}`` lower case, ``{V}`` upper case.
    """

    name: str
    layout: Layout
    padding: str
    bn_eps: float
    models: tuple[str, ...]
    model_name: str
    file_kind: str = "torch"
    bn_eps_overrides: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    summary: str = ""

    def eps_for(self, model: str) -> float:
        """The BN epsilon this peer builds ``model`` with."""
        return self.bn_eps_overrides.get(model, self.bn_eps)

    def peer_model_name(self, model: str) -> str:
        """The peer's name for an effnet model (``efficientnet_b3`` -> ``tf_efficientnet_b3``)."""
        variant = model.removeprefix("efficientnet_")
        return self.model_name.format(v=variant, V=variant.upper())


PEERS: dict[str, Peer] = {
    peer.name: peer
    for peer in (
        Peer(
            "torchvision",
            TORCHVISION,
            padding="symmetric",
            bn_eps=1e-5,
            bn_eps_overrides=MappingProxyType(
                {"efficientnet_b5": 1e-3, "efficientnet_b6": 1e-3, "efficientnet_b7": 1e-3}
            ),
            models=_B0_B7,
            model_name="efficientnet_{v}",
            summary="torchvision.models.efficientnet_b*: symmetric padding, BN eps 1e-5 "
            "(1e-3 for B5-B7)",
        ),
        Peer(
            "timm",
            TIMM,
            padding="symmetric",
            bn_eps=1e-5,
            models=_ALL,
            model_name="efficientnet_{v}",
            summary="timm efficientnet_b* (trained in PyTorch): symmetric padding, BN eps 1e-5",
        ),
        Peer(
            "timm-tf",
            TIMM,
            padding="same",
            bn_eps=1e-3,
            models=_ALL,
            model_name="tf_efficientnet_{v}",
            summary="timm tf_efficientnet_b* (ported from TensorFlow): SAME padding, BN eps 1e-3",
        ),
        Peer(
            "lukemelas",
            LUKEMELAS,
            padding="same",
            bn_eps=1e-3,
            models=_ALL,
            model_name="efficientnet-{v}",
            summary="efficientnet-pytorch EfficientNet.from_name/from_pretrained: SAME padding, "
            "BN eps 1e-3",
        ),
        Peer(
            "keras",
            KERAS,
            padding="same",
            bn_eps=1e-3,
            models=_B0_B7,
            model_name="EfficientNet{V}",
            file_kind="keras",
            summary="keras.applications.EfficientNetB* .weights.h5 / .h5: SAME padding, BN eps "
            "1e-3, normalisation inside the model",
        ),
    )
}


def get_peer(name: str) -> Peer:
    """The peer called ``name``; the error lists the known ones."""
    try:
        return PEERS[name]
    except KeyError:
        raise ValueError(f"unknown checkpoint source {name!r}; known: {', '.join(PEERS)}") from None
