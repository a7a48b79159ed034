"""The libraries whose EfficientNet checkpoints effnet loads, and how each one computes.

Names are only half of loading a checkpoint (:mod:`effnet.weights.layouts`); the other half is
the arithmetic the weights were trained under. Two settings decide whether the logits come out
equal, and both fail silently when wrong (docs/paper.md section 9):

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

from .layouts import KERAS, KERAS_V2, LUKEMELAS, TIMM, TORCHVISION, Layout

_B0_B7 = tuple(f"efficientnet_b{i}" for i in range(8))
_ALL = (*_B0_B7, "efficientnet_b8", "efficientnet_l2")
_LITE = tuple(f"efficientnet_lite{i}" for i in range(5))
_EDGETPU = ("efficientnet_es", "efficientnet_em", "efficientnet_el")
#: EfficientNetV2 (effnet.variants_v2): torchvision has S/M/L, timm's own S/M/L/XL, its tf_ all.
_V2_TORCHVISION = ("efficientnetv2_s", "efficientnetv2_m", "efficientnetv2_l")
_V2_TIMM = (*_V2_TORCHVISION, "efficientnetv2_xl")
_V2 = (*(f"efficientnetv2_b{i}" for i in range(4)), *_V2_TIMM)
_V2_KERAS = _V2[:-1]  # Keras has no V2-XL
#: Keras models that rescale 0-255 pixels to [-1, 1] inside the model, with no weights in the
#: file to say so (Keras's EfficientNetV2-S/M/L; its V2-B* normalise with ImageNet's mean/std).
KERAS_TO_UNIT_RANGE = frozenset(_V2_TORCHVISION)


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
    #: Peer names that ``model_name`` cannot format (EfficientNetV2's), by effnet name.
    model_names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def eps_for(self, model: str) -> float:
        """The BN epsilon this peer builds ``model`` with."""
        return self.bn_eps_overrides.get(model, self.bn_eps)

    def peer_model_name(self, model: str) -> str:
        """The peer's name for an effnet model (``efficientnet_b3`` -> ``tf_efficientnet_b3``)."""
        if model in self.model_names:
            return self.model_names[model]
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
                {
                    "efficientnet_b5": 1e-3,
                    "efficientnet_b6": 1e-3,
                    "efficientnet_b7": 1e-3,
                    **dict.fromkeys(_V2_TORCHVISION, 1e-3),
                }
            ),
            models=(*_B0_B7, *_V2_TORCHVISION),
            model_name="efficientnet_{v}",
            model_names=MappingProxyType(
                {name: name.replace("v2_", "_v2_") for name in _V2_TORCHVISION}
            ),
            summary="torchvision.models.efficientnet_b*, efficientnet_v2_s/m/l: symmetric "
            "padding, BN eps 1e-5 (1e-3 for B5-B7 and V2)",
        ),
        Peer(
            "timm",
            TIMM,
            padding="symmetric",
            bn_eps=1e-5,
            models=(*_ALL, *_LITE, *_EDGETPU, *_V2_TIMM),
            model_name="efficientnet_{v}",
            model_names=MappingProxyType({name: name for name in _V2_TIMM}),
            summary="timm efficientnet_b*, _lite*, _es/em/el, efficientnetv2_s/m/l/xl (trained in "
            "PyTorch): symmetric padding, BN eps 1e-5",
        ),
        Peer(
            "timm-tf",
            TIMM,
            padding="same",
            bn_eps=1e-3,
            models=(*_ALL, *_LITE, *_EDGETPU, *_V2),
            model_name="tf_efficientnet_{v}",
            model_names=MappingProxyType({name: f"tf_{name}" for name in _V2}),
            summary="timm tf_efficientnet_b*, _lite*, _es/em/el, tf_efficientnetv2_* (ported from "
            "TensorFlow): SAME padding, BN eps 1e-3",
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
            "lite-pytorch",
            LUKEMELAS,
            padding="same",
            bn_eps=1e-3,
            models=_LITE,
            model_name="efficientnet-{v}",
            summary="efficientnet-lite-pytorch EfficientNet.from_name('efficientnet-lite0') (the "
            "efficientnet-pytorch naming with Lite's blocks): SAME padding, BN eps 1e-3",
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
        Peer(
            "keras-v2",
            KERAS_V2,
            padding="same",
            bn_eps=1e-3,
            models=_V2_KERAS,
            model_name="EfficientNetV2{V}",
            model_names=MappingProxyType(
                {name: f"EfficientNetV2{name.split('_')[1].upper()}" for name in _V2_KERAS}
            ),
            file_kind="keras",
            summary="keras.applications.EfficientNetV2B0-B3/S/M/L .weights.h5: SAME padding, BN "
            "eps 1e-3; inputs 0-255, normalised inside the model (B*: ImageNet mean/std; S/M/L: "
            "to [-1, 1])",
        ),
    )
}


def get_peer(name: str) -> Peer:
    """The peer called ``name``; the error lists the known ones."""
    try:
        return PEERS[name]
    except KeyError:
        raise ValueError(f"unknown checkpoint source {name!r}; known: {', '.join(PEERS)}") from None
