"""ExecuTorch (.pte) files for the XNNPACK backend, at fp32 or int8, run back by ExecuTorch's own
runtime (never by PyTorch).

Export: batch norm is folded first (:func:`effnet.deploy.fuse.fold_batchnorm`), so that int8
quantizes the weights the runtime actually multiplies by, then ``torch.export`` with a dynamic batch
axis, ``to_edge_transform_and_lower`` with the XNNPACK partitioner and ``to_executorch``. A .pte
holds no metadata of its own: the :class:`~effnet.deploy.metadata.ArtifactInfo` goes in the
companion JSON beside it.

Batch: the program takes 1 to :data:`MAX_BATCH` images at once. ExecuTorch plans memory for the
largest batch the program accepts and allocates it when the program is loaded, so the bound is kept
small; the runtime cuts a larger batch into chunks of that size (XNNPACK gains nothing from more
images per call on a CPU: Lite0 at 224 ran 190-210 images/s at batch 1, 8 and 32 on 2 cores).
PyTorch's fake convolution asks "batch < 16?" when it picks a CPU kernel (MKLDNN's and NNPACK's
heuristics) while XNNPACK's passes re-trace the graph, which would silently cap the batch at 15;
both heuristics are switched off while lowering (:func:`_no_batch_guards`).

int8 (XNNPACK's quantizer, PT2E post-training quantization): int8 weights symmetric per output
channel (a depthwise conv's channels differ in scale by 100x or more), int8 activations per tensor
with ranges from histograms of the calibration images, each conv -> ReLU6 quantized after its clamp
(:func:`_annotate_clamps`); the modules of :data:`effnet.deploy.quantize.KEEP_FP32` (stem,
squeeze-excitation, classifier) stay fp32, as in effnet's other int8 engines.

Threads: ExecuTorch runs XNNPACK on one thread pool per process; :func:`load` sizes it. Resizing
replaces the pool, which programs loaded before still point to, so they are loaded again before
their next run (:func:`set_threads`); every program of the process runs under one lock
(:data:`_RUNNING`), which also keeps the pool from being replaced under a running program.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..fileio import atomic_write
from .fuse import fold_batchnorm
from .metadata import ArtifactError, ArtifactInfo, read_companion, require_engine, write_companion
from .quantize import KEEP_FP32, calibration_images

#: The largest batch one call of the program takes; larger batches are run in chunks of this size.
MAX_BATCH = 32
#: Images per forward pass while calibrating (any size up to :data:`MAX_BATCH`).
CALIBRATION_BATCH = 16
PRECISIONS = ("fp32", "int8")
#: Held while an ExecuTorch program runs or the thread pool is resized: the pool is shared by every
#: program of the process, and resizing it under a running one is unsafe.
_RUNNING = threading.Lock()
#: How many times the thread pool has been replaced (:func:`set_threads`).
_pool_generation = 0

Logits = Callable[[torch.Tensor], torch.Tensor]


def export(
    model: nn.Module, path: Path, info: ArtifactInfo, calibration: torch.Tensor | None = None
) -> list[Path]:
    """Write ``model`` as an ExecuTorch program for XNNPACK at ``path`` (.pte), then its companion
    JSON; returns both paths. int8 needs ``calibration``: preprocessed images ``(N, C, H, W)``.

    The .pte is written atomically: an interrupted export leaves the previous file (or none), and
    the companion is written only once the program it describes is complete.
    """
    require_engine("executorch", "executorch")
    path = Path(path)
    if info.format != "executorch":
        raise ValueError(f"the info describes a {info.format} file, not an ExecuTorch program")
    if path.suffix.lower() != ".pte":
        raise ValueError(f"{path}: an ExecuTorch program is written to a .pte file")
    if info.precision not in PRECISIONS:
        raise ValueError(f"ExecuTorch files are written at fp32 or int8, not {info.precision!r}")
    if info.precision == "int8" and calibration is None:
        raise ValueError(
            "int8 ExecuTorch export needs calibration images (calibration=...: preprocessed "
            f"float32 images of shape (N, {', '.join(map(str, info.input_shape))}))"
        )
    program = to_program(model, info.input_shape, info.precision, calibration)
    with atomic_write(path) as tmp:
        tmp.write_bytes(program)
    return [path, write_companion(path, info)]


def to_program(
    model: nn.Module,
    shape: tuple[int, int, int],
    precision: str = "fp32",
    calibration: torch.Tensor | None = None,
) -> bytes:
    """The serialized ExecuTorch program of ``model`` for inputs ``(N, *shape)``, lowered to
    XNNPACK (int8: quantized first on ``calibration``)."""
    with _quiet_import():
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

    module = _folded(model)
    if precision == "int8":
        assert calibration is not None
        module = quantized(module, calibration_images(calibration, shape), shape)
    exported = _export(module, shape)
    with _no_batch_guards():
        edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
        return bytes(edge.to_executorch().buffer)


def _folded(model: nn.Module) -> nn.Module:
    """An eval-mode, BN-folded, NCHW-contiguous fp32 CPU copy of ``model`` (``model`` untouched)."""
    folded = fold_batchnorm(model, strict=False)
    return folded.float().cpu().to(memory_format=torch.contiguous_format).eval()


def _export(module: nn.Module, shape: tuple[int, ...]) -> torch.export.ExportedProgram:
    """``torch.export`` of ``module`` for 1 to :data:`MAX_BATCH` images of ``shape``.

    The example batch is 2: an example of 1 would fix the batch at 1 (0/1 specialization).
    """
    sample = torch.zeros(2, *shape)
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    with torch.no_grad():
        return torch.export.export(module, (sample,), dynamic_shapes=({0: batch},))


@contextlib.contextmanager
def _no_batch_guards() -> Iterator[None]:
    """MKLDNN and NNPACK off while lowering: their kernel-choice heuristics compare the batch with
    16 when a convolution is traced on fake tensors, and the comparison then narrows the program's
    batch range to what the example batch satisfied (1 to 15). Nothing here runs a real
    convolution, so no speed is lost; the flags are restored on exit."""
    mkldnn, nnpack = torch.backends.mkldnn, torch.backends.nnpack
    # set_flags, not flags(): flags() also resets oneDNN's TF32 and precision settings (and warns).
    mkldnn_was = mkldnn.set_flags(False, _fp32_precision=None)[0]
    nnpack_was = nnpack.set_flags(False)[0]
    try:
        yield
    finally:
        nnpack.set_flags(nnpack_was)
        mkldnn.set_flags(mkldnn_was, _fp32_precision=None)


def quantized(module: nn.Module, images: torch.Tensor, shape: tuple[int, ...]) -> nn.Module:
    """``module`` (BN folded) quantized for XNNPACK by PT2E, activation ranges measured on
    ``images``: a graph module with quantize/dequantize pairs that lowering turns into int8
    kernels. The modules of :data:`KEEP_FP32` are left fp32."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    prepared = prepare_pt2e(_export(module, shape).module(), _quantizer(KEEP_FP32))
    with torch.no_grad():
        for start in range(0, len(images), CALIBRATION_BATCH):
            prepared(images[start : start + CALIBRATION_BATCH])
    return convert_pt2e(prepared)


