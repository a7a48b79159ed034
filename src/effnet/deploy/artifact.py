"""Deployable files from the fast path: OpenVINO IR or ONNX (int8: QDQ), and a loader that runs
them back at the precision they were made for.

An OpenVINO IR records its precision in the model's runtime info
(``runtime_options/INFERENCE_PRECISION_HINT``: ``f32`` or ``bf16``), and :func:`load_artifact`
compiles with that hint set explicitly, so a bf16 IR never runs as fp32 or the other way round.
Weights are written as they are (no fp16 compression: OpenVINO's default would change fp32
logits).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from .openvino import PRECISION_HINTS, StreamedModel, import_openvino

SUFFIXES = {"openvino": ".xml", "onnxruntime": ".onnx"}
_HINT_KEY = ["runtime_options", "INFERENCE_PRECISION_HINT"]


def save_artifact(fast, path: str | os.PathLike) -> list[Path]:
    """Write the engine model behind ``fast`` (an ``OptimizedModel`` on openvino or onnxruntime,
    already run once) to ``path``; returns the files written (IR: .xml and .bin)."""
    if fast.backend not in SUFFIXES:
        raise ValueError(
            f"a {fast.backend} model is not a deployable file; use backend openvino or onnxruntime"
        )
    path = Path(path).with_suffix(SUFFIXES[fast.backend])
    path.parent.mkdir(parents=True, exist_ok=True)
    if fast.backend == "onnxruntime":
        graph = next(iter(fast.runner.graphs.values()))
        path.write_bytes(graph)
        return [path]
    ov = import_openvino()
    model = next(iter(fast.runner.models.values())).clone()
    model.set_rt_info(PRECISION_HINTS[fast.precision], _HINT_KEY)
    model.set_rt_info(fast.precision, ["effnet", "precision"])
    ov.save_model(model, str(path), compress_to_fp16=False)
    return [path, path.with_suffix(".bin")]


def artifact_precision(path: str | os.PathLike) -> str:
    """The effnet precision an artifact was written at ("fp32", "bf16", "int8")."""
    path = Path(path)
    if path.suffix == ".onnx":
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
        return "int8" if any(n.op_type == "QuantizeLinear" for n in graph.node) else "fp32"
    model = import_openvino().Core().read_model(str(path))
    return str(model.get_rt_info(["effnet", "precision"]).astype(str))


def load_artifact(
    path: str | os.PathLike, threads: int | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A callable from images to logits running ``path`` (.xml IR or .onnx) on its engine."""
    path = Path(path)
    threads = threads or torch.get_num_threads()
    if path.suffix == ".onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: torch.from_numpy(session.run(None, {name: x.float().numpy()})[0])
    model = import_openvino().Core().read_model(str(path))
    hint = str(model.get_rt_info(_HINT_KEY).astype(str))
    streamed = StreamedModel(model, threads, hint)  # the fast path's streams and checks
    return lambda x: streamed(x)[0]
