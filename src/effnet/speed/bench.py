"""Latency, throughput and peak memory, measured the way the paper's Table 4 does.

Table 4 (PAPER.md section 6) times batch-1 inference on one CPU core, mean of 20 runs:
ResNet-152 0.554 s vs EfficientNet-B1 0.098 s (5.7x). ``table4()`` repeats that protocol here, with
torchvision's ResNets measured in the same process so the ratio compares like with like; the
machine differs from the paper's Xeon, the ratio is what carries over. ``bench()`` is the general
form: any model, batch size, thread count and backend (the fast path of ``optimize_for_inference``
or the plain eval-mode model).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from .. import paper
from ..registry import get_spec, list_models
from ..weights.factory import create_model
from .inference import BACKENDS, optimize_for_inference

#: "plain" is the model as built, in eval mode, NCHW, batch norm unfolded: what a user gets without
#: the fast path, and what Table 4 measures on both sides.
BENCH_BACKENDS = ("plain", *BACKENDS, "auto")

#: Table 4's baselines come from torchvision, prefixed so they never shadow effnet's own names
#: (effnet's ``resnet50`` spec is the same network, but ResNet-152 exists only there).
TORCHVISION_PREFIX = "torchvision:"
TABLE4_MODELS = (
    *(f"efficientnet_b{i}" for i in range(8)),
    f"{TORCHVISION_PREFIX}resnet50",
    f"{TORCHVISION_PREFIX}resnet152",
)
#: Paper Table 4 (:mod:`effnet.paper`): seconds per image, one Xeon E5-2690 core, batch 1.
PAPER_LATENCY_S = {
    (TORCHVISION_PREFIX + name if name.startswith("resnet") else name): seconds
    for name, seconds in paper.TABLE4_LATENCY_S.items()
}
PAPER_RATIO = paper.TABLE4_RATIO
PAPER_GPIPE_NOTE = (
    "GPipe / B7 (paper: {:.1f} s vs {:.1f} s, {:.1f}x) is not reproducible here: GPipe is a "
    "557M-parameter AmoebaNet trained with pipeline parallelism; no PyTorch implementation of "
    "that exact network or its weights is published, so there is nothing to time against B7."
).format(*paper.TABLE4_GPIPE)


def table4_name(name: str) -> str:
    """Accept ``b1``, ``efficientnet_b1``, ``resnet152``; the ResNets mean torchvision's."""
    short = name.lower()
    if short in ("resnet50", "resnet152"):
        return TORCHVISION_PREFIX + short
    if len(short) == 2 and short[0] == "b" and short[1].isdigit():
        return f"efficientnet_{short}"
    return name


def display_name(name: str) -> str:
    if name.startswith(TORCHVISION_PREFIX):
        depth = name[len(TORCHVISION_PREFIX) + len("resnet") :]
        return f"ResNet-{depth} (torchvision)"
    if name.startswith("efficientnet_"):
        return "EfficientNet-" + name.split("_", 1)[1].upper()
    return name


def build_model(name: str) -> tuple[nn.Module, int]:
    """The eval-mode model for ``name`` (random weights: timing does not depend on them) and its
    default resolution."""
    if name.startswith(TORCHVISION_PREFIX):
        # torchvision's model zoo is imported here only: Table 4's ResNet baselines are the one
        # place effnet measures a network it does not build itself, and keeping the import local
        # keeps it out of every other code path.
        import torchvision.models

        arch = name[len(TORCHVISION_PREFIX) :]
        if arch not in ("resnet50", "resnet101", "resnet152"):
            raise ValueError(
                f"unknown baseline {name!r}; expected {TORCHVISION_PREFIX}resnet50/101/152"
            )
        return getattr(torchvision.models, arch)(weights=None).eval(), 224
    spec = get_spec(name)
    return create_model(spec).eval(), spec.resolution


@contextmanager
def torch_threads(threads: int | None):
    """Run the block with ``threads`` intra-op threads, then restore the caller's setting."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def time_runs(
    fn: Callable[[torch.Tensor], Any], x: torch.Tensor, runs: int, warmup: int = 2
) -> list[float]:
    """Wall seconds of each of ``runs`` calls after ``warmup`` untimed ones."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    times = []
    with torch.no_grad():
        for _ in range(warmup):
            fn(x)
        for _ in range(runs):
            start = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - start)
    return times


@dataclass
class BenchResult:
    """One model on one backend: the raw times and what they summarise to."""

    model: str
    backend: str
    batch_size: int
    threads: int
    resolution: int
    params: int
    times_s: list[float]
    #: Peak resident memory (MB) to build the model and backend, and the extra peak while running
    #: two batches on top of the built model, measured in a fresh subprocess (None unless asked
    #: for); ``memory_method`` says how
    #: ("VmHWM": the kernel's per-phase high-water mark; "ru_maxrss": a lower bound).
    build_memory_mb: float | None = None
    run_memory_mb: float | None = None
    memory_method: str | None = None
    picked: dict[str, float] = field(default_factory=dict)

    @property
    def mean_s(self) -> float:
        return statistics.fmean(self.times_s)

    @property
    def std_s(self) -> float:
        return statistics.stdev(self.times_s) if len(self.times_s) > 1 else 0.0

    @property
    def min_s(self) -> float:
        return min(self.times_s)

    @property
    def images_per_s(self) -> float:
        return self.batch_size / self.mean_s

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "mean_s": self.mean_s,
            "std_s": self.std_s,
            "min_s": self.min_s,
            "images_per_s": self.images_per_s,
        }


