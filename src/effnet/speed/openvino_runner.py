"""The OpenVINO backend of the fast path, at fp32, bf16 or int8, with the precision always explicit.

OpenVINO's CPU plugin runs bf16 on its own whenever the CPU has AMX or AVX-512 BF16 unless told
otherwise, so every compile here sets ``INFERENCE_PRECISION_HINT`` (``f32`` for fp32 and for the
non-quantized parts of an int8 model, ``bf16`` for bf16) and reads it back from the compiled model:
a model never runs at a precision the caller did not ask for.

int8 models come from :func:`effnet.speed.quantize.quantize_openvino` (NNCF post-training
quantization on calibration images).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from .quantize import (
    KEEP_FP32,
    Calibration,
    calibration_images,
    fingerprint,
    quantize_openvino,
    remembered,
)

#: The OpenVINO hint for each effnet precision (int8: the non-quantized operations run in f32).
PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
INSTALL_HINT = "pip install 'effnet[openvino]' (openvino, nncf)"


def import_openvino():
    """The ``openvino`` module, or an ImportError that says how to install it."""
    try:
        import openvino
    except ImportError:
        raise ImportError(
            f"the 'openvino' backend needs the openvino package: {INSTALL_HINT} "
            "(or use backend='onnxruntime' / 'eager')"
        ) from None
    return openvino


class OpenVinoRunner:
    """A compiled OpenVINO model per input size (dynamic batch), fed and read as torch tensors.

    ``calibration`` (required for int8) holds the images NNCF measures activation ranges on.
    """

    def __init__(
        self,
        module: nn.Module,
        threads: int,
        precision: str = "fp32",
        calibration: Calibration | None = None,
    ) -> None:
        if precision not in PRECISION_HINTS:
            raise ValueError(f"openvino runs fp32, bf16 or int8, not {precision!r}")
        if precision == "int8" and calibration is None:
            raise ValueError("int8 needs calibration images (calibration=...)")
        self.ov = import_openvino()
        self.module = module
        self.threads = threads
        self.precision = precision
        self.calibration = calibration
        self.compiled: dict[tuple[int, ...], Any] = {}
        #: The ``openvino.Model`` behind each compiled one (int8: quantized), to save as IR.
        self.models: dict[tuple[int, ...], Any] = {}
        self._tensor_output = True

    def convert(self, sample: torch.Tensor):
        """The ``openvino.Model`` of the module for inputs shaped like ``sample`` (any batch),
        int8-quantized when the runner's precision is int8."""
        if self.precision == "int8":
            assert self.calibration is not None
            shape = tuple(sample.shape[1:])
            images = calibration_images(self.calibration, shape)
            state = self.module.state_dict()
            key = fingerprint("openvino", list(state), *state.values(), images, shape, KEEP_FP32)
            return remembered(key, lambda: quantize_openvino(self._convert(sample), images, shape))
        return self._convert(sample)

    def _convert(self, sample: torch.Tensor):
        module = self.module.to(memory_format=torch.contiguous_format)
        try:
            with torch.no_grad(), warnings.catch_warnings():
                # The model's input check compares shapes in Python, which the tracer notes; and
                # OpenVINO's converter traces with torch.jit.trace, whose deprecation is torch's
                # note to OpenVINO, not to the user.
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                warnings.simplefilter("ignore", FutureWarning)
                model = self.ov.convert_model(
                    module, example_input=sample[:1].contiguous(), input=[(-1, *sample.shape[1:])]
                )
        finally:
            self.module.to(memory_format=torch.channels_last)
        return model

    def config(self) -> dict[str, Any]:
        """The compile properties: precision stated, ``threads`` threads, one stream (latency)."""
        return {
            "INFERENCE_PRECISION_HINT": PRECISION_HINTS[self.precision],
            "INFERENCE_NUM_THREADS": self.threads,
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
        }

    def compiled_for(self, x: torch.Tensor):
        key = tuple(x.shape[1:])
        if key not in self.compiled:
            with torch.no_grad():
                self._tensor_output = isinstance(self.module(x[:1].contiguous()), torch.Tensor)
            self.models[key] = self.convert(x)
            compiled = self.ov.Core().compile_model(self.models[key], "CPU", self.config())
            hint = compiled.get_property("INFERENCE_PRECISION_HINT")
            wanted = PRECISION_HINTS[self.precision]
            if getattr(self.ov.Type, wanted) != hint:
                raise RuntimeError(f"OpenVINO compiled at {hint}, not the {wanted} asked for")
            self.compiled[key] = compiled.create_infer_request()
        return self.compiled[key]

    def __call__(self, x: torch.Tensor) -> Any:
        if x.device.type != "cpu":
            raise ValueError(f"the openvino backend runs on CPU tensors, got {x.device}")
        x = x.detach().to(torch.float32).contiguous()
        request = self.compiled_for(x)
        request.infer({0: x.numpy()}, share_inputs=True)
        outputs = [torch.from_numpy(np.array(t.data)) for t in request.output_tensors]
        return outputs[0] if self._tensor_output else outputs
