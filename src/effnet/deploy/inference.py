"""The fast inference path: fold batch norm, go channels_last, then run on the quickest backend at
the lowest precision the caller allows and the CPU computes natively.

EfficientNet's depthwise convs and squeeze-excitation gates are memory-bound, so on a CPU eager
PyTorch spends much of its time moving activations rather than multiplying. Four backends
(:mod:`effnet.deploy.runners`, :mod:`effnet.deploy.openvino`) and three precisions:

=============  =================  ==========================================================
backend        precisions         what runs
=============  =================  ==========================================================
eager          fp32, bf16         the folded, channels_last torch module under ``no_grad``
compile        fp32               the same module through ``torch.compile`` (inductor, frozen)
onnxruntime    fp32, int8         ONNX Runtime, all graph optimisations; int8: static QDQ
openvino       fp32, bf16, int8   OpenVINO's CPU plugin, precision hint always explicit;
                                  int8: NNCF post-training quantization
fused          fp32               each MBConv block as one C++ kernel, the rest eager
                                  (:mod:`effnet.deploy.fused`; AVX2 + FMA, a C++ compiler)
=============  =================  ==========================================================

fp32 backends return the eager model's logits (to 1e-4); reduced precisions are checked by
:mod:`effnet.deploy.fidelity` (top-1 agreement with fp32, accuracy on a labelled set).

``backend="auto"`` / ``precision="auto"`` time every available backend at every allowed precision
at the caller's batch size (``example``'s) and keep the fastest. A reduced precision is allowed only
where the CPU has units for it (:mod:`effnet.deploy.cpu`: AVX-512 BF16 / AMX for bf16, VNNI for
int8), only when the caller says ``precision="auto"`` or names it, and int8 only with calibration
images. The ranking is a property of the machine, so it is measured rather than assumed.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
from torch import nn

from .backends import AUTO_CANDIDATES, BACKENDS
from .cpu import PRECISIONS, CpuInfo, cpu_info
from .fuse import fold_batchnorm
from .fused import FusedRunner, fused_available
from .openvino import INSTALL_HINT, OpenVinoRunner
from .quantize import Calibration
from .runners import CompiledRunner, EagerRunner, OnnxRuntimeRunner
from .timing import time_interleaved, time_runs

#: The precisions each backend runs.
BACKEND_PRECISIONS = {
    "eager": ("fp32", "bf16"),
    "compile": ("fp32",),
    "onnxruntime": ("fp32", "int8"),
    "openvino": ("fp32", "bf16", "int8"),
    "fused": ("fp32",),
}
#: Rounds the "auto" choice times every candidate for, in turn (a round at batch 32 is about a
#: second for B0 on 2 cores; 3 rounds, one candidate after another, let one burst of load from
#: elsewhere pick the slower engine).
PROBE_ROUNDS = 7
#: Each candidate's turn in a round lasts about this long (at most 10 calls): long enough that the
#: switch from the previous candidate costs one call of several.
PROBE_TURN_S = 0.1


def backend_available(backend: str) -> bool:
    """Whether ``backend`` can run here (its package installed; a C++ compiler for inductor)."""
    if backend == "eager":
        return True
    if backend in ("onnxruntime", "openvino"):
        return importlib.util.find_spec(backend) is not None
    if backend == "compile":
        return any(shutil.which(cc) for cc in ("c++", "g++", "clang++"))
    if backend == "fused":
        return fused_available()
    raise ValueError(f"unknown backend {backend!r}; expected one of {(*BACKENDS, 'auto')}")


def available_backends() -> list[str]:
    """The backends :func:`optimize_for_inference` can use on this machine."""
    return [b for b in BACKENDS if backend_available(b)]


def engine_precisions(cpu: CpuInfo | None = None) -> list[tuple[str, str]]:
    """Every (backend, precision) pair that can run here: installed, and native on this CPU."""
    cpu = cpu or cpu_info()
    return [(b, p) for b in available_backends() for p in BACKEND_PRECISIONS[b] if cpu.supports(p)]


class OptimizedModel(nn.Module):
    """What :func:`optimize_for_inference` returns: call it like the model it came from.

    Attributes:
        backend: the backend in use ("eager", "compile", "onnxruntime" or "openvino").
        precision: the precision it computes in ("fp32", "bf16" or "int8").
        measurements: images/s of each "backend precision" timed by "auto" (empty otherwise).
        reason: why this backend and precision (what "auto" compared, what it left out and why).
        module: the folded, channels_last fp32 torch module behind it (what was exported).
    """

    def __init__(
        self,
        module: nn.Module,
        runner: Callable[[torch.Tensor], Any],
        backend: str,
        measurements: dict[str, float] | None = None,
        precision: str = "fp32",
        reason: str = "",
    ) -> None:
        super().__init__()
        self.module = module
        self.runner = runner
        self.backend = backend
        self.precision = precision
        self.measurements = dict(measurements or {})
        self.reason = reason or f"{backend} {precision} asked for"

    def forward(self, x: torch.Tensor) -> Any:
        return self.runner(x)

    def train(self, mode: bool = True) -> OptimizedModel:
        if mode:
            raise RuntimeError("an optimized model is for inference only (batch norm is folded)")
        return super().train(False)

    def extra_repr(self) -> str:
        return f"backend={self.backend!r}, precision={self.precision!r}"


def _input_shape(model: nn.Module, resolution: int | None) -> tuple[int, int, int]:
    spec = getattr(model, "spec", None)
    res = resolution or (spec.resolution if spec is not None else 224)
    return (getattr(model, "in_chans", 3), res, res)


def _build(
    backend: str,
    module: nn.Module,
    threads: int,
    precision: str = "fp32",
    calibration: Calibration | None = None,
    **options: Any,
):
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {(*BACKENDS, 'auto')}")
    if precision not in BACKEND_PRECISIONS[backend]:
        raise ValueError(
            f"the {backend} backend runs {', '.join(BACKEND_PRECISIONS[backend])}, not {precision}"
        )
    if backend == "eager":
        return EagerRunner(module, precision)
    if backend == "fused":
        return FusedRunner(module, precision)
    if backend == "compile":
        if not backend_available("compile"):
            raise RuntimeError("the 'compile' backend needs a C++ compiler (c++/g++) on PATH")
        return CompiledRunner(module, max_autotune=options.get("max_autotune", False))
    if backend == "onnxruntime":
        exporter = options.get("exporter", "legacy")
        return OnnxRuntimeRunner(
            module, threads, exporter, precision=precision, calibration=calibration
        )
    return OpenVinoRunner(module, threads, precision, calibration)


def probe_speeds(
    runners: dict[str, Callable[[torch.Tensor], Any]], x: torch.Tensor, rounds: int = PROBE_ROUNDS
) -> dict[str, float]:
    """Images per second of each runner on batch ``x``, from its fastest call over ``rounds``
    rounds that give each runner a turn (:func:`~effnet.deploy.timing.time_interleaved`).

    In turn, so that noise from elsewhere on the machine cannot pick the winner; the fastest
    call, because the slow ones measure the neighbours (or the switch between runners), not the
    candidate. A turn is as many calls as fill :data:`PROBE_TURN_S` for the fastest runner.
    """
    calls = {k: partial(fn, x) for k, fn in runners.items()}
    with torch.no_grad():
        once = min(min(time_runs(fn, runs=1, warmup=1)) for fn in calls.values())
        per_turn = max(1, min(10, int(PROBE_TURN_S / max(once, 1e-9))))
        times = time_interleaved(calls, rounds, warmup=0, per_turn=per_turn)
    return {k: x.shape[0] / min(v) for k, v in times.items()}


def allowed_precisions(
    precision: str, calibration: Calibration | None, cpu: CpuInfo | None = None
) -> tuple[list[str], list[str]]:
    """The precisions to consider for ``precision`` ("auto" or one of them), and notes on what was
    left out and why. A named reduced precision the CPU has no units for is an error."""
    cpu = cpu or cpu_info()
    if precision != "auto":
        if precision not in PRECISIONS:
            raise ValueError(
                f"unknown precision {precision!r}; expected auto or one of {PRECISIONS}"
            )
        if not cpu.supports(precision):
            units = "AVX-512 BF16 or AMX" if precision == "bf16" else "VNNI (AVX-512 or AVX)"
            raise ValueError(
                f"this CPU ({cpu.model}, {cpu.kind}) has no {precision} units ({units}); "
                f"{precision} would be emulated and slower than fp32"
            )
        if precision == "int8" and calibration is None:
            raise ValueError("int8 needs calibration images: pass calibration=images or a loader")
        return [precision], []
    allowed, notes = ["fp32"], []
    for p in ("bf16", "int8"):
        if not cpu.supports(p):
            notes.append(f"{p} left out: no {p} units on this CPU ({cpu.kind})")
        elif p == "int8" and calibration is None:
            notes.append("int8 left out: no calibration images given")
        else:
            allowed.append(p)
    return allowed, notes


def _pairs(backend: str, precisions: list[str], candidates: Sequence[str] | None) -> list:
    if backend != "auto":
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected one of {(*BACKENDS, 'auto')}")
        if backend in ("onnxruntime", "openvino") and not backend_available(backend):
            hint = INSTALL_HINT if backend == "openvino" else "pip install onnxruntime"
            raise ImportError(f"the {backend!r} backend needs the {backend} package: {hint}")
        names = [backend]
    else:
        names = list(candidates or AUTO_CANDIDATES)
        unknown = [b for b in names if b not in BACKENDS]
        if unknown:
            raise ValueError(f"unknown candidate backend(s) {unknown}; expected some of {BACKENDS}")
        names = [b for b in names if backend_available(b)]
    pairs = [(b, p) for b in names for p in precisions if p in BACKEND_PRECISIONS[b]]
    if not pairs:
        if backend == "auto":
            raise ValueError(f"no available candidate backend runs {', '.join(precisions)}")
        runs = ", ".join(BACKEND_PRECISIONS[backend])
        raise ValueError(f"the {backend} backend runs {runs}, not {', '.join(precisions)}")
    return pairs


def _sample(
    model: nn.Module, example: torch.Tensor | None, batch_size: int | None, resolution: int | None
) -> torch.Tensor:
    if example is not None:
        if batch_size is not None and batch_size != len(example):
            raise ValueError(f"batch_size {batch_size} disagrees with the example's {len(example)}")
        return example.detach().float().cpu()
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return torch.randn(batch_size or 1, *_input_shape(model, resolution))


def optimize_for_inference(
    model: nn.Module,
    backend: str = "auto",
    precision: str = "fp32",
    example: torch.Tensor | None = None,
    *,
    calibration: Calibration | None = None,
    batch_size: int | None = None,
    resolution: int | None = None,
    threads: int | None = None,
    candidates: Sequence[str] | None = None,
    verbose: bool = True,
    **options: Any,
) -> OptimizedModel:
    """A copy of ``model`` made fast for inference; ``model`` itself is left as it was.

    Eval mode, batch norm folded into the convs, channels_last, then ``backend`` at ``precision``
    ("fp32", "bf16", "int8", or "auto": the fastest native precision, int8 only when
    ``calibration`` images are given). The backend is prepared for, and "auto" times at, inputs
    shaped like ``example`` (or ``batch_size`` images of ``resolution``, default 1 image at the
    model's own). ``calibration``: images (a tensor, or batches / ``(images, labels)`` pairs) to
    quantize int8 on, preprocessed like real inputs. ``threads``: intra-op threads of ONNX Runtime
    and OpenVINO (default ``torch.get_num_threads()``). ``options``: ``exporter`` for ONNX,
    ``max_autotune=True`` for compile.
    """
    precisions, notes = allowed_precisions(precision, calibration)
    pairs = _pairs(backend, precisions, candidates)
    sample = _sample(model, example, batch_size, resolution)
    threads = threads or torch.get_num_threads()
    module = fold_batchnorm(model, strict=False).to(memory_format=torch.channels_last)
    for p in module.parameters():
        p.requires_grad_(False)

    runners: dict[tuple[str, str], Any] = {}
    for b, p in pairs:
        runners[b, p] = _build(b, module, threads, p, calibration, **options)
        with torch.no_grad():
            runners[b, p](sample)  # export / compile / quantize now, not on the first batch
    speed: dict[str, float] = {}
    if len(pairs) > 1:
        speed = probe_speeds({f"{b} {p}": r for (b, p), r in runners.items()}, sample)
    if len(pairs) == 1:
        (b, p), reason = pairs[0], f"{pairs[0][0]} {pairs[0][1]} asked for"
    else:
        b, p = max(runners, key=lambda k: speed[f"{k[0]} {k[1]}"])
        table = ", ".join(f"{k} {v:.1f} img/s" for k, v in speed.items())
        reason = f"fastest at batch {len(sample)} of {len(pairs)} timed ({table})"
    reason = "; ".join([reason, *notes])
    if verbose and len(pairs) > 1:
        print(f"optimize_for_inference: picked {b} {p}: {reason}", file=sys.stderr)
    return OptimizedModel(module, runners[b, p], b, speed, p, reason).eval()