def prepare(model: nn.Module, backend: str, batch_size: int, resolution: int, threads: int):
    """The callable to time for ``backend``; "plain" is the untouched eval-mode model."""
    if backend == "plain":
        for p in model.parameters():
            p.requires_grad_(False)
        return model.eval()
    if backend not in BENCH_BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BENCH_BACKENDS}")
    return optimize_for_inference(
        model, backend, batch_size=batch_size, resolution=resolution, threads=threads, verbose=False
    )


def bench(
    name: str,
    backend: str = "plain",
    batch_size: int = 1,
    threads: int | None = None,
    resolution: int | None = None,
    runs: int = 20,
    warmup: int = 2,
    memory: bool = False,
) -> BenchResult:
    """Time ``name`` on ``backend`` at ``batch_size`` with ``threads`` intra-op threads."""
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    if threads is not None and threads < 0:
        raise ValueError(f"threads must be positive (or 0 for torch's default), got {threads}")
    if resolution is not None and resolution < 8:
        raise ValueError(f"resolution must be at least 8, got {resolution}")
    threads = threads or torch.get_num_threads()
    with torch_threads(threads):
        model, default_res = build_model(name)
        res = resolution or default_res
        params = sum(p.numel() for p in model.parameters())
        fn = prepare(model, backend, batch_size, res, threads)
        x = torch.randn(batch_size, 3, res, res)
        times = time_runs(fn, x, runs, warmup)
    result = BenchResult(
        name,
        getattr(fn, "backend", backend),
        batch_size,
        threads,
        res,
        params,
        times,
        picked=dict(getattr(fn, "measurements", {})),
    )
    if memory:
        # The backend "auto" resolved to, so the probe measures what was timed rather than timing
        # the candidates again (and possibly picking another one).
        result.build_memory_mb, result.run_memory_mb, result.memory_method = peak_memory(
            name, result.backend, batch_size, threads, res
        )
    return result


# --------------------------------------------------------------------------------------------------
# peak memory: tracemalloc does not see torch's allocator, so a fresh process watches its own
# resident set. On Linux the kernel's high-water mark (VmHWM) can be reset between phases
# (/proc/self/clear_refs), which gives the true peak of each phase; elsewhere ru_maxrss deltas
# are the fallback, and they undercount whatever stays below the import-time peak.


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise OSError(f"no {field} in /proc/self/status")


class _PeakMeter:
    """Peak resident-set growth (MB) of each phase between :meth:`start` and :meth:`peak`."""

    def __init__(self) -> None:
        try:
            _status_mb("VmHWM")
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.method = "VmHWM"
        except OSError:
            self.method = "ru_maxrss"

    def _now_and_peak(self) -> tuple[float, float]:
        if self.method == "VmHWM":
            return _status_mb("VmRSS"), _status_mb("VmHWM")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_mb = peak / 2**20 if sys.platform == "darwin" else peak / 2**10
        return peak_mb, peak_mb

    def start(self) -> None:
        if self.method == "VmHWM":
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current resident set
        self.base = self._now_and_peak()[0]

    def peak(self) -> float:
        return self._now_and_peak()[1] - self.base


def _memory_probe(args_json: str) -> None:
    """Child-process side of :func:`peak_memory`; prints one JSON line."""
    a = json.loads(args_json)
    torch.set_num_threads(a["threads"])
    meter = _PeakMeter()
    meter.start()
    model, _ = build_model(a["name"])
    fn = prepare(model, a["backend"], a["batch_size"], a["resolution"], a["threads"])
    x = torch.randn(a["batch_size"], 3, a["resolution"], a["resolution"])
    build = meter.peak()
    # Measured from the built model: activations and the workspaces the first calls allocate.
    # (Measuring only after a warm-up batch would read ~0, since the allocator keeps the warm-up's
    # freed pages and the timed batch reuses them without growing the resident set.)
    meter.start()
    time_runs(fn, x, runs=1, warmup=1)
    print(json.dumps({"build_mb": build, "run_mb": meter.peak(), "method": meter.method}))


