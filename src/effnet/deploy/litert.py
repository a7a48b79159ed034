"""LiteRT (.tflite) files: converted by litert-torch, quantized by the AI Edge Quantizer, run by
the LiteRT interpreter (ai-edge-litert).

A file takes float32 NCHW images named ``images`` like every effnet format (the NHWC transpose is
inside the graph) and returns ``logits``. It is converted at batch 1 and the runtime resizes the
input to each batch: the converter cannot export a dynamic batch (the SAME-padding ``PAD`` gets a
negative size from the symbolic dimension), and the resized graph matches PyTorch at any batch.

The :class:`~effnet.deploy.metadata.ArtifactInfo` is inside the file: a named buffer in the
flatbuffer's ``Model.metadata`` list (the schema's place for it; the interpreter ignores names it
does not know), so a copied .tflite keeps its class names and preprocessing.

- fp32: the converted graph as it is.
- fp16: convolution and classifier weights stored as float16, dequantized once at load (compute
  stays fp32). Depthwise kernels stay fp32: their few taps nearly cancel, and rounding them moved
  ImageNet Lite0's logits by up to 0.08 (0.014 without them), for 4% of the file.
- int8: full integer, as the EdgeTPU compiler takes it: symmetric per-channel int8 weights,
  asymmetric per-tensor int8 activations ranged by the minimum and maximum over all calibration
  images (the quantizer's default moving average clipped Lite0's top logits to one value). Input
  and output stay float32 (a quantize and a dequantize op inside) unless ``info.input_dtype`` is
  ``int8``. Rounding Lite0's BN-folded weights to int8 cost 14% of its logits' RMS by itself (12%
  from one depthwise conv whose taps cancel), so :func:`prepare_for_int8` puts them on the grid
  first: each kernel rounded so that its taps keep their sum's rounding, and the mean shift left
  taken out of the bias (from the calibration images' channel means); 4% is left.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..fileio import atomic_write
from .fuse import fold_batchnorm
from .metadata import (
    FORMATS,
    INPUT_NAME,
    METADATA_KEY,
    OUTPUT_NAME,
    ArtifactError,
    ArtifactInfo,
    require_engine,
)
from .quantize import calibration_images

#: The signature litert-torch gives a converted module.
SIGNATURE = "serving_default"
#: Largest int8 weight (symmetric, narrow range) and the int32 room a bias may use.
QMAX, BIAS_ROOM = 127, 2.0**30
_PROGRESS = "LITERT_TORCH_SHOW_PROGRESS"  # litert-torch's switch, read at each conversion


def export(
    model: nn.Module, path: Path, info: ArtifactInfo, calibration: torch.Tensor | None = None
) -> list[Path]:
    """Write ``model`` (eval-mode fp32) as the .tflite ``path`` at ``info.precision``, with
    ``info`` inside; int8 needs ``calibration`` images. Returns the files written."""
    require_engine("tflite", "litert_torch")
    path = Path(path)
    images = _check_request(path, info, calibration)
    with _quiet():
        if images is not None:
            prepared = prepare_for_int8(model, images)
            flat = _convert(prepared, info.input_shape)
            flat = _to_int8(flat, images, int8_io=info.input_dtype == "int8")
        else:
            flat = _convert(model, info.input_shape)
            if info.precision == "fp16":
                flat = _to_fp16(flat)
    flat = _with_metadata(flat, info.to_json())
    _interpreter(flat, path, threads=1)  # a file that would not load is never written
    with atomic_write(path) as tmp:
        tmp.write_bytes(flat)
    return [path]


def _check_request(
    path: Path, info: ArtifactInfo, calibration: torch.Tensor | None
) -> torch.Tensor | None:
    """The calibration images an int8 export uses (None otherwise), after refusing what cannot
    be written: another format or precision, a wrong suffix, int8 input on a float model."""
    fmt = FORMATS["tflite"]
    if info.format != fmt.name or info.precision not in fmt.precisions:
        wrong = f"{info.format} {info.precision}"
        raise ValueError(f"a .tflite is written at {', '.join(fmt.precisions)}, not as {wrong}")
    if path.suffix != fmt.suffix:
        raise ValueError(f"{path}: a LiteRT file must end in {fmt.suffix}")
    if info.input_dtype != "float32" and (info.input_dtype, info.precision) != ("int8", "int8"):
        raise ValueError(f"input dtype {info.input_dtype!r} needs precision int8 (or float32)")
    if info.precision == "int8" and calibration is None:
        raise ValueError(
            "int8 .tflite export needs calibration images (calibration=...): float32 (N, C, H, W) "
            "images preprocessed exactly like the model's inputs"
        )
    return calibration_images(calibration, info.input_shape) if info.precision == "int8" else None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Without litert-torch's progress lines (a dozen per conversion) and the interpreter's note
    that the calibrator's tensor dumping is for debugging; errors still propagate."""
    saved = os.environ.get(_PROGRESS)
    os.environ[_PROGRESS] = "n"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
            yield
    finally:
        if saved is None:
            del os.environ[_PROGRESS]
        else:
            os.environ[_PROGRESS] = saved


