"""Export to ONNX or TorchScript, and prove the exported graph computes what PyTorch does.

The model is exported in eval mode (batch norm uses its running statistics, dropout and stochastic
depth are off) with the batch axis dynamic, so one file serves batch 1 and batch N. SiLU is
PyTorch's native op, which exporters know (a custom autograd Swish is what breaks ONNX export,
docs/paper.md section 9). Each export is run back on random batches of two sizes and compared
with the PyTorch model; the largest absolute difference is what the command reports.
"""

from __future__ import annotations

import copy
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..fileio import atomic_write, write_with

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}
#: "dynamo" is torch.export-based (PyTorch's default since 2.9); "legacy" is the TorchScript-based
#: ONNX exporter, several times faster to run and kept for older runtimes.
ONNX_EXPORTERS = ("dynamo", "legacy")
INPUT_NAME, OUTPUT_NAME = "images", "logits"


@dataclass
class ExportCheck:
    """Largest |export - PyTorch| per batch size, and the largest |output| for scale."""

    max_abs_diff: dict[int, float]
    max_abs_output: float

    @property
    def worst(self) -> float:
        return max(self.max_abs_diff.values())

    def format(self) -> str:
        parts = ", ".join(f"batch {b}: {d:.3g}" for b, d in self.max_abs_diff.items())
        return f"max abs difference vs PyTorch: {parts} (outputs up to {self.max_abs_output:.3g})"


def _cpu_eval_copy(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).cpu().eval()


def _example(model: nn.Module, batch: int, resolution: int, seed: int = 0) -> torch.Tensor:
    in_chans = int(getattr(model, "in_chans", 3))
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, in_chans, resolution, resolution, generator=generator)


def export_model(
    model: nn.Module,
    path: str | os.PathLike,
    fmt: str = "onnx",
    resolution: int | None = None,
    opset: int | None = None,
    exporter: str = "dynamo",
) -> Path:
    """Write ``model`` (eval mode, CPU) to ``path`` with a dynamic batch axis; returns the path."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {FORMATS}")
    res = resolution or model.spec.resolution  # type: ignore[union-attr]
    if res < 8:
        raise ValueError(f"resolution must be at least 8, got {res}")
    net = _cpu_eval_copy(model)
    path = Path(path)
    # Batch 2 while tracing: a batch of 1 can let an exporter specialise the batch axis to 1.
    example = _example(net, 2, res)
    # Written beside the target and renamed over it: a failed or killed export leaves any earlier
    # file whole, and a read-only folder or a full disk is one error naming the file.
    with warnings.catch_warnings():
        # Tracer notes about the input-shape check and TorchScript's deprecation are not
        # actionable for the user; correctness is established by check_export instead.
        warnings.simplefilter("ignore")
        if fmt == "torchscript":
            with torch.no_grad():
                traced = torch.jit.trace(net, example, check_trace=False)
            write_with(path, lambda f: torch.jit.save(traced, f))
        else:
            with atomic_write(path) as tmp:
                _export_onnx(net, example, tmp, opset, exporter)
                add_onnx_metadata(tmp, model)
    return path


def onnx_metadata(model: nn.Module) -> dict[str, str]:
    """What an ONNX file needs to be used without effnet: the classes and the preprocessing.

    ``preprocess`` is the evaluation recipe (resize the short side to ``resize_size``, center
    crop ``resolution``, scale pixels to [0, 1], subtract ``mean``, divide by ``std``), and the
    input is RGB, channels first.
    """
    import json

    from ..weights.hub import preprocess_for

    pre = preprocess_for(model)
    labels = model.labels() if hasattr(model, "labels") else []
    return {
        "effnet.model": str(getattr(getattr(model, "spec", None), "name", "")),
        "effnet.weights": str(getattr(model, "weights_source", "") or ""),
        "effnet.class_names": json.dumps(labels),
        "effnet.preprocess": json.dumps(
            {**json.loads(pre.to_json()), "resize_size": pre.resize_size}
        ),
        "effnet.input": f"{INPUT_NAME}: float32 RGB, NCHW, {pre.resolution}x{pre.resolution}, "
        f"normalised (pixel / 255 - mean) / std",
    }


def add_onnx_metadata(path: Path, model: nn.Module) -> None:
    """Write :func:`onnx_metadata` into the file's ``metadata_props`` (readable by onnxruntime:
    ``session.get_modelmeta().custom_metadata_map``)."""
    import onnx

    proto = onnx.load(str(path))
    for key, value in onnx_metadata(model).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def _export_onnx(
    net: nn.Module, example: torch.Tensor, path: Path, opset: int | None, exporter: str
) -> None:
    if exporter not in ONNX_EXPORTERS:
        raise ValueError(f"unknown ONNX exporter {exporter!r}; expected one of {ONNX_EXPORTERS}")
    if exporter == "dynamo":
        _require("onnxscript", "the ONNX exporter")
        batch = torch.export.Dim("batch", min=1, max=4096)
        torch.onnx.export(
            net,
            (example,),
            str(path),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: batch},),  # positional: whatever forward names its input
            opset_version=opset,
            external_data=False,
            optimize=True,
            verbose=False,  # no progress lines on stdout
        )
    else:
        _require("onnx", "the ONNX exporter")
        torch.onnx.export(
            net,
            (example,),
            str(path),
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset or 17,
            do_constant_folding=True,
        )


def _require(module: str, purpose: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ValueError(f"{purpose} needs the '{module}' package: pip install {module}")


def run_export(path: str | os.PathLike, fmt: str, x: torch.Tensor) -> torch.Tensor:
    """Run an exported file on ``x`` with its own runtime (onnxruntime or the TorchScript VM)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"exported file {path} does not exist")
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu")
        with torch.no_grad():
            return module(x)
    _require("onnxruntime", "checking an ONNX export")
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return torch.from_numpy(session.run(None, {name: x.numpy()})[0])


def check_export(
    path: str | os.PathLike,
    fmt: str,
    model: nn.Module,
    resolution: int | None = None,
    batch_sizes: tuple[int, ...] = (3, 1),
    seed: int = 0,
) -> ExportCheck:
    """Compare the exported file with ``model`` on random batches of each size (same file)."""
    net = _cpu_eval_copy(model)
    res = resolution or model.spec.resolution  # type: ignore[union-attr]
    diffs: dict[int, float] = {}
    peak = 0.0
    for i, batch in enumerate(batch_sizes):
        x = _example(net, batch, res, seed + 1 + i)
        with torch.no_grad():
            expected = net(x)
        got = run_export(path, fmt, x)
        if got.shape != expected.shape:
            raise ValueError(
                f"export returned shape {tuple(got.shape)} for batch {batch}, "
                f"PyTorch {tuple(expected.shape)}"
            )
        diffs[batch] = float((got.float() - expected.float()).abs().max())
        peak = max(peak, float(expected.abs().max()))
    return ExportCheck(diffs, peak)


def default_output_path(name: str, fmt: str) -> Path:
    return Path(f"{name}{SUFFIXES[fmt]}")
