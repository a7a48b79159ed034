"""Export a model to any deployable format, and prove the file computes what PyTorch does.

The file is written by the format's one exporter (:func:`effnet.deploy.artifact.export_artifact`,
eval mode: batch norm uses its running statistics, dropout and stochastic depth are off), then
loaded back on its own engine (:func:`effnet.deploy.artifact.load_artifact`) and run on random
batches of two sizes beside the PyTorch model: the largest absolute difference is what the command
reports. A reduced-precision file is judged by :mod:`effnet.deploy.fidelity` on real images
instead, since random inputs say nothing about accuracy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..deploy.artifact import export_artifact, load_artifact, output_path


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
    precision: str = "fp32",
    calibration: torch.Tensor | None = None,
) -> Path:
    """Write ``model`` to ``path`` (its format's suffix added if missing) as ``fmt`` at
    ``precision``, with its metadata; returns the main file (an IR's .bin lies beside it)."""
    res = resolution or model.spec.resolution  # type: ignore[union-attr]
    if res < 8:
        raise ValueError(f"resolution must be at least 8, got {res}")
    options = {"exporter": exporter, "opset": opset} if fmt == "onnx" else {}
    files = export_artifact(model, path, fmt, precision, calibration, res, **options)
    return files[0]


def run_export(path: str | os.PathLike, x: torch.Tensor, threads: int | None = None):
    """Run an exported file on ``x`` with its own engine (never PyTorch's eager model)."""
    return load_artifact(path, threads)(x)


def check_export(
    path: str | os.PathLike,
    model: nn.Module,
    resolution: int | None = None,
    batch_sizes: tuple[int, ...] = (3, 1),
    seed: int = 0,
) -> ExportCheck:
    """Compare the exported file with ``model`` on random batches of each size (same file)."""
    net = model.cpu().eval()
    res = resolution or model.spec.resolution  # type: ignore[union-attr]
    loaded = load_artifact(path)
    diffs: dict[int, float] = {}
    peak = 0.0
    for i, batch in enumerate(batch_sizes):
        x = _example(net, batch, res, seed + 1 + i)
        with torch.no_grad():
            expected = net(x)
        got = loaded(x)
        if got.shape != expected.shape:
            raise ValueError(
                f"export returned shape {tuple(got.shape)} for batch {batch}, "
                f"PyTorch {tuple(expected.shape)}"
            )
        diffs[batch] = float((got.float() - expected.float()).abs().max())
        peak = max(peak, float(expected.abs().max()))
    return ExportCheck(diffs, peak)


def default_output_path(name: str, fmt: str, precision: str = "fp32") -> Path:
    """``efficientnet_b0.onnx``, ``efficientnet_lite0_int8.tflite``: the name says the precision."""
    stem = name if precision == "fp32" else f"{name}_{precision}"
    return output_path(stem, fmt)
