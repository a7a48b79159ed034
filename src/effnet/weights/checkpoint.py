"""effnet's own weight file: safetensors with the architecture, classes and preprocessing inside.

A checkpoint that describes itself is what lets ``effnet eval`` and ``effnet predict`` run from the
file alone: the spec rebuilds the model, the class names label its outputs, the preprocessing
feeds it correctly. safetensors stores only tensors plus a str -> str header, so the metadata is
JSON in that header; nothing is unpickled.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..data.preprocess import Preprocess, default_preprocess
from ..fileio import atomic_write
from ..spec import NetSpec

if TYPE_CHECKING:
    from ..models import EfficientNet

FORMAT = "effnet/1"


class CheckpointMismatchError(ValueError):
    """A state dict that does not fit the model; the message names the first offending tensor."""


def load_state_dict_checked(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    source_names: Mapping[str, str] | None = None,
    source: str = "checkpoint",
) -> None:
    """``load_state_dict(strict=True)`` with one readable error instead of a wall of keys.

    Shapes are checked first, in the state's order, so a checkpoint of another variant reports the
    first tensor whose shape differs. ``source_names`` maps effnet keys to the names the tensors
    had in a peer's file (``source``), so converted checkpoints name both.
    """
    own = model.state_dict()
    names = source_names or {}

    def described(key: str) -> str:
        return f"{key!r} ({source} {names[key]!r})" if key in names else repr(key)

    for key, tensor in state.items():
        if key in own and own[key].shape != tensor.shape:
            raise CheckpointMismatchError(
                f"checkpoint tensor {described(key)} has shape {tuple(tensor.shape)} but the model "
                f"expects {tuple(own[key].shape)}; the checkpoint is for a different model or "
                "class count"
            )
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        first = f"missing {described(missing[0])}" if missing else f"unexpected {unexpected[0]!r}"
        raise CheckpointMismatchError(
            f"checkpoint does not fit the model: {len(missing)} missing and {len(unexpected)} "
            f"unexpected tensors (first: {first}); the checkpoint is for a different model"
        )
    model.load_state_dict(state)


def save_model(
    path: str | os.PathLike,
    model: EfficientNet,
    class_names: list[str] | None = None,
    preprocess: Preprocess | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (an effnet model) and its description atomically to ``path``.

    Class names and preprocessing default to what the model carries (``model.class_names``,
    ``model.preprocess``, set by conversion, pretrained loading and :func:`load_model`).
    """
    from safetensors.torch import save_file

    spec: NetSpec = model.spec
    num_classes = int(model.num_classes)
    if class_names is None:  # a carried list is stale once the classifier has been replaced
        carried = model.class_names
        class_names = carried if carried is not None and len(carried) == num_classes else None
    if preprocess is None:
        preprocess = model.preprocess
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for a {num_classes}-class model")
    meta = {
        "format": FORMAT,
        "spec": spec.to_json(),
        "num_classes": str(num_classes),
        "in_chans": str(model.in_chans),
        "padding": model.padding,
        "class_names": json.dumps(list(class_names)) if class_names is not None else "null",
        "preprocess": (preprocess or default_preprocess(spec)).to_json(),
        "extra": json.dumps(extra or {}),
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    path = Path(path)
    with atomic_write(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The decoded header of an effnet checkpoint (spec, classes, preprocessing, extra)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as err:  # safetensors raises its own error types for corrupt headers
        raise ValueError(f"{path} is not a readable safetensors file ({err})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not an effnet checkpoint (no '{FORMAT}' header)")
    return {
        "spec": NetSpec.from_json(meta["spec"]),
        "num_classes": int(meta["num_classes"]),
        "in_chans": int(meta.get("in_chans", 3)),
        "padding": meta.get("padding", "symmetric"),
        "class_names": json.loads(meta["class_names"]),
        "preprocess": Preprocess.from_json(meta["preprocess"]),
        "extra": json.loads(meta.get("extra", "{}")),
    }


def load_model(
    path: str | os.PathLike,
    map_location: str = "cpu",
    spec: NetSpec | None = None,
    **model_kwargs: Any,
) -> tuple[EfficientNet, dict]:
    """Rebuild the model a checkpoint describes and load its weights; returns (model, metadata).

    The model also carries ``preprocess``, ``class_names`` and ``weights_source`` from the file,
    so ``effnet.transforms_for(model)`` and a later ``save_model`` keep them. ``model_kwargs``
    (``dropout``, ``drop_path_rate``) and ``spec`` (one that builds the same layers, e.g. with
    another BN momentum for fine-tuning) change training choices, never the layers.
    """
    from safetensors.torch import load_file

    from ..models import EfficientNet

    meta = read_metadata(path)
    model = EfficientNet(
        spec or meta["spec"],
        num_classes=meta["num_classes"],
        in_chans=meta["in_chans"],
        padding=meta["padding"],
        **model_kwargs,
    )
    load_state_dict_checked(model, load_file(str(path), device=map_location))
    model.preprocess = meta["preprocess"]
    model.class_names = meta["class_names"]
    model.weights_source = str(path)
    return model, meta