def peak_memory(
    name: str, backend: str, batch_size: int, threads: int, resolution: int
) -> tuple[float, float, str]:
    """(build MB, run MB, method): peak resident-set growth to build the model and backend, then
    on top of that to run two batches (the first one allocates whatever workspaces it needs).

    Measured in a subprocess so earlier work in this process does not hide the peak.
    """
    args = json.dumps(
        {
            "name": name,
            "backend": backend,
            "batch_size": batch_size,
            "threads": threads,
            "resolution": resolution,
        }
    )
    code = f"from effnet.speed.bench import _memory_probe; _memory_probe({args!r})"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe for {name} failed:\n{done.stderr.strip()[-2000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return data["build_mb"], data["run_mb"], data["method"]


# --------------------------------------------------------------------------------------------------
# tables


def _progress(items: Sequence[str], desc: str):
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="model", file=sys.stderr, leave=False)


def format_results(results: Sequence[BenchResult]) -> str:
    """The throughput table: one row per model and backend."""
    memory = any(r.build_memory_mb is not None for r in results)
    head = (
        f"{'model':<26}{'backend':>12}{'batch':>6}{'threads':>8}{'res':>5}"
        f"{'ms/batch':>11}{'std':>8}{'img/s':>9}"
    )
    if memory:
        head += f"{'build MB':>10}{'run MB':>8}"
    lines = [head, "-" * len(head)]
    for r in results:
        line = (
            f"{r.model:<26}{r.backend:>12}{r.batch_size:>6}{r.threads:>8}{r.resolution:>5}"
            f"{r.mean_s * 1e3:>11.1f}{r.std_s * 1e3:>8.1f}{r.images_per_s:>9.1f}"
        )
        if memory:
            line += f"{r.build_memory_mb or 0:>10.0f}{r.run_memory_mb or 0:>8.0f}"
        lines.append(line)
    picked = [r for r in results if r.picked]
    for r in picked:
        table = ", ".join(f"{k} {v:.1f} img/s" for k, v in r.picked.items())
        lines.append(f"auto picked {r.backend} for {r.model} ({table})")
    if memory:
        methods = sorted({r.memory_method for r in results if r.memory_method})
        lines.append(
            "memory: peak resident-set growth in a fresh subprocess while building (model + "
            f"backend), then on top of that while running two batches ({', '.join(methods)})"
        )
    return "\n".join(lines)


@dataclass
class Table4:
    results: list[BenchResult]

    def latency(self, name: str) -> float | None:
        found = [r.mean_s for r in self.results if r.model == name]
        return found[0] if found else None

    @property
    def ratio(self) -> float | None:
        """ResNet-152 latency / EfficientNet-B1 latency (the paper's 5.7x)."""
        r152 = self.latency(f"{TORCHVISION_PREFIX}resnet152")
        b1 = self.latency("efficientnet_b1")
        return r152 / b1 if r152 and b1 else None

    def ratio_line(self) -> str:
        if self.ratio is None:
            return (
                f"ResNet-152 / EfficientNet-B1 latency: n/a (measure both efficientnet_b1 and "
                f"resnet152 to compare with the paper's {PAPER_RATIO}x)"
            )
        return (
            f"ResNet-152 / EfficientNet-B1 latency: {self.ratio:.2f}x here "
            f"(paper Table 4: {PAPER_RATIO}x, {paper.TABLE4_LATENCY_S['resnet152']} s vs "
            f"{paper.TABLE4_LATENCY_S['efficientnet_b1']} s on one Xeon E5-2690 core)"
        )

    def format(self) -> str:
        r0 = self.results[0]
        # "auto" resolves per model, so name every backend that ended up timed.
        backends = ", ".join(dict.fromkeys(r.backend for r in self.results))
        head = f"{'model':<28}{'params':>12}{'res':>5}{'mean s':>10}{'std s':>9}{'paper s':>9}"
        lines = [
            f"Table 4 protocol: batch 1, {r0.threads} thread(s), {len(r0.times_s)} runs after "
            f"warm-up, backend {backends}",
            head,
            "-" * len(head),
        ]
        for r in self.results:
            paper = PAPER_LATENCY_S.get(r.model)
            lines.append(
                f"{display_name(r.model):<28}{r.params:>12,}{r.resolution:>5}{r.mean_s:>10.4f}"
                f"{r.std_s:>9.4f}{(f'{paper:.3f}' if paper else '-'):>9}"
            )
        lines.append(self.ratio_line())
        lines.append(PAPER_GPIPE_NOTE)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": "table4",
            "results": [r.to_dict() for r in self.results],
            "ratio_resnet152_over_b1": self.ratio,
            "paper_ratio": PAPER_RATIO,
            "gpipe_note": PAPER_GPIPE_NOTE,
        }


def table4(
    models: Sequence[str] | None = None,
    runs: int = 20,
    warmup: int = 2,
    resolution: int | None = None,
    backend: str = "plain",
    threads: int = 1,
    memory: bool = False,
) -> Table4:
    """The paper's latency protocol: batch 1, one thread, mean and std of ``runs`` runs."""
    names = [table4_name(m) for m in (models or TABLE4_MODELS)]
    for name in names:
        if not name.startswith(TORCHVISION_PREFIX):
            get_spec(name)  # unknown names fail before any timing starts
    results = [
        bench(name, backend, 1, threads, resolution, runs, warmup, memory)
        for name in _progress(names, "table 4")
    ]
    return Table4(results)


def known_models() -> list[str]:
    return [*list_models(), f"{TORCHVISION_PREFIX}resnet50", f"{TORCHVISION_PREFIX}resnet152"]