def _quantizer(keep: tuple[str, ...]) -> Any:
    """XNNPACK's quantizer (int8, weights symmetric per channel), leaving the modules named in
    ``keep`` fp32, and quantizing each conv -> ReLU6 after the clamp (:func:`_annotate_clamps`)."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    config = get_symmetric_quantization_config(is_per_channel=True)
    wanted = _outside(keep)

    class ClampAwareQuantizer(XNNPACKQuantizer):
        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            _annotate_clamps(model, config, wanted)
            return super().annotate(model)

    return ClampAwareQuantizer().set_global(config).set_filter_function(wanted)


def _outside(keep: tuple[str, ...]) -> Callable[[Any], bool]:
    """A node filter: True for graph nodes that belong to none of the modules named ``keep``.

    A node's ``nn_module_stack`` lists the dotted paths of the modules it was traced in
    (``blocks.1.0.se.reduce``); a node is kept fp32 when a component of one of them is in ``keep``.
    """
    kept = set(keep)

    def outside(node: Any) -> bool:
        stack = node.meta.get("nn_module_stack", {}) or {}
        return not any(kept.intersection(str(entry[0]).split(".")) for entry in stack.values())

    return outside


def _annotate_clamps(
    graph: torch.fx.GraphModule, config: Any, wanted: Callable[[Any], bool]
) -> None:
    """Quantize every conv -> ReLU6 (``hardtanh``) pair as one operation, int8 after the clamp.

    XNNPACK's quantizer does so for conv -> ReLU but not for ReLU6, EfficientNet-Lite's activation:
    it would quantize the conv's output before the clamp, over a range of tens, leaving the 0..6
    that the next layer sees a fraction of the 256 levels. Measured on ImageNet Lite0 and crops of
    photographs: the mean logit error falls from 0.26 to 0.10, and the cat photograph keeps its
    top class. XNNPACK fuses the clamp into the conv kernel either way.
    """
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation
    from torchao.quantization.pt2e.quantizer.quantizer import Q_ANNOTATION_KEY as KEY

    clamps = (torch.ops.aten.hardtanh.default, torch.ops.aten.hardtanh_.default)
    for clamp in graph.graph.nodes:
        conv = clamp.args[0] if clamp.op == "call_function" and clamp.target in clamps else None
        if not isinstance(conv, torch.fx.Node) or conv.target != torch.ops.aten.conv2d.default:
            continue
        operands = [a for a in conv.args[:3] if isinstance(a, torch.fx.Node)]
        nodes = [conv, clamp, *operands[1:]]
        if len(conv.users) > 1 or not all(map(wanted, nodes)):
            continue
        if any(getattr(n.meta.get(KEY), "_annotated", False) for n in nodes):
            continue
        specs = [config.input_activation, config.weight, config.bias]
        conv.meta[KEY] = QuantizationAnnotation(dict(zip(operands, specs, strict=False)))
        clamp.meta[KEY] = QuantizationAnnotation(output_qspec=config.output_activation)
        for node in nodes:
            node.meta.setdefault(KEY, QuantizationAnnotation())._annotated = True


def load(path: Path, threads: int) -> tuple[ArtifactInfo, Logits]:
    """The info of the .pte ``path`` and a callable from float32 images ``(N, C, H, W)`` (any N)
    to float32 logits ``(N, classes)``, run by ExecuTorch's runtime with XNNPACK.

    ``threads`` sets the size of ExecuTorch's thread pool, which XNNPACK runs on. That pool is one
    per process: the last load decides it for every ExecuTorch program in the process.
    """
    require_engine("executorch", "executorch")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    set_threads(threads)  # first: a program keeps the pool it was loaded with
    runner = _Runner(path, path.read_bytes())  # a damaged program is named before its companion
    info = read_companion(path)
    if runner.shape != info.input_shape:
        raise ArtifactError(
            f"{path}: the program takes images of {list(runner.shape)}, its metadata says "
            f"{list(info.input_shape)}; re-export it"
        )
    return info, runner


def _load_method(path: Path, data: bytes) -> tuple[Any, Any, tuple[int, ...]]:
    """The program ``data`` (read from ``path``), its ``forward`` method and the largest input
    that takes (batch first); a damaged or truncated file is an :class:`ArtifactError` naming it."""
    runtime = _runtime()
    try:
        with _native_stderr_silenced():
            program = runtime.load_program(data)
            method = program.load_method("forward")
    except (RuntimeError, KeyError, ValueError) as err:
        raise ArtifactError(
            f"{path}: not a complete ExecuTorch program, damaged or truncated ({err}); re-export it"
        ) from None
    meta = method.metadata
    if meta.num_inputs() != 1 or meta.num_outputs() != 1:
        raise ArtifactError(f"{path}: the program is not an image classifier (1 input, 1 output)")
    sizes = tuple(int(s) for s in meta.input_tensor_meta(0).sizes())
    if len(sizes) != 4:
        raise ArtifactError(f"{path}: the program's input is {list(sizes)}, not (N, C, H, W)")
    return program, method, sizes


@contextlib.contextmanager
def _quiet_import() -> Iterator[None]:
    """Importing ExecuTorch (and torchao under it) announces its bindings as experimental and logs
    a note from torch's pytree registry about an enum it registers: neither says anything to
    effnet's users, and the log line would break a command's one-line error."""
    log = logging.getLogger("torch.utils._pytree")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """The runtime's C++ logs (its CPU probe, a loader's bounds check) go straight to file
    descriptor 2, where they would bury a command's one-line error: silenced while a program
    loads. What goes wrong is raised as an exception, which carries the reason."""
    import io
    import os
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        # Both: the bindings write through Python's sys.stderr, the C++ underneath to the fd.
        with open(os.devnull, "w") as null, contextlib.redirect_stderr(io.StringIO()):
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _runtime() -> Any:
    """ExecuTorch's runtime singleton."""
    with _quiet_import():
        from executorch.runtime import Runtime

        return Runtime.get()


