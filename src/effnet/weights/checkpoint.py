"""effnet's own weight file: safetensors with the architecture, classes and preprocessing inside.

A checkpoint that describes itself is what lets ``effnet eval`` and ``effnet predict`` run from the
file alone: the spec rebuilds the model, the class names label its outputs, the preprocessing
feeds it correctly. safetensors stores only tensors plus a str -> str header, so the metadata is
JSON in that header; nothing is unpickled.

Nothing in a file is trusted: a header field that is missing or malformed is an error naming the
file and the field, and weights are refused (naming the tensor) when their dtype cannot hold the
model's values (int8 for a float weight) or when they hold NaN or infinity, which would make every
prediction NaN.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..data.preprocess import Preprocess, default_preprocess
from ..fileio import existing_file, write_with
from ..flops import check_size, count
from ..spec import NetSpec

if TYPE_CHECKING:
    from ..models import EfficientNet

FORMAT = "effnet/1"
#: The header ``format`` of a detector file (:mod:`effnet.detection.checkpoint` writes it).
DETECTOR_FORMAT = "effnet-det/1"
#: What a checkpoint's header ``task`` may say; every command dispatches on it (:func:`read_task`).
TASKS = ("classification", "detection")


class CheckpointMismatchError(ValueError):
    """A state dict that does not fit the model; the message names the first offending tensor."""


class UnreadableCheckpointError(ValueError):
    """The file is not a readable safetensors file (empty, truncated or damaged)."""


class NotEffnetCheckpointError(ValueError):
    """A readable safetensors file without effnet's header: a plain state dict, perhaps."""


#: What a malformed header value makes the parsers raise (RecursionError: JSON nested too deep).
_BAD_FIELD = (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError)


