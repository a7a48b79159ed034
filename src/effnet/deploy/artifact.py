"""Deployable files: write a model in any format at any precision, and load any of them back.

:func:`export_artifact` is the one entry to every exporter (one module per format, named in
:data:`~effnet.deploy.metadata.FORMATS`); :func:`load_artifact` reads any file it wrote and returns
a :class:`DeployedModel` that runs it on the format's own engine. :func:`fast_path` gives the same
object for a checkpoint run through an engine without writing a file. A ``DeployedModel`` offers
what the commands use of a model (``labels()``, ``preprocess``, calling it on images), so
``predict``, ``eval``, ``bench`` and ``pick`` take a checkpoint and an artifact alike.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.preprocess import Preprocess
from ..fileio import existing_file
from .backends import RUN_BACKENDS
from .metadata import (
    ENGINE_FORMATS,
    FORMATS,
    ArtifactError,
    ArtifactInfo,
    Format,
    format_for_path,
    get_format,
    info_for_model,
)


class DeployedModel:
    """A model ready to run on one engine at one precision: called on preprocessed images
    (float32, NCHW, any batch size) it returns float32 logits as a torch tensor.

    ``labels()``, ``class_names``, ``preprocess`` and ``name`` say what the outputs mean and how to
    feed it, as an effnet model's do; ``backend`` and ``precision`` what runs; ``source`` where it
    came from. ``info`` is the artifact's metadata (None for a checkpoint on the fast path).
    """

    def __init__(
        self,
        run: Callable[[torch.Tensor], Any],
        name: str,
        class_names: list[str],
        preprocess: Preprocess,
        backend: str,
        precision: str,
        source: str,
        info: ArtifactInfo | None = None,
        keep: Any = None,
    ) -> None:
        self.run = run
        self.name = name
        self.class_names = list(class_names)
        self.preprocess = preprocess
        self.backend = backend
        self.precision = precision
        self.source = source
        self.weights_source = source
        self.info = info
        self.in_chans = info.input_shape[0] if info else len(preprocess.mean)
        self.device = torch.device("cpu")
        self._keep = keep  # a temporary folder the engine reads from, alive as long as this

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = self.run(x.detach().cpu().float())
        return out.float() if isinstance(out, torch.Tensor) else torch.as_tensor(out).float()

    def labels(self) -> list[str]:
        return list(self.class_names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    training = False

    def eval(self) -> DeployedModel:
        return self

    def train(self, mode: bool = True) -> DeployedModel:
        if mode:
            raise RuntimeError(f"{self.describe()} is for inference only")
        return self

    def cpu(self) -> DeployedModel:
        return self

    def describe(self) -> str:
        return f"{self.name} from {self.source} ({self.backend} {self.precision})"

    def __repr__(self) -> str:
        return f"DeployedModel({self.describe()})"


def is_artifact(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a deployable file (by suffix; ``.pt`` only if it is TorchScript)."""
    return format_for_path(path) is not None


def _format_module(fmt: Format) -> Any:
    return importlib.import_module(fmt.module)


def output_path(path: str | os.PathLike, fmt: str) -> Path:
    """``path`` with ``fmt``'s suffix (added when the path has none or another one)."""
    path, suffix = Path(path), get_format(fmt).suffix
    return path if path.suffix.lower() == suffix else path.with_name(path.name + suffix)


def export_artifact(
    model: nn.Module,
    path: str | os.PathLike,
    fmt: str | None = None,
    precision: str = "fp32",
    calibration: torch.Tensor | None = None,
    resolution: int | None = None,
    **options: Any,
) -> list[Path]:
    """Write ``model`` (an effnet model with its weights' metadata) to ``path`` as ``fmt`` (default:
    from the suffix) at ``precision``; returns the files written. ``calibration``: preprocessed
    images for int8. ``options`` go to the format's exporter (ONNX: ``exporter``, ``opset``)."""
    if fmt is None:
        found = format_for_path(path)
        if found is None:
            known = ", ".join(f.suffix for f in FORMATS.values())
            raise ValueError(f"cannot tell the format of {path}; give --format or a suffix {known}")
        fmt = found.name
    spec = get_format(fmt)
    if precision not in spec.precisions:
        raise ValueError(f"{fmt} is written at {', '.join(spec.precisions)}, not {precision}")
    if precision == "int8" and calibration is None:
        raise ValueError("int8 needs calibration images (--calibration DATA)")
    target = output_path(path, fmt)
    target.parent.mkdir(parents=True, exist_ok=True)
    info = info_for_model(model, fmt, precision, resolution)
    net = model.cpu().eval()
    return _format_module(spec).export(net, target, info, calibration, **options)


