"""The one way to get a model: ``create_model`` (fresh or pretrained) and ``load`` (anything saved).

Training's init checkpoint, ``eval``, ``predict``, ``cam``, ``export``, ``finetune`` and
``create_model(pretrained=...)`` all come through here, so they agree on what a weights argument
may be and on the errors for a wrong one. What :func:`load` accepts:

- an effnet checkpoint (:mod:`effnet.weights.checkpoint`): architecture, class names and
  evaluation preprocessing come from the file; ``model``, if given, must name the same layers;
- a plain state dict (``.safetensors``, ``.pt``, ``.pth``, ``.bin``) together with ``model``;
- a registered pretrained weight name (``efficientnet_b0.tv_in1k``, or a tag with ``model``).

The result is an :class:`~effnet.models.EfficientNet` whose ``preprocess``, ``class_names`` and
``weights_source`` say what the weights expect and where they came from.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..fileio import existing_file
from ..registry import get_spec
from ..spec import NetSpec

if TYPE_CHECKING:  # torch loads only when a model is built
    import torch

    from ..models import EfficientNet

STATE_DICT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")


def create_model(
    name: str | NetSpec | os.PathLike,
    pretrained: bool | str | os.PathLike = False,
    num_classes: int = 1000,
    **overrides: Any,
) -> EfficientNet:
    """Build a model by name, spec or spec ``.json`` file.

    ``overrides`` go to :class:`~effnet.models.EfficientNet` (``padding``, ``dropout``,
    ``drop_path_rate``, ``features_only``, ``in_chans``). ``pretrained`` is ``True`` (the model's
    default weights), a registered weight tag or full name (downloaded once into the verified
    cache), or the path of an effnet ``.safetensors`` file; a ``num_classes`` other than the
    weights' own gets a fresh classifier for fine-tuning.
    """
    from ..models import EfficientNet

    spec = get_spec(name)
    if not pretrained:
        return EfficientNet(spec, num_classes=num_classes, **overrides)
    if _is_path(pretrained):
        in_chans = overrides.get("in_chans", 3)
        net = load_checkpoint_file(Path(pretrained), spec, build_wanted=True, **overrides)
        if net.in_chans != in_chans:
            raise ValueError(f"{pretrained} takes {net.in_chans}-channel input; need {in_chans}")
        if net.num_classes != num_classes and not net.features_only:
            net.reset_classifier(num_classes)
        return net
    from .hub import load_pretrained
    from .pretrained import get_weights

    weights = get_weights(spec.name, pretrained)
    if weights.model != spec.name:
        raise ValueError(f"{weights.name} holds weights for {weights.model}, not {spec.name}")
    return load_pretrained(weights, num_classes=num_classes, **overrides)


def load(
    path_or_name: str | os.PathLike,
    model: str | NetSpec | None = None,
    device: str | torch.device = "cpu",
) -> EfficientNet:
    """An eval-mode model on ``device`` from a checkpoint file or a pretrained weight name.

    ``model`` is needed for a plain state dict (which does not say what it is) and for a bare
    weight tag (``"tv_in1k"``); with an effnet checkpoint it is a check that the file holds the
    architecture the caller expects.
    """
    from ..models import resolve_device

    wanted = get_spec(model) if model is not None else None
    text = str(path_or_name)
    if not text:
        raise ValueError("no weights given: pass an effnet checkpoint or a pretrained weight name")
    path = Path(text)
    if path.is_file():
        net = load_checkpoint_file(path, wanted)
    elif _is_path(text):
        existing_file(path, "weights file")  # names what is there instead
    else:
        net = _load_registered(text, wanted)
    return with_default_metadata(net).eval().to(resolve_device(device))


def with_default_metadata(net: EfficientNet) -> EfficientNet:
    """Fill what a file left unsaid: class names "0".."n-1", the paper's preprocessing."""
    from .hub import preprocess_for

    net.class_names = net.labels()
    net.preprocess = preprocess_for(net)
    return net


