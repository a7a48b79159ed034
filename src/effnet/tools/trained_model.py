"""``--model`` / ``--weights`` -> an eval-mode model with its class names and preprocessing.

Every command that runs a trained model (eval, predict, cam, export, finetune) resolves its
weights here, so they agree on what a weights argument may be and on the errors for a wrong one:

- an effnet checkpoint (``effnet.weights.checkpoint``): architecture, class names and evaluation
  preprocessing come from the file; ``--model``, if given, must name the same architecture;
- a plain state dict (``.safetensors``, ``.pt``, ``.pth``) together with ``--model``;
- a registered pretrained weight name (``create_model(model, pretrained=name)``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.preprocess import Preprocess, default_preprocess
from ..spec import NetSpec

STATE_DICT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")


@dataclass
class TrainedModel:
    """A model ready for inference and what is needed to feed it and read its outputs."""

    model: nn.Module
    class_names: list[str]
    preprocess: Preprocess
    source: str

    @property
    def name(self) -> str:
        spec = getattr(self.model, "spec", None)
        return spec.name if spec is not None else type(self.model).__name__


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` is the first GPU when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but no CUDA GPU is available")
    return device


def same_architecture(a: NetSpec, b: NetSpec) -> bool:
    """Whether two specs build the same layers.

    Name, nominal resolution, dropout, stochastic depth and batch-norm momentum are training or
    naming choices (a fine-tune may change them); the layers and their shapes are what must agree.
    """
    neutral = dict(name="", resolution=1, dropout=0.0, drop_path_rate=0.0, bn_momentum=0.1)
    return a.replace(**neutral) == b.replace(**neutral)


def default_class_names(num_classes: int) -> list[str]:
    return [str(i) for i in range(num_classes)]


def load_trained_model(
    model: str | None = None,
    weights: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    require_weights: bool = True,
) -> TrainedModel:
    """Resolve ``--model`` / ``--weights`` into an eval-mode model on ``device``.

    ``require_weights=False`` lets ``export`` build a freshly initialised ``model`` (to test a
    deployment pipeline before training); every other command refuses to run random weights.
    """
    from ..registry import get_spec

    wanted = get_spec(model) if model else None
    if weights is None or str(weights) == "":
        if require_weights:
            raise ValueError(
                "--weights is required: an effnet checkpoint (.safetensors) from 'effnet train' or "
                "'effnet finetune', or a pretrained weight name"
            )
        if wanted is None:
            raise ValueError("give --model (a registered name) or --weights (a checkpoint)")
        from ..models import EfficientNet

        net = EfficientNet(wanted)
        loaded = TrainedModel(
            net, default_class_names(net.num_classes), default_preprocess(wanted), "random init"
        )
    else:
        path = Path(weights)
        if path.is_file():
            loaded = _load_file(path, wanted)
        elif path.suffix.lower() in STATE_DICT_SUFFIXES or len(path.parts) > 1:
            raise FileNotFoundError(f"weights file {path} does not exist")
        else:
            loaded = _load_pretrained(str(weights), model)
    loaded.model.eval().to(resolve_device(device) if isinstance(device, str) else device)
    return loaded


def _load_file(path: Path, wanted: NetSpec | None) -> TrainedModel:
    from ..weights.checkpoint import load_model, read_metadata

    try:
        meta = read_metadata(path)
    except ValueError:
        meta = None
    if meta is not None:
        spec = meta["spec"]
        if wanted is not None and not same_architecture(spec, wanted):
            raise ValueError(
                f"{path} is a checkpoint for {spec.name}, not {wanted.name}; drop --model to use "
                f"the architecture stored in the checkpoint"
            )
        net, meta = load_model(path)
        names = meta["class_names"] or default_class_names(meta["num_classes"])
        return TrainedModel(net, list(names), meta["preprocess"], str(path))
    if wanted is None:
        raise ValueError(
            f"{path} is not an effnet checkpoint, so it does not say which model it is for; "
            "pass --model NAME as well"
        )
    state = _read_state_dict(path)
    classifier = state.get("classifier.weight")
    num_classes = int(classifier.shape[0]) if classifier is not None else 1000
    from ..models import EfficientNet
    from ..weights.checkpoint import load_state_dict_checked

    net = EfficientNet(wanted, num_classes=num_classes)
    load_state_dict_checked(net, state)
    return TrainedModel(
        net, default_class_names(num_classes), default_preprocess(wanted), str(path)
    )


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a plain weight file; never unpickles arbitrary objects."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # each format raises its own error types for foreign bytes
        raise ValueError(f"{path} is not a readable weight file ({type(err).__name__})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} holds no state dict of tensors")
    return state


def _load_pretrained(name: str, model: str | None) -> TrainedModel:
    """A registered pretrained weight set (``efficientnet_b0.tv_in1k``, or a tag with --model).

    The weights arrive with their publisher's preprocessing and ImageNet class names attached.
    """
    from ..weights.hub import load_pretrained
    from ..weights.pretrained import get_weights

    if model is None and "." not in name:
        raise ValueError(
            f"--weights {name!r} is not an existing file; give a checkpoint path, a full weight "
            "name such as efficientnet_b0.tf_aa_in1k, or --model NAME with a weight tag"
        )
    weights = get_weights(model, name) if model else get_weights(name)
    if model is not None and weights.model != get_spec_name(model):
        raise ValueError(f"{weights.name} holds weights for {weights.model}, not {model}")
    try:
        net = load_pretrained(weights)
    except OSError as err:  # download failures: one line, with the fetcher's reason
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"could not get pretrained weights {weights.name}: {err}") from None
    names = getattr(net, "class_names", None) or default_class_names(net.num_classes)
    preprocess = getattr(net, "preprocess", None) or default_preprocess(net.spec)
    return TrainedModel(net, list(names), preprocess, f"pretrained {weights.name}")


def get_spec_name(model: str) -> str:
    from ..registry import get_spec

    return get_spec(model).name
