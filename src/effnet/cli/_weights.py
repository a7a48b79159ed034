"""``--model`` / ``--weights`` / ``--device``: the options of every command that runs a model."""

from __future__ import annotations

import argparse


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


def load_from_args(args: argparse.Namespace, require_weights: bool = True):
    from ..tools.trained_model import load_trained_model

    return load_trained_model(args.model, args.weights, args.device, require_weights)
