"""The OpenVINO backend of the fast path, at fp32, bf16 or int8, with the precision always explicit.

OpenVINO's CPU plugin runs bf16 on its own whenever the CPU has AMX or AVX-512 BF16 unless told
otherwise, so every compile here sets ``INFERENCE_PRECISION_HINT`` (``f32`` for fp32 and for the
non-quantized parts of an int8 model, ``bf16`` for bf16) and reads it back from the compiled model:
a model never runs at a precision the caller did not ask for.

int8 models come from :func:`effnet.deploy.quantize.quantize_openvino` (NNCF post-training
quantization on calibration images).

A batch is run one of two ways. A small one (fewer than two chunks per stream) goes through one
stream that uses every thread: the lowest latency. A larger one is cut into chunks of
:data:`CHUNK` images that run on one stream per thread at once (OpenVINO's throughput mode): each
core then works through whole images instead of every core sharing each layer of the batch and
meeting the other at every layer's end. Measured side by side on a 2-core AMX Xeon, B0 at 224,
batch 32, median images/s: fp32 108 -> 115, bf16 162 -> 181, int8 149 -> 175
(benchmarks/RESULTS.md). Not the cache: OpenVINO's per-layer counters give the same time per
image at batch 4 and 32 on one stream.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .metadata import ArtifactError, ArtifactInfo, MissingEngineError
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
#: Images per request when a batch is split over streams: several chunks per stream let a stream
#: that finishes early take the next one, and a request's overhead stays small (4 and 8 were within
#: noise of each other for B0 at batch 32; 16 was slower).
CHUNK = 4


def import_openvino():
    """The ``openvino`` module, or an ImportError that says how to install it."""
    try:
        import openvino
    except ImportError:
        raise MissingEngineError(
            f"the 'openvino' backend needs the openvino package: {INSTALL_HINT} "
            "(or use backend='onnxruntime' / 'eager')"
        ) from None
    return openvino


class OpenVinoRunner:
    """A compiled OpenVINO model per input size (dynamic batch), fed and read as torch tensors.

    ``calibration`` (required for int8) holds the images NNCF measures activation ranges on.
    ``streams`` is how many requests run at once on a batch large enough to give each stream two
    chunks of :data:`CHUNK` images (default: one per thread; 1 runs every batch as one request).
    """

    def __init__(
        self,
        module: nn.Module,
        threads: int,
        precision: str = "fp32",
        calibration: Calibration | None = None,
        streams: int | None = None,
    ) -> None:
        if precision not in PRECISION_HINTS:
            raise ValueError(f"openvino runs fp32, bf16 or int8, not {precision!r}")
        if precision == "int8" and calibration is None:
            raise ValueError("int8 needs calibration images (calibration=...)")
        self.ov = import_openvino()
        self.module = module
        self.threads = threads
        self.streams = streams
        self.precision = precision
        self.calibration = calibration
        #: The compiled model per input size.
        self.streamed: dict[tuple[int, ...], StreamedModel] = {}
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

    @property
    def compiled(self) -> dict[tuple[tuple[int, ...], int], Any]:
        """Per (input size, streams): the infer request (one stream) or queue (several)."""
        return {(shape, n): r for shape, m in self.streamed.items() for n, r in m.compiled.items()}

    def streamed_for(self, x: torch.Tensor) -> StreamedModel:
        """The compiled model for ``x``'s image size, converted (and quantized) on first use."""
        shape = tuple(x.shape[1:])
        if shape not in self.streamed:
            with torch.no_grad():
                self._tensor_output = isinstance(self.module(x[:1].contiguous()), torch.Tensor)
            self.models[shape] = self.convert(x)
            hint = PRECISION_HINTS[self.precision]
            model = StreamedModel(self.models[shape], self.threads, hint, self.streams)
            self.streamed[shape] = model
        return self.streamed[shape]

    def __call__(self, x: torch.Tensor) -> Any:
        if x.device.type != "cpu":
            raise ValueError(f"the openvino backend runs on CPU tensors, got {x.device}")
        outputs = self.streamed_for(x)(x)
        return outputs[0] if self._tensor_output else outputs


def compile_config(hint: str, threads: int, streams: int = 1) -> dict[str, Any]:
    """The compile properties: precision ``hint`` stated, ``threads`` threads over ``streams``
    streams (one stream: the latency mode, every thread on each request)."""
    return {
        "INFERENCE_PRECISION_HINT": hint,
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT",
        "NUM_STREAMS": streams,
    }


def streams_for(batch: int, streams: int) -> int:
    """``streams`` for a batch that gives each stream at least two chunks, else 1."""
    return streams if batch >= 2 * CHUNK * streams else 1