class _Named(nn.Module):
    """The model with the file's names: input ``images``, output ``logits``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {OUTPUT_NAME: self.model(images)}


def _convert(model: nn.Module, shape: tuple[int, int, int]) -> bytes:
    """The fp32 flatbuffer of ``model`` for one (C, H, W) image (the runtime resizes the batch)."""
    import litert_torch

    sample = {INPUT_NAME: torch.zeros(1, *shape)}
    with torch.no_grad():
        return litert_torch.convert(_Named(model).eval(), sample_kwargs=sample).model_content()


def _to_fp16(flat: bytes) -> bytes:
    """``flat`` with float16 conv and fully-connected weights (see the module docstring)."""
    from ai_edge_quantizer import quantizer, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.qtyping import TFLOperationName

    recipe = recipe_manager.RecipeManager()
    for op in (TFLOperationName.CONV_2D, TFLOperationName.FULLY_CONNECTED):
        recipe.add_weight_only_config(".*", op, 16, algorithm_key=AlgorithmName.FLOAT_CASTING)
    q = quantizer.Quantizer(bytearray(flat), recipe.get_quantization_recipe())
    with contextlib.redirect_stderr(io.StringIO()):  # the quantizer's progress bar
        return bytes(q.quantize(enable_progress_report=False).quantized_model)


def _to_int8(flat: bytes, images: torch.Tensor, int8_io: bool) -> bytes:
    """``flat`` quantized to full integer, activation ranges from ``images`` (one at a time)."""
    from ai_edge_quantizer import calibrator, quantizer, recipe, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.qtyping import TFLOperationName
    from ai_edge_quantizer.utils import qsv_utils

    q = quantizer.Quantizer(bytearray(flat), recipe.static_wi8_ai8())
    if not int8_io:  # float32 in and out, a quantize and a dequantize op inside
        for end in (TFLOperationName.INPUT, TFLOperationName.OUTPUT):
            q.update_quantization_recipe(".*", end, algorithm_key=AlgorithmName.NO_QUANTIZE)
    recipes = recipe_manager.RecipeManager()
    recipes.load_quantization_recipe(q.get_quantization_recipe())
    samples = [{INPUT_NAME: images[i : i + 1].numpy()} for i in range(len(images))]
    ranges = calibrator.Calibrator(
        flat, num_threads=torch.get_num_threads(), qsv_update_func=qsv_utils.min_max_update
    )
    with contextlib.redirect_stderr(io.StringIO()):  # the quantizer's progress bars
        ranges.calibrate({SIGNATURE: samples}, recipes)
        result = q.quantize(ranges.get_model_qsvs(), enable_progress_report=False)
    return bytes(result.quantized_model)


@torch.no_grad()
def prepare_for_int8(model: nn.Module, images: torch.Tensor) -> nn.Module:
    """A BN-folded copy of ``model`` whose conv and linear weights already lie on the per-channel
    int8 grid the quantizer will use, rounded and bias-corrected as the module docstring says.

    The quantizer then reproduces these weights exactly (each channel's largest weight, hence its
    scale, is unchanged). A dead channel (weights ~0, bias not) gets one tap just large enough for
    its bias to fit int32 at that scale: the quantizer would otherwise clip the bias.
    """
    folded = fold_batchnorm(model, strict=False)
    layers = {n: m for n, m in folded.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    stats: dict[str, list[Any]] = {}

    def record(name: str) -> Callable[[nn.Module, tuple[torch.Tensor, ...]], None]:
        def hook(_: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            x = args[0]
            dims = [d for d in range(x.ndim) if d != 1]
            low, high = torch.aminmax(x)
            s = stats.setdefault(name, [0.0, 0, float(low), float(high)])
            s[0] = s[0] + x.sum(dims, dtype=torch.float64)
            s[1] += x.numel() // x.shape[1]
            s[2], s[3] = min(s[2], float(low)), max(s[3], float(high))

        return hook

    hooks = [m.register_forward_pre_hook(record(n)) for n, m in layers.items()]
    try:
        for start in range(0, len(images), 32):
            folded(images[start : start + 32])
    finally:
        for hook in hooks:
            hook.remove()
    for name, layer in layers.items():
        if name in stats:
            total, count, low, high = stats[name]
            _snap_to_int8_grid(layer, (total / count).float(), low, high)
    return folded


def _snap_to_int8_grid(layer: nn.Module, mean: torch.Tensor, low: float, high: float) -> None:
    """Round ``layer``'s weights to its per-channel int8 grid, correct its bias for the rounding's
    mean effect on inputs of channel means ``mean``, whose range is [``low``, ``high``]."""
    shape = layer.weight.shape
    w = layer.weight.detach().reshape(shape[0], shape[1], -1).clone()  # (out, in/groups, taps)
    bias = layer.bias.detach() if layer.bias is not None else torch.zeros(shape[0])
    input_step = max(max(high, 0.0) - min(low, 0.0), 1e-12) / 255  # the quantizer's min/max step
    need = QMAX * bias.abs() / (input_step * BIAS_ROOM)
    dead = w.abs().amax((1, 2)) < need
    w[dead] = 0
    w[dead, 0, 0] = need[dead]
    scale = (w.abs().amax((1, 2)).clamp_min(1e-9) / QMAX)[:, None, None]  # the quantizer's
    snapped = _round_keeping_sums(w / scale) * scale
    groups = getattr(layer, "groups", 1)
    means = mean.view(groups, -1).repeat_interleave(shape[0] // groups, 0)  # (out, in/groups)
    layer.weight.data = snapped.reshape(shape)
    layer.bias = nn.Parameter(bias - ((snapped - w).sum(2) * means).sum(1))


def _round_keeping_sums(q: torch.Tensor) -> torch.Tensor:
    """``q`` (rows of taps, in grid steps) rounded so that each row sums to its rounded sum:
    the rows' nearest-rounded entries closest to rounding the other way move by one step."""
    r = q.round()
    deficit = q.sum(-1).round() - r.sum(-1)
    for sign in (1.0, -1.0):
        wanted = (deficit * sign).clamp_min(0)
        if not wanted.any():
            continue
        room = (r + sign).abs() <= QMAX
        score = torch.where(room, (q - r) * sign, torch.full_like(q, -2.0))
        rank = score.argsort(-1, descending=True).argsort(-1)
        r = r + sign * ((rank < wanted[..., None]) & room).to(r.dtype)
    return r


