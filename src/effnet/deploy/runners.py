"""The fast path's backends: each turns a folded, eval-mode, channels_last module into a callable
on torch tensors, at one precision.

- :class:`EagerRunner`: the module under ``no_grad``; fp32, or bf16 (a bf16 copy of the weights,
  inputs cast to bf16, logits returned as fp32);
- :class:`CompiledRunner`: ``torch.compile`` with inductor (fp32);
- :class:`OnnxRuntimeRunner`: an ONNX Runtime session; fp32, or int8 (static QDQ, per-channel
  weights, :func:`effnet.deploy.quantize.quantize_onnx`).

The OpenVINO backend is in :mod:`effnet.deploy.openvino`.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .metadata import MissingEngineError
from .onnx import ONNX_EXPORTERS, onnx_bytes, session
from .quantize import Calibration, quantize_onnx


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise MissingEngineError(
            "the 'onnxruntime' backend needs the onnxruntime package: pip install onnxruntime "
            "(or use backend='eager')"
        ) from None
    return onnxruntime


class EagerRunner:
    """The torch module itself; at bf16 a bf16 copy of it, fed bf16 and returning fp32 logits."""

    def __init__(self, module: nn.Module, precision: str = "fp32") -> None:
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"eager runs fp32 or bf16, not {precision!r}")
        self.precision = precision
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        self.module = module if precision == "fp32" else copy.deepcopy(module).to(self.dtype)

    def __call__(self, x: torch.Tensor) -> Any:
        x = x.to(self.dtype).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            out = self.module(x)
        if self.precision == "fp32":
            return out
        return out.float() if isinstance(out, torch.Tensor) else [o.float() for o in out]


class CompiledRunner(EagerRunner):
    """torch.compile with inductor's freezing: weights become constants it can pre-pack and fold.

    ``options`` patches inductor's config for this compile only, so the caller's other compiles
    are unaffected.
    """

    def __init__(self, module: nn.Module, max_autotune: bool = False) -> None:
        options = {"freezing": True}
        if max_autotune:
            options["max_autotune"] = True
        super().__init__(torch.compile(module, options=options))


class OnnxRuntimeRunner:
    """An ONNX Runtime session per input size, fed and read as torch tensors.

    Exported with a dynamic batch axis; spatial size is fixed per export because TF "SAME" padding
    is computed from it, so a new image size triggers one more export (cached).
    """

    def __init__(
        self,
        module: nn.Module,
        threads: int,
        exporter: str = "legacy",
        opset: int = 17,
        precision: str = "fp32",
        calibration: Calibration | None = None,
    ) -> None:
        if precision not in ("fp32", "int8"):
            raise ValueError(f"onnxruntime runs fp32 or int8, not {precision!r}")
        if precision == "int8" and calibration is None:
            raise ValueError("int8 needs calibration images (calibration=...)")
        self.precision = precision
        self.calibration = calibration
        if exporter not in ONNX_EXPORTERS:
            raise ValueError(f"unknown ONNX exporter {exporter!r}; expected {ONNX_EXPORTERS}")
        self.ort = import_onnxruntime()
        self.module = module
        self.threads = threads
        self.exporter = exporter
        self.opset = opset
        self.sessions: dict[tuple[int, ...], Any] = {}
        #: The ONNX bytes each session runs (int8: the QDQ model), saved by effnet.deploy.artifact.
        self.graphs: dict[tuple[int, ...], bytes] = {}
        self._tensor_output = True

    def export(self, sample: torch.Tensor) -> bytes:
        """The ONNX bytes of the module for inputs shaped like ``sample`` (any batch size)."""
        try:
            return onnx_bytes(self.module, sample[:2], self.exporter, self.opset)
        finally:
            self.module.to(memory_format=torch.channels_last)

    def session_for(self, x: torch.Tensor):
        key = tuple(x.shape[1:])
        if key not in self.sessions:
            with torch.no_grad():
                self._tensor_output = isinstance(self.module(x[:1].contiguous()), torch.Tensor)
            graph = self.export(x[:1])
            if self.precision == "int8":
                assert self.calibration is not None
                graph = quantize_onnx(graph, self.calibration, key)
            self.graphs[key] = graph
            self.sessions[key] = session(graph, self.threads)
        return self.sessions[key]

    def __call__(self, x: torch.Tensor) -> Any:
        if x.device.type != "cpu":
            raise ValueError(f"the onnxruntime backend runs on CPU tensors, got {x.device}")
        x = x.detach().to(torch.float32).contiguous()
        sess = self.session_for(x)
        outputs = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
        tensors = [torch.from_numpy(o) for o in outputs]
        return tensors[0] if self._tensor_output else tensors
