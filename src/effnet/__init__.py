"""effnet: EfficientNet and compound scaling, complete and exact, in PyTorch.

The public surface mirrors the command line: :func:`create_model`, :func:`load` and
:func:`list_models` for the model family; :func:`finetune`, :func:`evaluate`, :func:`predict` and
:func:`predict_to_file` for the jobs ``effnet finetune``, ``effnet eval``, ``effnet predict`` and
``effnet predict --out`` do, with the same defaults; :func:`scale` and :func:`scale_to_flops` for
compound scaling of any network spec.
``import effnet`` loads no torch; the functions that need it import it when called.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .registry import get_spec
from .registry import list_models as _registered_models
from .scaling import compound, round_filters, round_repeats, scale, scale_to_flops
from .spec import EFFICIENTNET_B0, BlockSpec, NetSpec, StageSpec, StemSpec
from .weights.factory import create_model
from .weights.hub import transforms_for

if TYPE_CHECKING:
    from .deploy.artifact import DeployedModel
    from .models import EfficientNet
    from .train.finetune import finetune
    from .use.evaluate import EvalResult
    from .use.predict import Prediction
    from .use.predict_stream import StreamSummary

__all__ = [
    "EFFICIENTNET_B0",
    "BlockSpec",
    "NetSpec",
    "StageSpec",
    "StemSpec",
    "compound",
    "create_model",
    "evaluate",
    "finetune",
    "get_spec",
    "list_models",
    "load",
    "optimize_for_inference",
    "predict",
    "predict_to_file",
    "round_filters",
    "round_repeats",
    "scale",
    "scale_to_flops",
    "transforms_for",
]
__version__ = "0.1.0"


def list_models(
    pattern: str = "*",
    pretrained: bool = False,
    include_tags: bool | None = None,
    available: bool = False,
) -> list[str]:
    """Model names matching a shell-style ``pattern``, as in timm.

    ``pretrained=True`` keeps the models with registered weights and, by default, lists each weight
    set by its full name (``"efficientnet_b0.tf_aa_in1k"``, what ``effnet.load`` and
    ``create_model(name, pretrained=tag)`` take); ``include_tags=False`` lists the model names
    only. The list is read from the weights registry, so newly registered weights appear here.
    ``available=True`` (implies ``pretrained``) keeps only the weight sets that load without the
    network: cached, or shipped by an installed package (``effnet models --pretrained`` shows
    where each one would come from).
    """
    if not (pretrained or available):
        return _registered_models(pattern)
    import fnmatch

    from .weights.pretrained import list_weights

    names = list_weights()
    if available:
        from .weights.available import usable_weights

        names = usable_weights(names)
    if include_tags is False:
        models = {name.split(".", 1)[0] for name in names}
        return sorted(fnmatch.filter(models, pattern))
    # "efficientnet_b0" matches the model's weight sets, as "efficientnet_b0.*" would.
    return sorted(
        n for n in names if fnmatch.fnmatch(n, pattern) or fnmatch.fnmatch(n, f"{pattern}.*")
    )


def load(
    path_or_name: str | os.PathLike,
    model: str | None = None,
    device: str = "cpu",
    *,
    backend: str | None = None,
    precision: str | None = None,
    calibration: Any = None,
    threads: int | None = None,
) -> EfficientNet | DeployedModel:
    """A model ready to use, from anything effnet reads: a checkpoint, a pretrained weight name,
    or a deployable file (``.onnx``, OpenVINO ``.xml``, TorchScript ``.pt``, LiteRT ``.tflite``,
    ExecuTorch ``.pte``), which runs on its own engine.

    Either way the result is called on preprocessed images for logits and has ``labels()`` and
    ``preprocess``; ``effnet.predict``, ``effnet.evaluate`` and ``effnet.transforms_for`` take it.
    ``backend`` (eager, onnxruntime, openvino, litert, executorch or auto) runs a checkpoint through
    that engine at ``precision`` (default fp32; int8: with ``calibration`` images) without writing
    a file. A file runs only on its own engine at its own precision: naming another is an error.
    """
    from .deploy.artifact import load_for_inference

    return load_for_inference(path_or_name, model, device, backend, precision, calibration, threads)


def _model(weights: str | os.PathLike | EfficientNet, model: str | None, device: str) -> Any:
    if isinstance(weights, (str, os.PathLike)):
        return load(weights, model, device)
    return weights


def evaluate(
    weights: str | os.PathLike | EfficientNet,
    data: str | os.PathLike,
    *,
    model: str | None = None,
    device: str = "auto",
    batch_size: int = 64,
    progress: bool = False,
) -> EvalResult:
    """``effnet eval``: top-1/top-5 and the confusion matrix of ``weights`` on ``data/<class>/*``.

    ``weights`` is a loaded model, a checkpoint file or a pretrained weight name; folders are
    matched to the checkpoint's class names. ``result.top1``, ``result.format()``,
    ``result.save_json(path)``.
    """
    from .use.evaluate import evaluate as run

    return run(_model(weights, model, device), data, batch_size=batch_size, progress=progress)


def predict(
    weights: str | os.PathLike | EfficientNet,
    images: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    model: str | None = None,
    top_k: int = 5,
    device: str = "auto",
) -> list[Prediction]:
    """``effnet predict``: the ``top_k`` classes of image files, folders or globs, or of images
    in memory (PIL images, uint8 HWC arrays, CHW/NCHW pixel tensors, named ``image[i]``).

    Each :class:`~effnet.use.predict.Prediction` has ``label``, ``labels``, ``probabilities`` and
    ``path``; an unreadable file found in a folder or glob is skipped with a warning.
    """
    from pathlib import Path

    from .data.images import collect_images
    from .use.predict import in_memory_images
    from .use.predict import predict as run

    if (loaded := in_memory_images(images)) is not None:  # PIL images, arrays, tensors
        return run(_model(weights, model, device), loaded, top_k)
    inputs = [images] if isinstance(images, (str, os.PathLike)) else list(images)
    paths = collect_images(inputs)
    named = {Path(item) for item in inputs if Path(item).is_file()}
    skippable = [path for path in paths if path not in named]
    return run(_model(weights, model, device), paths, top_k, skippable=skippable)


def predict_to_file(
    weights: str | os.PathLike | EfficientNet,
    images: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    model: str | None = None,
    top_k: int = 5,
    device: str = "auto",
    batch_size: int = 32,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
    ray: bool = False,
    address: str | None = None,
) -> StreamSummary:
    """``effnet predict --out``: the ``top_k`` classes of any number of images (files, folders,
    globs, ``LIST.txt``), streamed to ``out`` (.jsonl, .csv or .parquet) batch by batch.

    A rerun resumes: images already in ``out`` are skipped (``overwrite`` starts afresh).
    ``ray=True`` runs on Ray Data (a local Ray, or the cluster at ``address``). Returns the
    counts and speed of the run (``summary.format()``).
    """
    import functools

    from .use.predict_stream import predict_to_file as run

    inputs = [images] if isinstance(images, (str, os.PathLike)) else list(images)
    named = isinstance(weights, (str, os.PathLike))
    loader = functools.partial(load, weights, model, device) if named else None
    return run(
        _model(weights, model, device), inputs, out, top_k=top_k, batch_size=batch_size,
        workers=workers, overwrite=overwrite, progress=progress, ray=ray, address=address,
        loader=loader,
    )  # fmt: skip


def __getattr__(name: str) -> Any:
    # These need torch; importing them lazily keeps `import effnet` torch-free.
    if name == "optimize_for_inference":
        from .deploy.inference import optimize_for_inference

        return optimize_for_inference
    if name == "finetune":
        from .train.finetune import finetune

        return finetune
    raise AttributeError(f"module 'effnet' has no attribute {name!r}")