def _with_metadata(flat: bytes, text: str) -> bytes:
    """``flat`` with ``text`` in its ``Model.metadata`` under :data:`METADATA_KEY`."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flat))
    for buffer in model.buffers:  # arrays pack at once; other bytes-likes one byte at a time
        if buffer.data is not None and not isinstance(buffer.data, np.ndarray):
            buffer.data = np.frombuffer(buffer.data, np.uint8)
    entry = schema.BufferT()
    entry.data = np.frombuffer(text.encode(), np.uint8)
    model.buffers.append(entry)
    named = schema.MetadataT()
    named.name, named.buffer = METADATA_KEY, len(model.buffers) - 1
    kept = [m for m in model.metadata or [] if m.name != METADATA_KEY.encode()]
    model.metadata = [*kept, named]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def read_info(data: bytes, path: Path) -> ArtifactInfo:
    """The :class:`ArtifactInfo` stored in the .tflite bytes ``data`` (errors name ``path``)."""
    try:
        raw = _metadata_entry(data)
    except (IndexError, TypeError, AttributeError, ValueError, struct.error) as err:
        raise ArtifactError(f"{path}: cannot read its metadata ({err})") from None
    if raw is None:
        raise ArtifactError(
            f"{path}: this .tflite carries no effnet metadata (no {METADATA_KEY!r} entry); "
            "export it with effnet to get its class names and preprocessing"
        )
    info = ArtifactInfo.from_json(raw.decode("utf-8", "replace"), path)
    if info.format != "tflite":
        raise ArtifactError(f"{path}: its metadata describes a {info.format} file, not a .tflite")
    return info


def _metadata_entry(data: bytes) -> bytes | None:
    """The bytes of the ``Model.metadata`` entry named :data:`METADATA_KEY`, if there is one."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        if model.Metadata(i).Name() == METADATA_KEY.encode():
            buffer = model.Buffers(model.Metadata(i).Buffer())
            if buffer.Offset() > 1:  # kept after the flatbuffer (files over 2 GB)
                return data[buffer.Offset() : buffer.Offset() + buffer.Size()]
            return buffer.DataAsNumpy().tobytes() if buffer.DataLength() else b""
    return None


