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
from .weights.factory import create_model as _create_classifier
from .weights.hub import transforms_for

if TYPE_CHECKING:
    from .deploy.artifact import DeployedModel
    from .detection.evaluate import DetectionResult
    from .detection.model import EfficientDet
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


def create_model(
    name: str | NetSpec | os.PathLike,
    pretrained: bool | str | os.PathLike = False,
    num_classes: int | None = None,
    **overrides: Any,
) -> EfficientNet | EfficientDet:
    """Build a model by name, spec or spec ``.json`` file, fresh or with pretrained weights.

    A classifier comes from :func:`effnet.weights.factory.create_model` (``num_classes``
    default 1000; ``overrides`` go to :class:`~effnet.models.EfficientNet`). A detector name
    (``efficientdet_d0`` ... ``d7``, see ``list_models("efficientdet*")``) gives an
    :class:`~effnet.detection.model.EfficientDet` (``num_classes`` default COCO's 90;
    ``overrides`` replace fields of its spec, e.g. ``image_size=64``; ``pretrained=True`` the
    published COCO weights, through the same download cache).
    """
    from .detection.pretrained import is_detector_name

    if is_detector_name(name):
        from .detection.pretrained import create_detector

        return create_detector(name, pretrained, num_classes, **overrides)
    classes = 1000 if num_classes is None else num_classes
    return _create_classifier(name, pretrained, classes, **overrides)


def _detector_names(pattern: str, pretrained: bool, include_tags: bool | None, available: bool):
    """The detectors ``list_models`` adds: D0-D7, or their published weight sets."""
    import fnmatch

    from .detection.pretrained import DET_WEIGHTS, detector_availability
    from .detection.spec import DET_SPECS

    if not (pretrained or available):
        return fnmatch.filter(DET_SPECS, pattern)
    names = list(DET_WEIGHTS)
    if available:
        names = [n for n in names if detector_availability(n) == "cached"]
    if include_tags is False:
        return fnmatch.filter({n.split(".", 1)[0] for n in names}, pattern)
    return [n for n in names if fnmatch.fnmatch(n, pattern) or fnmatch.fnmatch(n, f"{pattern}.*")]


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
    where each one would come from). Detectors are listed with the classifiers
    (``list_models("efficientdet*")``; their weight sets ``efficientdet_d0.tf_coco`` ...).
    """
    detectors = _detector_names(pattern, pretrained, include_tags, available)
    if not (pretrained or available):
        return sorted([*_registered_models(pattern), *detectors])
    import fnmatch

    from .weights.pretrained import list_weights

    names = list_weights()
    if available:
        from .weights.available import usable_weights

        names = usable_weights(names)
    if include_tags is False:
        models = {name.split(".", 1)[0] for name in names}
        return sorted([*fnmatch.filter(models, pattern), *detectors])
    # "efficientnet_b0" matches the model's weight sets, as "efficientnet_b0.*" would.
    return sorted(
        [n for n in names if fnmatch.fnmatch(n, pattern) or fnmatch.fnmatch(n, f"{pattern}.*")]
        + detectors
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
) -> EfficientNet | DeployedModel | EfficientDet:
    """A model ready to use, from anything effnet reads: a checkpoint, a pretrained weight name,
    or a deployable file (``.onnx``, OpenVINO ``.xml``, TorchScript ``.pt``, LiteRT ``.tflite``,
    ExecuTorch ``.pte``), which runs on its own engine.

    Either way the result is called on preprocessed images for logits and has ``labels()`` and
    ``preprocess``; ``effnet.predict``, ``effnet.evaluate`` and ``effnet.transforms_for`` take it.
    ``backend`` (eager, onnxruntime, openvino, litert, executorch or auto) runs a checkpoint through
    that engine at ``precision`` (default fp32; int8: with ``calibration`` images) without writing
    a file. A file runs only on its own engine at its own precision: naming another is an error.

    A detector file (its header's ``task`` is ``detection``) or a published detector weight name
    (``efficientdet_d0.tf_coco``) gives an eval-mode
    :class:`~effnet.detection.model.EfficientDet` with ``labels()``, its input normalisation
    (``mean``, ``std``) and input size (``spec.image_size``); ``detect`` finds boxes.
    """
    from .deploy.artifact import load_for_inference
    from .detection.pretrained import is_detector_name
    from .weights.checkpoint import read_task

    if is_detector_name(str(path_or_name)) or read_task(path_or_name) == "detection":
        return _load_detector(path_or_name, model, device, backend, precision)

    return load_for_inference(path_or_name, model, device, backend, precision, calibration, threads)


def _load_detector(
    path_or_name: str | os.PathLike, model: str | None, device: str, *engine: str | None
) -> EfficientDet:
    """A detector for :func:`load`: PyTorch only (``effnet export`` writes its ONNX file)."""
    from .detection.pretrained import load_any_detector

    if any(engine):
        raise ValueError(
            f"{path_or_name} is a detector, which runs in PyTorch only (no backend or precision); "
            "'effnet export --format onnx' writes its ONNX file"
        )
    net = load_any_detector(path_or_name, device)
    if model is not None and model != net.spec.name:
        raise ValueError(
            f"{path_or_name} is a detector checkpoint for {net.spec.name}, not {model}"
        )
    return net


def _is_detector(net: Any) -> bool:
    from .detection.model import EfficientDet  # torch is loaded: ``net`` is a model

    return isinstance(net, EfficientDet)


def _model(
    weights: str | os.PathLike | EfficientNet,
    model: str | None,
    device: str,
    detector: bool = False,
) -> Any:
    """The model a job runs; a detector only where the job can use one (``detector``)."""
    net = load(weights, model, device) if isinstance(weights, (str, os.PathLike)) else weights
    if not detector and _is_detector(net):
        raise ValueError(
            f"{getattr(net, 'weights_source', None) or 'the model'} is a detector, whose output is "
            "boxes, not classes: effnet.detection.detect_image(model, IMAGE) finds them"
        )
    return net


def evaluate(
    weights: str | os.PathLike | EfficientNet,
    data: str | os.PathLike,
    *,
    model: str | None = None,
    device: str = "auto",
    batch_size: int = 64,
    progress: bool = False,
) -> EvalResult | DetectionResult:
    """``effnet eval``: top-1/top-5 and the confusion matrix of ``weights`` on ``data/<class>/*``.

    ``weights`` is a loaded model, a checkpoint file or a pretrained weight name; folders are
    matched to the checkpoint's class names. ``result.top1``, ``result.format()``,
    ``result.save_json(path)``. A detector is scored on a COCO folder (``data/images`` and
    ``data/annotations.json``) as ``effnet eval`` scores it: ``result.map``, ``result.map50``.
    """
    from .use.evaluate import evaluate as run

    net = _model(weights, model, device, detector=True)
    if _is_detector(net):
        from .detection.evaluate import evaluate_detector

        where = str(next(net.parameters()).device)
        return evaluate_detector(net, data, batch_size=batch_size, device=where)
    return run(net, data, batch_size=batch_size, progress=progress)


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
