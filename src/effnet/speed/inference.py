"""The fast inference path: fold batch norm, go channels_last, then run on the quickest backend.

EfficientNet's depthwise convs and squeeze-excitation gates are memory-bound, so on a CPU eager
PyTorch spends much of its time moving activations rather than multiplying. Three backends are
offered, each returning the same logits as the eager model:

- ``"eager"``: the folded, channels_last torch module under ``no_grad``;
- ``"compile"``: the same module through ``torch.compile`` (inductor, weights frozen as constants);
- ``"onnxruntime"``: the folded model exported to ONNX and run by an ONNX Runtime session with all
  graph optimisations (its blocked NCHWc conv layout fuses SiLU into the convs).

``"auto"`` times the candidates on this machine at the batch size the caller will use and keeps the
fastest; measured on a 2-core AVX2 CPU, ONNX Runtime was about 2x torch.compile and 3-4x eager at
batch 32 (benchmarks/RESULTS.md), but the ranking is a property of the machine, so it is measured
rather than assumed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import shutil
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from .fuse import fold_batchnorm
from .timing import time_runs

BACKENDS = ("eager", "compile", "onnxruntime")
#: What ``backend="auto"`` tries unless told otherwise. torch.compile is left out because building
#: it takes one to two minutes per model on a small CPU and it measured slower than ONNX Runtime
#: there; pass ``candidates=BACKENDS`` to include it.
AUTO_CANDIDATES = ("onnxruntime", "eager")


def backend_available(backend: str) -> bool:
    """Whether ``backend`` can run here (ONNX Runtime installed; a C++ compiler for inductor)."""
    if backend == "eager":
        return True
    if backend == "onnxruntime":
        return importlib.util.find_spec("onnxruntime") is not None
    if backend == "compile":
        return any(shutil.which(cc) for cc in ("c++", "g++", "clang++"))
    raise ValueError(f"unknown backend {backend!r}; expected one of {(*BACKENDS, 'auto')}")


def available_backends() -> list[str]:
    """The backends :func:`optimize_for_inference` can use on this machine."""
    return [b for b in BACKENDS if backend_available(b)]


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(
            "the 'onnxruntime' backend needs the onnxruntime package: pip install onnxruntime "
            "(or use backend='eager')"
        ) from None
    return onnxruntime


# --------------------------------------------------------------------------------------------------
# backends: each turns a folded, eval-mode, channels_last module into a callable on torch tensors


class _EagerRunner:
    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def __call__(self, x: torch.Tensor) -> Any:
        with torch.no_grad():
            return self.module(x.contiguous(memory_format=torch.channels_last))


class _CompiledRunner(_EagerRunner):
    """torch.compile with inductor's freezing: weights become constants it can pre-pack and fold.

    ``options`` patches inductor's config for this compile only, so the caller's other compiles
    are unaffected.
    """

    def __init__(self, module: nn.Module, max_autotune: bool = False) -> None:
        options = {"freezing": True}
        if max_autotune:
            options["max_autotune"] = True
        super().__init__(torch.compile(module, options=options))


class _OnnxRuntimeRunner:
    """An ONNX Runtime session per input size, fed and read as torch tensors.

    Exported with a dynamic batch axis; spatial size is fixed per export because TF "SAME" padding
    is computed from it, so a new image size triggers one more export (cached).
    """

    def __init__(
        self, module: nn.Module, threads: int, exporter: str = "torchscript", opset: int = 17
    ) -> None:
        if exporter not in ("torchscript", "dynamo"):
            raise ValueError(f"unknown exporter {exporter!r}; expected 'torchscript' or 'dynamo'")
        self.ort = _import_onnxruntime()
        self.module = module
        self.threads = threads
        self.exporter = exporter
        self.opset = opset
        self.sessions: dict[tuple[int, ...], Any] = {}
        self._tensor_output = True

    def export(self, sample: torch.Tensor) -> bytes:
        """The ONNX bytes of the module for inputs shaped like ``sample`` (any batch size)."""
        # Export on the contiguous (NCHW) module: ONNX has no memory format, and ONNX Runtime picks
        # its own blocked layout for the convs.
        module = self.module.to(memory_format=torch.contiguous_format)
        sample = sample.contiguous()
        with warnings.catch_warnings():
            # The model's input check compares shapes in Python, which the tracer notes; and the
            # TorchScript-based exporter announces its deprecation. Neither changes the graph.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            if self.exporter == "torchscript":
                # Five times faster to export than the dynamo exporter here (4 s vs 20 s for B0)
                # and the sessions it yields run equally fast.
                buf = io.BytesIO()
                torch.onnx.export(
                    module,
                    (sample,),
                    buf,
                    dynamo=False,
                    opset_version=self.opset,
                    input_names=["images"],
                    output_names=["logits"],
                    dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                )
                data = buf.getvalue()
            else:
                with contextlib.redirect_stdout(io.StringIO()):
                    program = torch.onnx.export(
                        module,
                        (sample,),
                        dynamo=True,
                        opset_version=max(self.opset, 18),
                        input_names=["images"],
                        dynamic_shapes=({0: torch.export.Dim("batch")},),
                    )
                data = program.model_proto.SerializeToString()
        self.module.to(memory_format=torch.channels_last)
        return data

    def session_for(self, x: torch.Tensor):
        key = tuple(x.shape[1:])
        if key not in self.sessions:
            with torch.no_grad():
                self._tensor_output = isinstance(self.module(x[:1].contiguous()), torch.Tensor)
            options = self.ort.SessionOptions()
            options.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.execution_mode = self.ort.ExecutionMode.ORT_SEQUENTIAL
            self.sessions[key] = self.ort.InferenceSession(
                self.export(x[:1]), options, providers=["CPUExecutionProvider"]
            )
        return self.sessions[key]

    def __call__(self, x: torch.Tensor) -> Any:
        if x.device.type != "cpu":
            raise ValueError(f"the onnxruntime backend runs on CPU tensors, got {x.device}")
        x = x.detach().to(torch.float32).contiguous()
        session = self.session_for(x)
        outputs = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        tensors = [torch.from_numpy(o) for o in outputs]
        return tensors[0] if self._tensor_output else tensors


# --------------------------------------------------------------------------------------------------


class OptimizedModel(nn.Module):
    """What :func:`optimize_for_inference` returns: call it like the model it came from.

    Attributes:
        backend: the backend in use ("eager", "compile" or "onnxruntime").
        measurements: images/s of each backend timed by ``backend="auto"`` (empty otherwise).
        module: the folded, channels_last torch module behind it (also what ONNX was exported from).
    """

    def __init__(
        self,
        module: nn.Module,
        runner: Callable[[torch.Tensor], Any],
        backend: str,
        measurements: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        self.module = module
        self.runner = runner
        self.backend = backend
        self.measurements = dict(measurements or {})

    def forward(self, x: torch.Tensor) -> Any:
        return self.runner(x)

    def train(self, mode: bool = True) -> OptimizedModel:
        if mode:
            raise RuntimeError("an optimized model is for inference only (batch norm is folded)")
        return super().train(False)

    def extra_repr(self) -> str:
        return f"backend={self.backend!r}"


def _input_shape(model: nn.Module, resolution: int | None) -> tuple[int, int, int]:
    spec = getattr(model, "spec", None)
    res = resolution or (spec.resolution if spec is not None else 224)
    return (getattr(model, "in_chans", 3), res, res)


def _build(backend: str, module: nn.Module, threads: int, **options: Any):
    if backend == "eager":
        return _EagerRunner(module)
    if backend == "compile":
        if not backend_available("compile"):
            raise RuntimeError("the 'compile' backend needs a C++ compiler (c++/g++) on PATH")
        return _CompiledRunner(module, max_autotune=options.get("max_autotune", False))
    if backend == "onnxruntime":
        return _OnnxRuntimeRunner(module, threads, exporter=options.get("exporter", "torchscript"))
    raise ValueError(f"unknown backend {backend!r}; expected one of {(*BACKENDS, 'auto')}")


def images_per_second(
    fn: Callable[[torch.Tensor], Any], x: torch.Tensor, runs: int = 3, warmup: int = 1
) -> float:
    """Throughput of ``fn`` on batch ``x``, from the fastest of ``runs`` timed calls.

    The fastest rather than the mean: on a machine shared with other work the slow runs measure
    the neighbours, not the candidate.
    """
    with torch.no_grad():
        best = min(time_runs(lambda: fn(x), runs, warmup))
    return x.shape[0] / best


def optimize_for_inference(
    model: nn.Module,
    backend: str = "auto",
    batch_size: int = 1,
    resolution: int | None = None,
    threads: int | None = None,
    candidates: Sequence[str] | None = None,
    verbose: bool = True,
    **options: Any,
) -> OptimizedModel:
    """A copy of ``model`` made fast for inference; ``model`` itself is left as it was.

    Eval mode, batch norm folded into the convs, channels_last, then ``backend``. The backend is
    prepared for ``batch_size`` images of ``resolution`` (default: the model's own), which is also
    the shape ``"auto"`` times the ``candidates`` at. ``threads`` sets ONNX Runtime's intra-op
    threads (default: ``torch.get_num_threads()``). ``options``: ``exporter="torchscript"|"dynamo"``
    for ONNX, ``max_autotune=True`` for compile.
    """
    if backend != "auto" and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {(*BACKENDS, 'auto')}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    threads = threads or torch.get_num_threads()
    module = fold_batchnorm(model, strict=False).to(memory_format=torch.channels_last)
    for p in module.parameters():
        p.requires_grad_(False)
    sample = torch.randn(batch_size, *_input_shape(model, resolution))

    if backend != "auto":
        runner = _build(backend, module, threads, **options)
        with torch.no_grad():
            runner(sample)  # export / compile now, not on the caller's first batch
        return OptimizedModel(module, runner, backend).eval()

    wanted = list(candidates or AUTO_CANDIDATES)
    unknown = [b for b in wanted if b not in BACKENDS]
    if unknown:
        raise ValueError(f"unknown candidate backend(s) {unknown}; expected some of {BACKENDS}")
    runners: dict[str, Any] = {}
    speed: dict[str, float] = {}
    for name in wanted:
        if not backend_available(name):
            continue
        runners[name] = _build(name, module, threads, **options)
        speed[name] = images_per_second(runners[name], sample)
    best = max(speed, key=speed.__getitem__)
    if verbose:
        table = ", ".join(f"{name} {ips:.1f} img/s" for name, ips in speed.items())
        print(
            f"optimize_for_inference: picked {best} at batch {batch_size} ({table})",
            file=sys.stderr,
        )
    return OptimizedModel(module, runners[best], best, speed).eval()