def _interpreter(data: bytes, path: Path, threads: int) -> Any:
    """A LiteRT interpreter on ``data``, tensors allocated; a damaged file is an ArtifactError."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_content=data, num_threads=threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ArtifactError(
            f"{path}: not a loadable LiteRT model ({reason}); the file is damaged or incomplete"
        ) from None
    return interpreter


def load(path: Path, threads: int) -> tuple[ArtifactInfo, Callable[[torch.Tensor], torch.Tensor]]:
    """The info stored in the .tflite ``path`` and a callable from float32 NCHW images (any
    batch) to float32 logits, run by the LiteRT interpreter on ``threads`` threads."""
    require_engine("tflite", "ai_edge_litert")
    path = Path(path)
    data = path.read_bytes()
    interpreter = _interpreter(data, path, threads)
    info = read_info(data, path)
    return info, LiteRtRunner(interpreter, info, path)


class LiteRtRunner:
    """A LiteRT interpreter fed torch batches: the input tensor is resized to each new batch size
    (the file is converted at batch 1), int8 inputs and outputs are (de)quantized with their
    tensors' scale and zero point. One call at a time: the interpreter holds one batch."""

    def __init__(self, interpreter: Any, info: ArtifactInfo, path: Path) -> None:
        self.interpreter = interpreter
        self.info = info
        self.input = interpreter.get_input_details()[0]
        self.output = interpreter.get_output_details()[0]
        shape = tuple(int(v) for v in self.input["shape"][1:])
        if shape != tuple(info.input_shape):
            raise ArtifactError(
                f"{path}: the model takes {shape} images, its metadata says {info.input_shape}"
            )
        self.batch = int(self.input["shape"][0])

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or tuple(images.shape[1:]) != tuple(self.info.input_shape):
            raise ValueError(
                f"expected images (N, {', '.join(map(str, self.info.input_shape))}), got "
                f"{tuple(images.shape)}"
            )
        if not len(images):
            return torch.empty(0, int(self.output["shape"][-1]))
        if len(images) != self.batch:
            index = self.input["index"]
            self.interpreter.resize_tensor_input(index, [len(images), *self.info.input_shape])
            self.interpreter.allocate_tensors()
            self.batch = len(images)
        x = images.detach().to("cpu", torch.float32).contiguous().numpy()
        scale, zero = self.input["quantization"]
        if self.input["dtype"] == np.int8:  # a file with int8 input: quantized here
            x = np.clip(np.rint(x / scale) + zero, -128, 127).astype(np.int8)
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self.output["index"])
        scale, zero = self.output["quantization"]
        if self.output["dtype"] == np.int8:
            y = (y.astype(np.float32) - zero) * scale
        return torch.from_numpy(y.astype(np.float32, copy=False))