def check_tensors(
    own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], source: str
) -> None:
    """Refuse tensors whose dtype cannot hold the model's values, and NaN or infinite weights."""
    for key, tensor in state.items():
        if key not in own:
            continue
        if own[key].is_floating_point() and not tensor.is_floating_point():
            raise CheckpointMismatchError(
                f"{source}: tensor {key!r} is {str(tensor.dtype).removeprefix('torch.')}, not a "
                "floating-point type; the file is quantized or damaged and cannot be loaded"
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointMismatchError(
                f"{source}: tensor {key!r} holds {bad} NaN or infinite values; the weights are "
                "damaged (or saved from a diverged run) and would make every output NaN"
            )


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
    check_tensors(own, state, source)

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
    from safetensors.torch import save

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
        "task": "classification",
        "spec": spec.to_json(),
        "num_classes": str(num_classes),
        "in_chans": str(model.in_chans),
        "padding": model.padding,
        "class_names": json.dumps(list(class_names)) if class_names is not None else "null",
        "preprocess": (preprocess or default_preprocess(spec)).to_json(),
        "extra": json.dumps(extra or {}),
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    # Serialised in memory and written by Python, so a full disk is an OSError naming the file
    # (safetensors' own writer reports it as an opaque SafetensorError).
    return write_with(path, lambda f: f.write(save(tensors, metadata=meta)))


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The decoded header of an effnet checkpoint (spec, classes, preprocessing, extra)."""
    from safetensors import safe_open

    path = existing_file(path, "checkpoint")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            held = sum(math.prod(f.get_slice(key).get_shape()) for key in f.keys())  # noqa: SIM118
    except Exception as err:  # safetensors raises its own error types for corrupt headers
        size = path.stat().st_size
        what = "empty (0 bytes)" if size == 0 else f"truncated or damaged ({size} bytes: {err})"
        raise UnreadableCheckpointError(
            f"{path} is not a readable safetensors file: it is {what}"
        ) from None
    if meta.get("format") != FORMAT:
        raise NotEffnetCheckpointError(f"{path} is not an effnet checkpoint (no '{FORMAT}' header)")
    header = {
        "spec": _field(path, meta, "spec", NetSpec.from_json),
        "num_classes": _field(path, meta, "num_classes", _positive_int),
        "in_chans": _field(path, meta, "in_chans", _positive_int, "3"),
        "padding": _field(path, meta, "padding", str, "symmetric"),
        "class_names": _class_names(path, meta),
        "preprocess": _field(path, meta, "preprocess", Preprocess.from_json),
        "extra": _field(path, meta, "extra", _json_object, "{}"),
    }
    _check_size(path, header, held)
    return header


def read_header(path: str | os.PathLike) -> dict[str, str]:
    """The raw safetensors header of a checkpoint file (empty for a file of another format).

    The one reader of a header as text, for every kind of checkpoint: the file must exist (a
    folder is named as one), and a damaged file is :class:`UnreadableCheckpointError`.
    """
    from safetensors import safe_open

    path = existing_file(path, "checkpoint")
    if path.suffix.lower() != ".safetensors":
        return {}
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as err:  # safetensors raises its own error types for corrupt headers
        raise UnreadableCheckpointError(
            f"{path} is not a readable safetensors file ({err})"
        ) from None


def read_task(path: str | os.PathLike) -> str:
    """The task of the model a checkpoint holds: ``"classification"`` or ``"detection"``.

    The header's ``task`` says it; a file written before the field existed is a detector when its
    ``format`` is the detector's and a classifier otherwise. Anything that is not a readable
    safetensors file (a weight name, a ``.pth``, a damaged file) counts as a classifier, so the
    classifier's loader gives its own error for it.
    """
    if not Path(path).is_file():
        return "classification"
    try:
        meta = read_header(path)
    except UnreadableCheckpointError:
        return "classification"
    if "task" not in meta:
        return "detection" if meta.get("format") == DETECTOR_FORMAT else "classification"
    if meta["task"] not in TASKS:
        raise ValueError(
            f"{path}: header field 'task' is invalid ({meta['task'][:40]!r}; expected one of "
            f"{', '.join(TASKS)})"
        )
    return meta["task"]


def _check_size(path: Path, header: dict[str, Any], held: int) -> None:
    """Bound the model the header describes before anything is built from it: at the spec's own
    resolution and at the one its preprocessing feeds it (each field may be in range while the
    whole would not fit in memory), and to the weights the file holds (a header describing a
    model many times larger than its tensors belongs to other weights; building it first would
    cost the memory of the model the header claims)."""
    spec = header["spec"]
    for field, resolution in (
        ("spec", spec.resolution),
        ("preprocess", header["preprocess"].resolution),
    ):
        try:
            check_size(spec, header["num_classes"], resolution, header["in_chans"])
        except ValueError as err:
            raise ValueError(f"{path}: header field {field!r} is invalid ({err})") from None
    params = count(spec, header["num_classes"], in_chans=header["in_chans"]).params
    if params > 2 * held:
        raise ValueError(
            f"{path}: header field 'spec' describes a model of {params:,} parameters but the file "
            f"holds {held:,} values; the header does not belong to these weights"
        )


def _field(path: Path, meta: dict[str, str], name: str, parse: Any, default: str | None = None):
    """Header field ``name`` parsed by ``parse``; a missing or bad one names the file and field."""
    if name not in meta and default is None:
        raise ValueError(f"{path}: the effnet header has no {name!r} field; the file is damaged")
    try:
        return parse(meta.get(name, default))
    except _BAD_FIELD as err:
        reason = _reason(err)
        raise ValueError(f"{path}: header field {name!r} is invalid ({reason})") from None


def _reason(err: BaseException) -> str:
    if isinstance(err, RecursionError):
        return "JSON nested too deeply"
    if isinstance(err, KeyError):
        return f"missing key {err}"
    return str(err)[:200]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"expected a positive integer, got {value}")
    return value


def _json_object(text: str) -> dict:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _class_names(path: Path, meta: dict[str, str]) -> list[str] | None:
    """The class list: null, or exactly ``num_classes`` strings."""

    def parse(text: str) -> list[str] | None:
        names = json.loads(text)
        if names is None:
            return None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("expected a JSON list of strings or null")
        count = _positive_int(meta.get("num_classes", "0"))
        if len(names) != count:
            raise ValueError(f"{len(names)} names for a {count}-class classifier")
        return names

    return _field(path, meta, "class_names", parse)


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
    load_state_dict_checked(model, load_file(str(path), device=map_location), source=str(path))
    model.preprocess = meta["preprocess"]
    model.class_names = meta["class_names"]
    model.weights_source = str(path)
    return model, meta