def load_checkpoint_file(
    path: Path, wanted: NetSpec | None = None, build_wanted: bool = False, **overrides: Any
) -> EfficientNet:
    """An effnet checkpoint (its own spec) or a plain state dict (``wanted``'s spec).

    With ``build_wanted`` an effnet checkpoint is built as ``wanted`` (same layers, but its name,
    dropout or BN momentum), which is what ``create_model(name, pretrained=path)`` asks for.
    """
    if overrides.pop("features_only", False):  # a whole network's file, read as a backbone
        out_indices = overrides.pop("out_indices", None)
        net = load_checkpoint_file(path, wanted, build_wanted, **overrides)
        return net.as_features(out_indices)
    from .checkpoint import (
        NotEffnetCheckpointError,
        UnreadableCheckpointError,
        read_metadata,
        read_task,
    )

    if read_task(path) == "detection":
        raise ValueError(
            f"{path} is a detector checkpoint, not a classifier's: effnet.load returns it, and "
            "'effnet detect', 'effnet eval' and 'effnet export' run it"
        )
    try:
        spec = read_metadata(path)["spec"]
    except NotEffnetCheckpointError:  # not an effnet checkpoint: maybe a plain state dict
        return _load_state_dict_file(path, wanted, **overrides)
    except UnreadableCheckpointError:  # a damaged .safetensors is not "a plain state dict"
        if path.suffix.lower() == ".safetensors":
            raise
        return _load_state_dict_file(path, wanted, **overrides)
    differences = [] if wanted is None else architecture_differences(spec, wanted)
    if differences:
        raise ValueError(
            f"{path} is a checkpoint for {spec.name}, not {wanted.name}: its "
            f"{', '.join(differences)} differ; drop --model to use the architecture stored in "
            "the checkpoint"
        )
    from .checkpoint import load_model

    overrides.pop("in_chans", None)  # the file says how many input channels its stem takes
    # Built as asked, with the epsilon the weights were trained with (torchvision's 1e-5, say).
    build = wanted.replace(bn_eps=spec.bn_eps) if build_wanted and wanted is not None else None
    net, _ = load_model(path, spec=build, **overrides)
    return net


#: Spec fields that are training, naming or numeric choices rather than layers: a fine-tune may
#: change them, and the batch-norm epsilon belongs to the weights (each peer library has its own).
_NEUTRAL = dict(
    name="", resolution=1, dropout=0.0, drop_path_rate=0.0, bn_momentum=0.1, bn_eps=1e-3
)


def architecture_differences(a: NetSpec, b: NetSpec) -> list[str]:
    """The spec fields in which two specs build different layers (``stages[2].kernel``, ...),
    empty when they build the same ones."""
    a, b = a.replace(**_NEUTRAL), b.replace(**_NEUTRAL)
    differences = []
    for field in dataclasses.fields(a):
        mine, theirs = getattr(a, field.name), getattr(b, field.name)
        if mine == theirs:
            continue
        if field.name == "stages" and len(mine) == len(theirs):
            differences += [
                f"stages[{i}].{f.name}"
                for i, (x, y) in enumerate(zip(mine, theirs, strict=True))
                for f in dataclasses.fields(x)
                if getattr(x, f.name) != getattr(y, f.name)
            ]
        else:
            differences.append(field.name)
    return differences


def same_architecture(a: NetSpec, b: NetSpec) -> bool:
    """Whether two specs build the same layers (:func:`architecture_differences` finds none)."""
    return not architecture_differences(a, b)


def _is_path(value: Any) -> bool:
    """A path-like weights argument, as opposed to a registered weight tag or name."""
    if isinstance(value, os.PathLike):
        return True
    if not isinstance(value, str):
        return False
    path = Path(value)
    return path.is_file() or path.suffix.lower() in STATE_DICT_SUFFIXES or len(path.parts) > 1


def _load_state_dict_file(path: Path, wanted: NetSpec | None, **overrides: Any):
    from ..models import EfficientNet
    from .checkpoint import load_state_dict_checked
    from .convert import read_state_dict

    if wanted is None:
        raise ValueError(
            f"{path} is not an effnet checkpoint, so it does not say which model it is for; "
            "pass --model NAME as well"
        )
    state = read_state_dict(path)
    classifier = state.get("classifier.weight")
    num_classes = int(classifier.shape[0]) if classifier is not None else 1000
    net = EfficientNet(wanted, num_classes=num_classes, **overrides)
    load_state_dict_checked(net, state)
    net.weights_source = str(path)
    return net


def _load_registered(name: str, wanted: NetSpec | None):
    """A registered pretrained weight set (``efficientnet_b0.tv_in1k``, or a tag with a model).

    The weights arrive with their publisher's preprocessing and ImageNet class names attached.
    """
    from .hub import load_pretrained
    from .pretrained import get_weights

    if wanted is None and "." not in name:
        raise ValueError(
            f"--weights {name!r} is not an existing file; give a checkpoint path, a full weight "
            "name such as efficientnet_b0.tf_aa_in1k, or --model NAME with a weight tag"
        )
    weights = get_weights(wanted.name, name) if wanted is not None else get_weights(name)
    if wanted is not None and weights.model != wanted.name:
        raise ValueError(f"{weights.name} holds weights for {weights.model}, not {wanted.name}")
    try:
        return load_pretrained(weights)
    except OSError as err:  # download failures: one line, with the fetcher's reason
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"could not get pretrained weights {weights.name}: {err}") from None
