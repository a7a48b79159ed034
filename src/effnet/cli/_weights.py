"""``--model`` / ``--weights`` / ``--device``: the options of every command that runs a model."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models import EfficientNet


def add_weights_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument(
        "--weights",
        required=required,
        help="an effnet checkpoint (.safetensors from 'effnet train' / 'effnet finetune'; it "
        "carries its model, class names and preprocessing), a plain state dict with --model, or "
        "a pretrained weight name",
    )
    p.add_argument(
        "--model",
        help="model name from 'effnet models'; optional with an effnet checkpoint (then it must "
        "match the checkpoint)",
    )
    p.add_argument("--device", default="auto", help="auto (GPU if present), cpu, cuda, cuda:N")


def load_from_args(args: argparse.Namespace, require_weights: bool = True) -> EfficientNet:
    """The model ``--weights`` (and ``--model``) name, through :func:`effnet.load`.

    ``require_weights=False`` lets ``export`` build a freshly initialised ``--model`` (to test a
    deployment pipeline before training); every other command refuses to run random weights.
    """
    from ..models import resolve_device
    from ..weights.factory import create_model, load, with_default_metadata

    if args.weights:
        return load(args.weights, args.model, args.device)
    if require_weights:
        raise ValueError(
            "--weights is required: an effnet checkpoint (.safetensors) from 'effnet train' or "
            "'effnet finetune', or a pretrained weight name"
        )
    if not args.model:
        raise ValueError("give --model (a registered name) or --weights (a checkpoint)")
    model = with_default_metadata(create_model(args.model))
    return model.eval().to(resolve_device(args.device))


def describe(model: EfficientNet) -> str:
    """ "efficientnet_b0 from runs/x/model.safetensors", for the first line a command prints."""
    return f"{model.spec.name} from {model.weights_source or 'random init'}"
