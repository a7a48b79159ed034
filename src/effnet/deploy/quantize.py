"""Accurate int8 for EfficientNet: post-training quantization on calibration images.

Naive int8 costs EfficientNets 15-30 points of top-1 (users report it for B0-B7); what keeps effnet
accurate, measured on B0 trained on digits (docs in benchmarks/RESULTS.md):

- per-channel symmetric int8 weights (a depthwise conv's channels differ in scale by 100x or more,
  and one scale per tensor flattens the small ones to zero), per-tensor activations;
- fast bias correction (NNCF): the mean shift quantization adds to each conv's output is measured
  on the calibration images and subtracted from its bias;
- the stem (it sees raw normalised pixels and holds 0.1% of the FLOPs), the squeeze-excitation
  gates (a sigmoid that scales every channel of the block: an error there reaches every activation)
  and the classifier stay fp32 (:data:`KEEP_FP32`). They are a small part of the compute.

Two engines, both kept because which one is faster depends on the machine:
:func:`quantize_openvino` (NNCF on an OpenVINO model) and :func:`quantize_onnx` (ONNX Runtime's
static QDQ quantizer, run by its own int8 kernels).
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

#: Images, or batches of them (tensors, ``(images, labels)`` pairs, a DataLoader).
Calibration = torch.Tensor | Iterable[Any]
#: Modules whose operations stay fp32 in an int8 model (names in effnet's module tree).
KEEP_FP32 = ("stem", "se", "classifier")
#: How many calibration images are used at most (NNCF's own default subset size).
MAX_CALIBRATION = 300
#: Quantized models of this process by fingerprint (weights, calibration, engine), newest last:
#: ``backend="auto"`` and the benchmarks prepare the same model more than once, and
#: post-training quantization is the slow step (a minute for B0 at 224 on 2 cores).
_QUANTIZED: OrderedDict[str, Any] = OrderedDict()
_KEEP_QUANTIZED = 4


def fingerprint(*parts: Any) -> str:
    """A digest of tensors, bytes and plain values: equal inputs, equal fingerprints."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.Tensor):
            digest.update(str((part.dtype, tuple(part.shape))).encode())
            digest.update(part.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
        elif isinstance(part, bytes):
            digest.update(part)
        else:
            digest.update(repr(part).encode())
    return digest.hexdigest()


def remembered(key: str, build: Callable[[], Any]) -> Any:
    """``build()``, or what it returned for ``key`` before (the last few are kept)."""
    if key not in _QUANTIZED:
        _QUANTIZED[key] = build()
        while len(_QUANTIZED) > _KEEP_QUANTIZED:
            _QUANTIZED.popitem(last=False)
    _QUANTIZED.move_to_end(key)
    return _QUANTIZED[key]


def calibration_images(
    calibration: Calibration, shape: tuple[int, ...], limit: int = MAX_CALIBRATION
) -> torch.Tensor:
    """Up to ``limit`` images from ``calibration`` as one float tensor, checked against ``shape``
    (channels, height, width): calibration must look like what the model will be fed."""
    if isinstance(calibration, torch.Tensor):
        batches: Iterable[Any] = [calibration]
    else:
        batches = calibration
    taken: list[torch.Tensor] = []
    count = 0
    for batch in batches:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        if not isinstance(images, torch.Tensor):
            raise ValueError(f"calibration batches must be image tensors, got {type(images)}")
        if images.ndim == len(shape):
            images = images[None]
        if tuple(images.shape[1:]) != tuple(shape):
            raise ValueError(
                f"calibration images are {tuple(images.shape[1:])}, the model is prepared for "
                f"{tuple(shape)}; calibrate on images preprocessed like the model's inputs"
            )
        taken.append(images.detach().float().cpu()[: limit - count])
        count += len(taken[-1])
        if count >= limit:
            break
    if not count:
        raise ValueError("no calibration images given")
    return torch.cat(taken)


def kept_fp32_pattern(keep: Iterable[str] = KEEP_FP32) -> str:
    """A regex matching exported operation names that belong to the modules in ``keep``.

    OpenVINO names operations after the module path with dots (``__module.blocks.1.0.se/...``),
    the ONNX exporter with slashes (``/blocks/blocks.1.0/se/reduce/Conv``): a name component
    equal to a kept module, delimited by either, matches both.
    """
    names = "|".join(re.escape(k) for k in keep)
    return rf".*(^|[/.])({names})([/.]|$).*"


@contextmanager
def _quiet_cuda_home_note() -> Iterator[None]:
    """NNCF imports torch's C++-extension helper, which logs "No CUDA runtime is found, using
    CUDA_HOME=..." on a CPU machine with a CUDA build of torch: true, and nothing that the user of
    a CPU engine can act on."""
    log = logging.getLogger("torch.utils.cpp_extension")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def quantize_openvino(
    model: Any, calibration: Calibration, shape: tuple[int, ...], keep: Iterable[str] = KEEP_FP32
) -> Any:
    """An int8 copy of the ``openvino.Model`` ``model`` (inputs ``(N, *shape)``), by NNCF."""
    try:
        import nncf
    except ImportError:
        raise ImportError(
            "int8 on the openvino backend needs NNCF: pip install 'effnet[openvino]'"
        ) from None
    nncf.set_log_level(logging.ERROR)
    images = calibration_images(calibration, shape)
    dataset = nncf.Dataset([images[i : i + 1].numpy() for i in range(len(images))])
    ignored = nncf.IgnoredScope(patterns=[kept_fp32_pattern(keep)], validate=False)
    with _quiet_cuda_home_note():
        return nncf.quantize(
            model,
            dataset,
            subset_size=len(images),
            fast_bias_correction=True,
            preset=nncf.QuantizationPreset.PERFORMANCE,  # symmetric int8 weights, per channel
            ignored_scope=ignored,
        )


def _reader(images: torch.Tensor, input_name: str, batch: int = 16):
    """ONNX Runtime's calibration data reader over batches of ``images``."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(
                [{input_name: images[i : i + batch].numpy()} for i in range(0, len(images), batch)]
            )

        def get_next(self) -> dict | None:
            return next(self.batches, None)

    return Reader()


def quantize_onnx(
    onnx_model: bytes,
    calibration: Calibration,
    shape: tuple[int, ...],
    keep: Iterable[str] = KEEP_FP32,
) -> bytes:
    """An int8 QDQ copy of the ONNX model ``onnx_model`` (inputs ``(N, *shape)``): ONNX Runtime's
    static quantization, u8 activations (per tensor) and s8 weights (per channel), min/max ranges.
    """
    images = calibration_images(calibration, shape)
    key = fingerprint("onnxruntime", onnx_model, images, tuple(keep))
    return remembered(key, lambda: _quantize_onnx(onnx_model, images, keep))


def _quantize_onnx(onnx_model: bytes, images: torch.Tensor, keep: Iterable[str]) -> bytes:
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pattern = re.compile(kept_fp32_pattern(keep))
    with tempfile.TemporaryDirectory() as tmp:
        raw, prepared, out = (Path(tmp) / n for n in ("raw.onnx", "prep.onnx", "int8.onnx"))
        raw.write_bytes(onnx_model)
        quant_pre_process(str(raw), str(prepared), skip_symbolic_shape=True)
        graph = onnx.load(str(prepared)).graph
        excluded = [n.name for n in graph.node if pattern.fullmatch(n.name)]
        quantize_static(
            str(prepared),
            str(out),
            _reader(images, graph.input[0].name),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded,
        )
        return out.read_bytes()