class StreamedModel:
    """An ``openvino.Model`` compiled for the CPU at precision ``hint`` (checked after compiling),
    fed and read as torch tensors: a small batch as one request, a large one in chunks over
    ``streams`` streams. The fast path's runner and a loaded IR artifact both run through it."""

    def __init__(self, model: Any, threads: int, hint: str, streams: int | None = None) -> None:
        self.ov = import_openvino()
        self.model = model
        self.threads = threads
        self.hint = hint
        self.streams = max(1, min(streams or threads, threads))
        #: Per stream count: an infer request (one stream) or a queue of requests (several).
        self.compiled: dict[int, Any] = {}

    def runner_for(self, batch: int) -> Any:
        """The request or queue for a batch of ``batch`` images, compiled on first use."""
        streams = streams_for(batch, self.streams)
        if streams not in self.compiled:
            config = compile_config(self.hint, self.threads, streams)
            compiled = self.ov.Core().compile_model(self.model, "CPU", config)
            got = compiled.get_property("INFERENCE_PRECISION_HINT")
            if getattr(self.ov.Type, self.hint) != got:
                raise RuntimeError(f"OpenVINO compiled at {got}, not the {self.hint} asked for")
            self.compiled[streams] = (
                compiled.create_infer_request()
                if streams == 1
                else self.ov.AsyncInferQueue(compiled, streams)
            )
        return self.compiled[streams]

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every output of the model for the batch ``x``."""
        x = x.detach().to(torch.float32).contiguous()
        runner = self.runner_for(len(x))
        if isinstance(runner, self.ov.AsyncInferQueue):
            return _run_in_chunks(runner, x)
        runner.infer({0: x.numpy()}, share_inputs=True)
        return [torch.from_numpy(np.array(t.data)) for t in runner.output_tensors]


def _run_in_chunks(queue: Any, x: torch.Tensor) -> list[torch.Tensor]:
    """``x`` in chunks of :data:`CHUNK` on ``queue``'s requests at once; outputs in input order.

    Each finished request's outputs are copied out in its callback: the request is reused for a
    later chunk as soon as the callback returns.
    """
    chunks = torch.split(x, CHUNK)
    results: list[list[np.ndarray]] = [[] for _ in chunks]

    def keep(request: Any, index: int) -> None:
        results[index] = [np.array(t.data) for t in request.output_tensors]

    queue.set_callback(keep)
    for index, chunk in enumerate(chunks):
        queue.start_async({0: chunk.numpy()}, userdata=index, share_inputs=True)
    queue.wait_all()
    return [torch.from_numpy(np.concatenate(parts)) for parts in zip(*results, strict=True)]


#: Where an IR keeps effnet's metadata, the precision it was written at, and OpenVINO's hint.
INFO_KEY = ["effnet", "artifact"]
HINT_KEY = ["runtime_options", "INFERENCE_PRECISION_HINT"]


def export(
    model: nn.Module, path: Path, info: ArtifactInfo, calibration: torch.Tensor | None = None
) -> list[Path]:
    """Write ``model`` as an OpenVINO IR (``path`` .xml and its .bin) at ``info.precision``: fp32,
    bf16 (the precision hint recorded in the IR, so it never runs as fp32) or int8 (NNCF on
    ``calibration``). Weights are stored as they are: OpenVINO's default fp16 compression would
    change fp32 logits. Both files are written beside the target and renamed into place, .bin
    first, so an interrupted export never leaves an .xml whose weights are another export's."""
    from .fuse import fold_batchnorm

    ov = import_openvino()
    module = fold_batchnorm(model, strict=False).to(memory_format=torch.channels_last)
    runner = OpenVinoRunner(module, 1, info.precision, calibration)
    example = torch.randn(2, *info.input_shape, generator=torch.Generator().manual_seed(0))
    ir = runner.convert(example).clone()
    ir.inputs[0].get_tensor().set_names({info.input_name})
    ir.outputs[0].get_tensor().set_names({info.output_name})
    ir.set_rt_info(PRECISION_HINTS[info.precision], HINT_KEY)
    ir.set_rt_info(info.to_json(), INFO_KEY)
    weights = path.with_suffix(".bin")
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.stem}.") as tmp:
        staged = Path(tmp) / path.name
        ov.save_model(ir, str(staged), compress_to_fp16=False)
        os.replace(staged.with_suffix(".bin"), weights)
        os.replace(staged, path)
    return [path, weights]


def read_ir(path: Path) -> Any:
    """The ``openvino.Model`` of the IR ``path``; a missing .bin or a damaged file names it."""
    weights = path.with_suffix(".bin")
    if not weights.is_file():
        raise ArtifactError(
            f"{weights} is missing: an OpenVINO IR is two files, {path.name} and its weights "
            f"{weights.name}; copy both"
        )
    try:
        return import_openvino().Core().read_model(str(path), str(weights))
    except RuntimeError as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else "unreadable"
        raise ArtifactError(f"{path}: OpenVINO cannot read this IR ({reason})") from None


def load(path: Path, threads: int) -> tuple[ArtifactInfo, Callable[[torch.Tensor], torch.Tensor]]:
    """The metadata of the IR ``path`` and a callable from images to logits, compiled at the
    precision the IR records (checked after compiling) on the fast path's streams."""
    ir = read_ir(path)
    if not ir.has_rt_info(INFO_KEY):
        raise ArtifactError(
            f"{path}: the IR carries no effnet metadata (class names, preprocessing); export it "
            "with 'effnet export'"
        )
    info = ArtifactInfo.from_json(str(ir.get_rt_info(INFO_KEY).astype(str)), path)
    streamed = StreamedModel(ir, threads, PRECISION_HINTS[info.precision])
    try:
        streamed.runner_for(1)  # compile now: a .bin that does not fit the .xml fails here
    except RuntimeError as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else "cannot compile"
        raise ArtifactError(f"{path}: OpenVINO cannot compile this IR ({reason})") from None
    return info, lambda x: streamed(x)[0]