def set_threads(threads: int) -> None:
    """Size ExecuTorch's process-wide thread pool (XNNPACK's) to ``threads``, if it differs.

    The runtime's only handle on it is ``_unsafe_reset_threadpool``, which replaces the pool: a
    program loaded before keeps the old one, freed (running it then crashes or hangs the process),
    so each runner loads its program again on its next call (:attr:`_Runner.generation`). The
    replacement happens under :data:`_RUNNING`, never under a running program.
    """
    global _pool_generation
    with _quiet_import():
        from executorch.extension.pybindings import portable_lib

    threads = max(1, int(threads))
    with _RUNNING, _native_stderr_silenced():  # the first call probes the CPU, loudly
        if portable_lib._threadpool_get_thread_count() != threads:
            portable_lib._unsafe_reset_threadpool(threads)
            _pool_generation += 1


class _Runner:
    """An ExecuTorch program as a callable from images to logits: batches of any size, run in
    chunks of the program's batch capacity, one program at a time (:data:`_RUNNING`).

    The runner keeps the file's bytes: the program is loaded from them again when the thread pool
    it was loaded with has been replaced, and a file overwritten in place (ExecuTorch would map it
    into memory) cannot change or crash a program that is running.
    """

    def __init__(self, path: Path, data: bytes) -> None:
        self.path, self.data = path, data
        self.method: Any = None
        self._load()

    def _load(self) -> None:
        self.generation = _pool_generation
        self.method = self.program = None  # an old method goes before the new one is built
        self.program, self.method, sizes = _load_method(self.path, self.data)
        self.capacity, self.shape = sizes[0], sizes[1:]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or tuple(images.shape[1:]) != self.shape:
            raise ValueError(
                f"the .pte takes images of shape (N, {', '.join(map(str, self.shape))}), "
                f"got {tuple(images.shape)}"
            )
        x = images.detach().to("cpu", torch.float32).contiguous()
        with _RUNNING:
            if self.generation != _pool_generation:
                self._load()
            outputs = [
                self.method.execute([x[start : start + self.capacity]])[0]
                for start in range(0, len(x), self.capacity)
            ]
        if not outputs:
            classes = int(self.method.metadata.output_tensor_meta(0).sizes()[-1])
            return torch.empty(0, classes)
        return torch.cat(outputs).float()
