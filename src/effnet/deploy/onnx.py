"""ONNX: the one exporter every ONNX file and ONNX Runtime session in effnet comes from.

``effnet export --format onnx``, the fast path's ONNX Runtime backend, int8 QDQ quantization and
the detector export all call :func:`onnx_bytes`, so the input is always named ``images`` and the
batch axis is always dynamic. Two exporters: ``dynamo`` (torch.export-based, PyTorch's default since
2.9) and ``legacy`` (TorchScript-based: 4 s instead of 20 s for B0 on 2 cores, sessions as fast).
The spatial size is fixed per export, because TF "SAME" padding is computed from it.

A file carries its :class:`~effnet.deploy.metadata.ArtifactInfo` in ``metadata_props`` under
``effnet.artifact`` (readable without effnet: ``session.get_modelmeta().custom_metadata_map``).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..fileio import atomic_write
from .metadata import (
    INPUT_NAME,
    METADATA_KEY,
    OUTPUT_NAME,
    ArtifactError,
    ArtifactInfo,
    require_engine,
)

#: "dynamo" is torch.export-based; "legacy" the TorchScript-based exporter, several times faster.
ONNX_EXPORTERS = ("dynamo", "legacy")


def onnx_bytes(
    module: nn.Module,
    example: torch.Tensor,
    exporter: str = "legacy",
    opset: int | None = None,
    output_name: str = OUTPUT_NAME,
) -> bytes:
    """The ONNX model of ``module`` (eval mode, CPU) for inputs shaped like ``example``, batch axis
    dynamic, input ``images``. ``example`` should hold 2 images: a batch of one can let an exporter
    specialise the batch axis to 1."""
    if exporter not in ONNX_EXPORTERS:
        raise ValueError(f"unknown ONNX exporter {exporter!r}; expected one of {ONNX_EXPORTERS}")
    require_engine("onnx", "onnx", *(["onnxscript"] if exporter == "dynamo" else []))
    # ONNX has no memory format: export the contiguous (NCHW) module.
    module = module.to(memory_format=torch.contiguous_format)
    example = example.contiguous()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        # The model's input check compares shapes in Python, which the tracer notes, and the
        # legacy exporter announces its deprecation; neither changes the graph, and every caller
        # checks the result against PyTorch.
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            program = torch.onnx.export(
                module,
                (example,),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[output_name],
                dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},),
                opset_version=opset,
                optimize=True,
                verbose=False,
            )
            return program.model_proto.SerializeToString()
        buf = io.BytesIO()
        torch.onnx.export(
            module,
            (example,),
            buf,
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[output_name],
            dynamic_axes={INPUT_NAME: {0: "batch"}, output_name: {0: "batch"}},
            opset_version=opset or 17,
            do_constant_folding=True,
        )
        return buf.getvalue()


def with_metadata(graph: bytes, info: ArtifactInfo) -> bytes:
    """``graph`` with ``info`` in its ``metadata_props`` (replacing any earlier effnet entry)."""
    import onnx

    proto = onnx.load_from_string(graph)
    kept = [p for p in proto.metadata_props if not p.key.startswith("effnet.")]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, info.to_json()
    return proto.SerializeToString()


def export(
    model: nn.Module,
    path: Path,
    info: ArtifactInfo,
    calibration: torch.Tensor | None = None,
    exporter: str = "legacy",
    opset: int | None = None,
) -> list[Path]:
    """Write ``model`` as ONNX at ``info.precision`` (fp32, or int8 static QDQ calibrated on
    ``calibration``), atomically, with its metadata."""
    from .fuse import fold_batchnorm
    from .quantize import quantize_onnx

    # int8 quantizes the folded convs, as the fast path does; fp32 exports the model as it is
    # (ONNX Runtime fuses batch norm itself, and a fold done here would round differently).
    module = fold_batchnorm(model, strict=False) if info.precision == "int8" else model.eval()
    example = torch.randn(2, *info.input_shape, generator=torch.Generator().manual_seed(0))
    graph = onnx_bytes(module, example, exporter, opset, info.output_name)
    if info.precision == "int8":
        if calibration is None:
            raise ValueError("int8 ONNX needs calibration images")
        graph = quantize_onnx(graph, calibration, info.input_shape)
    graph = with_metadata(graph, info)
    with atomic_write(path) as tmp:
        tmp.write_bytes(graph)
    return [path]


def read_info(path: Path) -> ArtifactInfo:
    """The effnet metadata of an ONNX file; a damaged file, or one without it, names the file."""
    require_engine("onnx", "onnx")
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf raises its own DecodeError; any failure means damaged
        raise ArtifactError(f"{path}: not a readable ONNX model ({type(err).__name__})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    if METADATA_KEY not in props:
        raise ArtifactError(
            f"{path}: the ONNX file carries no effnet metadata (class names, preprocessing); "
            "export it with 'effnet export'"
        )
    return ArtifactInfo.from_json(props[METADATA_KEY], path)


def session(graph: bytes | Path, threads: int):
    """An ONNX Runtime session (all graph optimisations, ``threads`` intra-op threads)."""
    require_engine("onnx", "onnxruntime")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    source = graph if isinstance(graph, bytes) else str(graph)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def load(path: Path, threads: int) -> tuple[ArtifactInfo, Callable[[torch.Tensor], torch.Tensor]]:
    """The metadata of ``path`` and a callable from images to logits run by ONNX Runtime."""
    info = read_info(path)
    try:
        sess = session(path, threads)
    except Exception as err:  # onnxruntime's own exception types; the file is what is wrong
        raise ArtifactError(f"{path}: ONNX Runtime cannot load it ({err})") from None
    name = sess.get_inputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        x = x.detach().to(torch.float32).contiguous()
        return torch.from_numpy(sess.run(None, {name: x.numpy()})[0])

    return info, run