def load_artifact(path: str | os.PathLike, threads: int | None = None) -> DeployedModel:
    """Any file :func:`export_artifact` wrote, on its own engine (``threads``: default torch's)."""
    path = Path(path)
    fmt = format_for_path(path)
    if fmt is None:
        raise ValueError(f"{path} is not a deployable file (.onnx .xml .pt .tflite .pte)")
    existing_file(path, "deployable file")
    info, run = _format_module(fmt).load(path, threads or torch.get_num_threads())
    if info.format != fmt.name:
        raise ArtifactError(f"{path}: its metadata says {info.format}, the file is {fmt.name}")
    return DeployedModel(
        run,
        info.model,
        list(info.class_names),
        info.preprocess,
        fmt.engine,
        info.precision,
        str(path),
        info,
    )


def fast_path(
    model: nn.Module,
    backend: str = "auto",
    precision: str = "fp32",
    calibration: torch.Tensor | None = None,
    batch_size: int = 32,
    threads: int | None = None,
) -> DeployedModel:
    """``model`` on ``backend`` at ``precision`` without writing a file the user sees: the fast
    path's engines in process; LiteRT and ExecuTorch through a file in a temporary folder."""
    from ..weights.hub import preprocess_for

    if backend not in RUN_BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {RUN_BACKENDS}")
    model = model.cpu().eval()
    pre = preprocess_for(model)
    if backend in ("litert", "executorch"):
        fmt = ENGINE_FORMATS[backend]
        wanted = "fp32" if precision == "auto" else precision
        keep = tempfile.TemporaryDirectory(prefix="effnet-")
        try:
            files = export_artifact(model, Path(keep.name) / "model", fmt, wanted, calibration)
            loaded = load_artifact(files[0], threads)
        except BaseException:  # a failed export or a signal: the folder goes now, not at exit
            keep.cleanup()
            raise
        loaded._keep, loaded.source = keep, str(getattr(model, "weights_source", "") or "model")
        return loaded
    from .inference import optimize_for_inference

    example = torch.randn(batch_size, model.in_chans, pre.resolution, pre.resolution)
    fast = optimize_for_inference(
        model, backend, precision, example, calibration=calibration, threads=threads
    )
    source = str(getattr(model, "weights_source", "") or "model")
    return DeployedModel(
        fast, model.spec.name, model.labels(), pre, fast.backend, fast.precision, source
    )


def load_for_inference(
    weights: str | os.PathLike,
    model: str | None = None,
    device: str = "cpu",
    backend: str | None = None,
    precision: str | None = None,
    calibration: torch.Tensor | Callable[[nn.Module], torch.Tensor] | None = None,
    threads: int | None = None,
) -> nn.Module | DeployedModel:
    """What ``effnet.load`` and the commands that run a model run: a deployable file on its own
    engine (a ``backend`` or ``precision`` other than its own is an error, as is a ``model`` it
    does not hold), a checkpoint or weight name in PyTorch on ``device``, or that checkpoint on
    ``backend`` at ``precision`` (default fp32). ``calibration``: int8 images, or a function from
    the loaded model to them (they must be preprocessed as its weights say)."""
    from ..registry import get_spec
    from ..weights.factory import load

    if threads is not None and threads < 1:
        raise ValueError(f"threads must be positive, got {threads}")
    fmt = format_for_path(weights)
    if fmt is not None:
        if backend not in (None, "auto", fmt.engine):
            raise ValueError(
                f"{weights} is a {fmt.name} file and runs on {fmt.engine}, not --backend "
                f"{backend}; export the checkpoint to run it elsewhere"
            )
        loaded = load_artifact(weights, threads)
        if precision not in (None, "auto", loaded.precision):
            raise ValueError(
                f"{weights} was written at {loaded.precision}, not --precision {precision}; "
                f"export it again at {precision}"
            )
        if model is not None and get_spec(model).name != loaded.name:
            raise ValueError(f"{weights} holds {loaded.name}, not --model {model}")
        return loaded
    net = load(weights, model, "cpu" if backend else device)
    if backend is None:
        if precision not in (None, "fp32"):
            raise ValueError("--precision needs --backend (e.g. --backend auto)")
        return net
    images = calibration(net) if callable(calibration) else calibration
    return fast_path(net, backend, precision or "fp32", images, threads=threads)
