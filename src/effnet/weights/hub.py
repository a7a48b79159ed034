"""Pretrained models by name, and the evaluation transform that belongs to any model or weights.

``load_pretrained("efficientnet_b3.tf_aa_in1k")`` = look the weights up in the registry, fetch
them into the verified cache, convert them with the numerics they were trained under, and attach
their preprocessing and class names. ``create_model(name, pretrained=...)`` calls this.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.preprocess import Preprocess, default_preprocess, eval_transform
from .fetch import NoNetworkError, OfflineError, download
from .local import is_local, verified_local_file
from .pretrained import WeightSet, get_weights

if TYPE_CHECKING:  # torch and torchvision load only when a model or transform is built
    from torchvision.transforms import Compose

    from ..models import EfficientNet


def load_pretrained(
    weights: str | WeightSet,
    *,
    num_classes: int | None = None,
    offline: bool | None = None,
    progress: bool = True,
    **model_kwargs: Any,
) -> EfficientNet:
    """An effnet model holding the named published weights, ready to evaluate or fine-tune.

    ``num_classes`` other than the weights' own replaces the classifier with a fresh one (for
    fine-tuning); the rest of the network keeps its pretrained weights. ``offline`` (default:
    ``EFFNET_OFFLINE``) uses the cache only.
    """
    from .convert import convert_checkpoint

    ws = weights if isinstance(weights, WeightSet) else get_weights(weights)
    in_chans = model_kwargs.pop("in_chans", 3)
    if in_chans != 3:
        raise ValueError(f"{ws.name} was trained on RGB images; in_chans={in_chans} cannot load it")
    path = _weights_file(ws, offline, progress)
    model = convert_checkpoint(
        path,
        ws.peer,
        ws.model,
        num_classes=ws.num_classes,
        preprocess=ws.preprocess,
        class_names=ws.class_names,
        **model_kwargs,
    )
    if num_classes is not None and num_classes != ws.num_classes and not model.features_only:
        model.reset_classifier(num_classes)  # and forgets the 1000 ImageNet class names
    model.weights_source = ws.name
    return model


def _weights_file(ws: WeightSet, offline: bool | None, progress: bool) -> Path:
    """The verified file of ``ws``: in place for local entries, else from the cache or the web.

    When the file is neither here nor reachable, the error also names the weight sets that are
    usable on this machine, so the next try can pick one of them.
    """
    if is_local(ws.url):
        return verified_local_file(ws.url, ws.sha256, ws.install_hint)
    try:
        return download(
            ws.url, ws.sha256, ws.file_name, offline=offline, progress=progress,
            max_bytes=ws.max_bytes,
        )  # fmt: skip
    except (NoNetworkError, OfflineError) as err:
        from .available import usable_hint

        raise type(err)(f"{err}; {usable_hint(instead_of=ws.name)}") from None


def transforms_for(target: Any) -> Compose:
    """The torchvision eval transform (resize, center crop, normalise) that ``target`` expects.

    ``target`` may be a model (uses the preprocessing its weights came with, else the paper's
    default for its spec), a weight name (``"efficientnet_b0.tv_in1k"``) or
    :class:`~effnet.weights.pretrained.WeightSet`, a model name (its default weights' preprocessing
    if it has any), an effnet checkpoint path, or a :class:`~effnet.data.Preprocess`.
    """
    return eval_transform(preprocess_for(target))


def preprocess_for(target: Any) -> Preprocess:
    """The :class:`~effnet.data.Preprocess` behind :func:`transforms_for`."""
    from ..registry import get_spec
    from .pretrained import WEIGHTS, default_weights

    if isinstance(target, Preprocess):
        return target
    if isinstance(target, WeightSet):
        return target.preprocess
    if hasattr(target, "spec"):  # an effnet model
        return target.preprocess or default_preprocess(target.spec)
    if isinstance(getattr(target, "preprocess", None), Preprocess):  # a deployed model
        return target.preprocess
    if isinstance(target, (str, os.PathLike)):
        text = str(target)
        if text.endswith(".safetensors"):
            from .checkpoint import read_metadata

            return read_metadata(Path(text))["preprocess"]
        if text in WEIGHTS:
            return WEIGHTS[text].preprocess
        spec = get_spec(text)
        try:
            return default_weights(spec.name).preprocess
        except ValueError:  # no registered weights: the paper's evaluation preprocessing
            return default_preprocess(spec)
    raise TypeError(
        "transforms_for takes a model, a model or weight name, a WeightSet, a checkpoint path or "
        f"a Preprocess, not {type(target).__name__}"
    )
