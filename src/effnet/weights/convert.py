"""Peer checkpoints in, effnet models out (and back): names, tensor order, numerics, preprocessing.

``convert_checkpoint(path, "timm-tf")`` reads a peer's file, renames every tensor with the peer's
table from :mod:`effnet.weights.layouts`, reorders Keras tensors into PyTorch's, and builds the
effnet model with the padding and BN epsilon the weights were trained under (the spec carries
``bn_eps``, the model ``padding``, and both are saved with the model), so its logits equal the
peer's. The preprocessing the weights expect rides along as ``model.preprocess``.

Pickled checkpoints are read only through ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.preprocess import IMAGENET_STD, Preprocess, default_preprocess
from ..models import EfficientNet
from ..registry import get_spec
from ..spec import NetSpec
from .checkpoint import CheckpointMismatchError, load_state_dict_checked
from .keras_h5 import KerasWeights, read_keras_weights
from .layouts import (
    BN,
    CONV,
    CONV_BIAS,
    DWCONV,
    LINEAR,
    TORCH_TENSORS,
    module_pairs,
    torch_key_map,
)
from .peers import KERAS_TO_UNIT_RANGE, Peer, get_peer

PeerState = Mapping[str, torch.Tensor] | KerasWeights

#: Wrappers that training scripts put around a state dict, tried in this order.
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "state_dict_ema", "model_ema")


class _NoInit(torch.overrides.TorchFunctionMode):
    """Skips the in-place random fills of weight initialisation (nothing to fill on meta)."""

    _FILLS = frozenset(
        {torch.Tensor.normal_, torch.Tensor.uniform_, torch.Tensor.erfinv_, torch.Tensor.zero_}
    )

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self._FILLS:
            return args[0]
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def shapes_only() -> Iterator[None]:
    """Build modules on the meta device without running their initialisation.

    For knowing shapes (which variant is this checkpoint?) and for models whose every tensor is
    about to be loaded; meta initialisation goes through slow Python decompositions otherwise.
    """
    with torch.device("meta"), _NoInit():
        yield


# --------------------------------------------------------------------------------------------------
# reading peer files


def read_checkpoint(source: str | os.PathLike | Mapping[str, Any], peer: str) -> PeerState:
    """A peer checkpoint as tensors: a Keras .h5, a safetensors file, a pickle, or a dict.

    Pickles go through ``torch.load(weights_only=True)``, which refuses arbitrary objects. Training
    checkpoints that wrap the weights (``{"state_dict": ...}``, DDP's ``module.`` prefix) are
    unwrapped.
    """
    info = get_peer(peer)
    if isinstance(source, Mapping):
        if info.file_kind == "keras":
            raise ValueError("Keras weights are read from their .h5 / .weights.h5 file")
        return _unwrap(source, "the given state dict")
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if info.file_kind == "keras":
        return read_keras_weights(path)
    if path.suffix in (".h5", ".hdf5", ".keras"):
        raise ValueError(f"{path} looks like a Keras file; convert it with peer 'keras'")
    return read_state_dict(path)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a PyTorch (``.pt``/``.pth``/``.bin``) or safetensors weight file.

    Pickles go through ``torch.load(weights_only=True)``; wrappers and DDP's ``module.`` prefix
    are removed. Used for peers' files and for plain effnet state dicts alike.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return _unwrap(load_file(str(path)), str(path))
        except Exception as err:  # safetensors raises its own error types for corrupt files
            raise ValueError(f"{path} is not a readable safetensors file ({err})") from None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors have many types; the message is what matters
        raise ValueError(
            f"{path} is not a PyTorch checkpoint that loads with weights_only=True ({err})"
        ) from None
    if not isinstance(loaded, Mapping):
        raise ValueError(f"{path} holds a {type(loaded).__name__}, not a state dict")
    return _unwrap(loaded, str(path))


def _unwrap(state: Mapping[str, Any], where: str) -> dict[str, torch.Tensor]:
    for key in _WRAPPER_KEYS:
        inner = state.get(key)
        if isinstance(inner, Mapping) and inner and all(torch.is_tensor(v) for v in inner.values()):
            state = inner
            break
    tensors = {k: v for k, v in state.items() if torch.is_tensor(v)}
    if not tensors:
        raise ValueError(f"{where} contains no tensors")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k.removeprefix("module."): v for k, v in tensors.items()}
    return tensors


# --------------------------------------------------------------------------------------------------
# peer -> effnet


def peer_spec(peer: Peer, model: str | NetSpec) -> NetSpec:
    """The spec a peer's weights need: the variant with the peer's BN epsilon."""
    spec = get_spec(model)
    return spec.replace(bn_eps=peer.eps_for(spec.name))


def to_effnet_state(
    state: PeerState, peer: Peer, spec: NetSpec, num_classes: int
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Rename (and for Keras reorder) a peer's tensors into effnet's state-dict layout.

    Returns the state and, for error messages, each effnet key's name in the peer's file. Peer
    tensors that no effnet module claims stay in the state under their own names, so the loader
    reports them as unexpected instead of dropping them silently.
    """
    pairs = list(module_pairs(peer.layout, spec, num_classes))
    if isinstance(state, KerasWeights):
        return _from_keras(state, pairs)
    out: dict[str, torch.Tensor] = {}
    names: dict[str, str] = {}
    used: set[str] = set()
    for pair in pairs:
        for tensor in TORCH_TENSORS[pair.kind]:
            source = f"{pair.peer}.{tensor}"
            target = f"{pair.effnet}.{tensor}"
            names[target] = source
            if source in state:
                out[target] = state[source]
                used.add(source)
            elif tensor == "num_batches_tracked":  # absent from older and ported checkpoints
                out[target] = torch.tensor(0, dtype=torch.long)
    for key, value in state.items():
        if key not in used:
            out.setdefault(key, value)
    return out, names


def _from_keras(
    weights: KerasWeights, pairs: Sequence[Any]
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Keras keeps conv kernels as HWIO, depthwise kernels as (H, W, C, 1), dense as (in, out)."""
    out: dict[str, torch.Tensor] = {}
    names: dict[str, str] = {}
    used: set[str] = set()
    for pair in pairs:
        arrays = weights.layers.get(pair.peer)
        for i, tensor in enumerate(TORCH_TENSORS[pair.kind]):
            names[f"{pair.effnet}.{tensor}"] = f"{pair.peer}/{i}"
        if arrays is None:
            continue
        used.add(pair.peer)
        expected = 4 if pair.kind == BN else len(TORCH_TENSORS[pair.kind])
        if len(arrays) != expected:
            raise CheckpointMismatchError(
                f"Keras layer {pair.peer!r} has {len(arrays)} tensors, but effnet's "
                f"{pair.effnet!r} ({pair.kind}) needs {expected}"
            )
        values = _keras_tensors(pair.kind, arrays)
        for tensor, value in zip(TORCH_TENSORS[pair.kind], values, strict=True):
            out[f"{pair.effnet}.{tensor}"] = value
    for layer, arrays in weights.layers.items():
        if layer not in used and not layer.startswith("normalization"):
            for i, array in enumerate(arrays):
                out.setdefault(f"{layer}/{i}", torch.from_numpy(np.asarray(array)))
    return out, names


def _keras_tensors(kind: str, arrays: Sequence[np.ndarray]) -> list[torch.Tensor]:
    def t(array: np.ndarray, *order: int) -> torch.Tensor:
        array = np.asarray(array, dtype=np.float32)
        return torch.from_numpy(np.ascontiguousarray(array.transpose(order) if order else array))

    if kind in (CONV, CONV_BIAS):
        return [t(arrays[0], 3, 2, 0, 1), *(t(a) for a in arrays[1:])]
    if kind == DWCONV:
        return [t(arrays[0], 2, 3, 0, 1)]
    if kind == LINEAR:
        return [t(arrays[0], 1, 0), t(arrays[1])]
    if kind == BN:  # gamma, beta, moving mean, moving variance
        return [*(t(a) for a in arrays), torch.tensor(0, dtype=torch.long)]
    raise ValueError(f"unknown module kind {kind!r}")


def checkpoint_classes(state: PeerState, peer: Peer) -> int:
    """The classifier width a checkpoint was saved with (0 when it has no classifier)."""
    if isinstance(state, KerasWeights):
        arrays = state.layers.get(peer.layout.classifier)
        return int(np.asarray(arrays[0]).shape[1]) if arrays else 0
    weight = state.get(f"{peer.layout.classifier}.weight")
    return int(weight.shape[0]) if weight is not None else 0


def infer_model(state: PeerState, peer: str) -> str:
    """Which EfficientNet variant a checkpoint holds, told from its tensor names and shapes."""
    info = get_peer(peer)
    num_classes = checkpoint_classes(state, info)
    for name in info.models:
        spec = peer_spec(info, name)
        try:
            converted, _ = to_effnet_state(state, info, spec, num_classes)
        except CheckpointMismatchError:
            continue
        if converted.keys() != set(torch_key_map(info.layout, spec, num_classes)):
            continue  # block counts differ: no need to build the model to compare shapes
        with shapes_only():
            expected = EfficientNet(spec, num_classes=num_classes).state_dict()
        if all(converted[k].shape == v.shape for k, v in expected.items()):
            return name
    raise ValueError(
        f"this {peer} checkpoint matches none of {', '.join(info.models)}; "
        "pass the model name explicitly to see the first tensor that differs"
    )


def convert_checkpoint(
    source: str | os.PathLike | Mapping[str, Any],
    peer: str,
    model: str | NetSpec | None = None,
    *,
    num_classes: int | None = None,
    preprocess: Preprocess | None = None,
    class_names: Sequence[str] | None = None,
    imagenet_rescaling: bool | None = None,
    **model_kwargs: Any,
) -> EfficientNet:
    """Load a peer's checkpoint into an effnet model that computes exactly what the peer does.

    Args:
        source: checkpoint path (Keras ``.weights.h5``/``.h5``; ``.pth``/``.pt``/``.bin``;
            ``.safetensors``) or an in-memory state dict.
        peer: ``torchvision``, ``timm``, ``timm-tf`` (timm's ``tf_efficientnet_*``),
            ``lukemelas`` (efficientnet-pytorch) or ``keras``.
        model: effnet model name; told from the checkpoint's shapes when omitted.
        num_classes: expected classifier width; by default the checkpoint's.
        preprocess: evaluation preprocessing to attach; by default the peer's published one for
            this variant (Keras: the normalisation stored in the file).
        class_names: labels to attach; 1000-class checkpoints get ImageNet-1k's by default.
        imagenet_rescaling: Keras only, see :func:`keras_preprocess`.
        model_kwargs: passed to :class:`~effnet.models.EfficientNet` (``dropout``,
            ``drop_path_rate``, ``features_only``).

    Returns the model (in train mode, like any freshly built module) with ``model.preprocess``
    and ``model.class_names`` set. Shape mismatches raise one
    :class:`~effnet.weights.CheckpointMismatchError` naming the first tensor and both shapes.
    """
    info = get_peer(peer)
    if "padding" in model_kwargs and model_kwargs.pop("padding") != info.padding:
        raise ValueError(
            f"{peer} weights were trained with {info.padding!r} padding; any other padding "
            "silently costs accuracy"
        )
    state = read_checkpoint(source, peer)
    _warn_if_tf_port(source, info)
    name = model if model is not None else infer_model(state, peer)
    spec = peer_spec(info, name)
    classes = checkpoint_classes(state, info) if num_classes is None else num_classes
    with shapes_only():  # every tensor is loaded below; random init would be wasted
        net = EfficientNet(spec, num_classes=classes, padding=info.padding, **model_kwargs)
    net.to_empty(device="cpu")
    converted, names = to_effnet_state(state, info, spec, classes)
    if net.features_only:  # a feature extractor keeps everything up to the last stage
        converted = {
            k: v for k, v in converted.items() if not k.startswith(("head.", "classifier."))
        }
    load_state_dict_checked(net, converted, source_names=names, source=peer)

    if isinstance(state, KerasWeights):
        pre = preprocess or keras_preprocess(state, spec, imagenet_rescaling)
    else:
        pre = preprocess or published_preprocess(info, spec)
    if class_names is None and classes == 1000:
        from .imagenet_classes import IMAGENET1K_CLASSES

        class_names = IMAGENET1K_CLASSES
    net.preprocess = pre
    net.class_names = list(class_names) if class_names is not None else None
    return net


def published_preprocess(peer: Peer, spec: NetSpec) -> Preprocess:
    """The peer's own evaluation preprocessing for this variant, else the paper's."""
    from .pretrained import WEIGHTS

    for weights in WEIGHTS.values():
        if weights.peer == peer.name and weights.model == spec.name:
            return weights.preprocess
    return default_preprocess(spec)


def keras_preprocess(
    weights: KerasWeights, spec: NetSpec, imagenet_rescaling: bool | None = None
) -> Preprocess:
    """The input normalisation a Keras EfficientNet applies inside the model, as metadata.

    Keras feeds 0-255 pixels through ``Rescaling(1/255)`` and ``Normalization(mean, variance)``,
    so on [0, 1] pixels the mean is the layer's mean and the std the root of its variance.
    Keras's ImageNet files store the *std* in the variance slot, and ``weights="imagenet"`` adds
    ``Rescaling(1/sqrt(std))`` to make up for it (keras' efficientnet.py); then the effective std
    is ``sqrt(variance * std)``. ``imagenet_rescaling=None`` assumes that extra layer exactly when
    the stored variance equals ImageNet's std.
    """
    stats = weights.normalization()
    if stats is None and spec.name in KERAS_TO_UNIT_RANGE:  # V2-S/M/L: x / 128 - 1, no weights
        return Preprocess(spec.resolution, mean=(128 / 255,) * 3, std=(128 / 255,) * 3)
    if stats is None:
        return default_preprocess(spec)
    mean, variance = stats
    if imagenet_rescaling is None:
        imagenet_rescaling = bool(np.allclose(variance, IMAGENET_STD, atol=1e-4))
    scale = np.asarray(IMAGENET_STD) if imagenet_rescaling else 1.0
    std = np.sqrt(variance * scale)
    return Preprocess(
        resolution=spec.resolution,
        mean=tuple(round(float(m), 7) for m in mean),
        std=tuple(round(float(s), 7) for s in std),
    )


def _warn_if_tf_port(source: Any, peer: Peer) -> None:
    """timm's ``tf_`` files loaded as plain timm lose 1-2% top-1 without any error."""
    if peer.name == "timm" and not isinstance(source, Mapping) and "tf_" in Path(source).name:
        warnings.warn(
            f"{Path(source).name} looks like one of timm's TensorFlow ports; those need "
            "peer 'timm-tf' (SAME padding, BN eps 1e-3)",
            stacklevel=3,
        )
