"""``--model`` / ``--weights`` / ``--device``: the options of every command that runs a model."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from . import thread_count

if TYPE_CHECKING:
    from ..deploy.artifact import DeployedModel
    from ..models import EfficientNet

#: What --weights accepts besides checkpoints and weight names.
ARTIFACT_HELP = (
    "; or a file from 'effnet export' (.onnx, .xml, TorchScript .pt, .tflite, .pte), run on its "
    "own engine"
)


def add_weights_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument(
        "--weights",
        required=required,
        help="an effnet checkpoint (.safetensors from 'effnet train' / 'effnet finetune'; it "
        "carries its model, class names and preprocessing), a plain state dict with --model, or "
        "a pretrained weight name" + ARTIFACT_HELP,
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


def is_detector(weights: str | None) -> bool:
    """Whether ``--weights`` names a detector (a file whose header's task is detection, or a
    published detector weight name): the commands hand those to the detection code."""
    if not weights:
        return False
    from ..detection.pretrained import is_detector_name
    from ..weights.checkpoint import read_task

    return is_detector_name(weights) or read_task(weights) == "detection"


def describe(model: EfficientNet | DeployedModel) -> str:
    """ "efficientnet_b0 from runs/x/model.safetensors", for the first line a command prints."""
    if hasattr(model, "describe"):
        return model.describe()
    return f"{model.spec.name} from {model.weights_source or 'random init'}"


def add_runtime_args(p: argparse.ArgumentParser) -> None:
    """``--backend`` / ``--precision`` / ``--calibration`` / ``--threads``: run a checkpoint on an
    engine without writing a file (an artifact always runs on its own engine)."""
    from ..deploy.backends import RUN_BACKENDS

    p.add_argument(
        "--backend",
        choices=RUN_BACKENDS,
        help="run a checkpoint on this engine (auto: the fastest measured here); default: "
        "PyTorch, or an artifact's own engine",
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "fp16", "bf16", "int8", "auto"),
        help="with --backend: the precision to run at (default fp32; int8 needs --calibration)",
    )
    p.add_argument(
        "--calibration",
        help="images to calibrate int8 on: 'digits' (the embedded training split) or a folder",
    )
    p.add_argument("--threads", type=thread_count, help="engine threads (default: torch's)")


def load_for_inference(args: argparse.Namespace) -> EfficientNet | DeployedModel:
    """What predict and eval run (:func:`effnet.deploy.artifact.load_for_inference`): an artifact
    on its engine, a checkpoint in PyTorch, or a checkpoint on ``--backend`` at ``--precision``."""
    from ..deploy.artifact import load_for_inference as load
    from ..deploy.metadata import format_for_path

    if not args.weights:
        return load_from_args(args)  # its one-line error for a missing --weights
    checkpoint = format_for_path(args.weights) is None
    if checkpoint and args.precision == "int8" and args.backend and not args.calibration:
        raise ValueError("--precision int8 needs --calibration images ('digits' or a folder)")

    def calibrate(model):  # preprocessed as the loaded model says, so after loading it
        return load_images(args.calibration, model, "train", 300, labelled=False)[0]

    calibration = calibrate if args.calibration else None
    return load(
        args.weights, args.model, args.device, args.backend, args.precision, calibration,
        args.threads,
    )  # fmt: skip


def load_images(source: str, model, split: str, limit: int | None = None, labelled: bool = True):
    """(images, labels or None) from 'digits' (that split) or a folder, preprocessed for
    ``model``. A folder of class folders is labelled by ``model``'s class names; unlabelled
    (``labelled=False``, for calibration) any folder's images are taken, spread over all of it."""
    import torch

    from ..data import DigitsImages, ImageFolder, eval_transform
    from ..data.folders import class_folders
    from ..data.images import images_under, open_image
    from ..weights.hub import preprocess_for

    transform = eval_transform(preprocess_for(model))
    if source == "digits":
        data = DigitsImages(split)
    elif labelled and class_folders(source):
        names = model.labels()
        data = ImageFolder(source, class_to_idx={name: i for i, name in enumerate(names)})
    else:
        paths = images_under(source)
        if not paths:
            raise ValueError(f"no images in {source}")
        step = max(1, len(paths) // limit) if limit else 1  # every class, not the first few
        images = [transform(open_image(p)) for p in paths[::step][:limit]]
        return torch.stack(images), None
    count = len(data) if limit is None else min(limit, len(data))
    pairs = [data[i] for i in range(count)]
    images = torch.stack([transform(image) for image, _ in pairs])
    return images, torch.tensor([label for _, label in pairs])
