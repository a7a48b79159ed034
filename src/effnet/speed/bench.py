"""Latency, throughput and peak memory of any model on any backend, on this machine.

``bench()`` times one model at a batch size, thread count and backend (the fast path of
``optimize_for_inference``, or the plain eval-mode model), and optionally measures its peak memory
in a fresh process (:mod:`effnet.speed.memory`). The paper's Table 4 protocol is built on it in
:mod:`effnet.experiments.table4`; the timing itself is :func:`effnet.deploy.timing.time_runs`,
shared with the "auto" backend choice and the scripts in benchmarks/.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ..deploy.cpu import cpu_info
from ..deploy.timing import time_runs, torch_threads
from .build import build_model, prepare
from .memory import peak_memory


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
    precision: str = "fp32"

    @property
    def mean_s(self) -> float:
        """Mean seconds per batch: Table 4's figure."""
        return statistics.fmean(self.times_s)

    @property
    def std_s(self) -> float:
        """Sample standard deviation of the runs (0 for a single run), to judge the mean by."""
        return statistics.stdev(self.times_s) if len(self.times_s) > 1 else 0.0

    @property
    def min_s(self) -> float:
        """The fastest run: the least disturbed by other work on a shared machine."""
        return min(self.times_s)

    @property
    def images_per_s(self) -> float:
        """Throughput from the mean, so it agrees with ``mean_s``."""
        return self.batch_size / self.mean_s

    def to_dict(self) -> dict[str, Any]:
        """The raw fields and their summaries, as ``effnet bench --json`` writes them."""
        return {
            **asdict(self),
            "mean_s": self.mean_s,
            "std_s": self.std_s,
            "min_s": self.min_s,
            "images_per_s": self.images_per_s,
        }


def bench(
    name: str,
    backend: str = "plain",
    batch_size: int = 1,
    threads: int | None = None,
    resolution: int | None = None,
    runs: int = 20,
    warmup: int = 2,
    memory: bool = False,
    precision: str = "fp32",
) -> BenchResult:
    """Time ``name`` on ``backend`` at ``precision`` and ``batch_size`` with ``threads`` threads."""
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
        fn = prepare(model, backend, batch_size, res, threads, precision)
        x = torch.randn(batch_size, 3, res, res)
        with torch.no_grad():
            times = time_runs(lambda: fn(x), runs, warmup)
    result = BenchResult(
        name,
        getattr(fn, "backend", backend),
        batch_size,
        threads,
        res,
        params,
        times,
        picked=dict(getattr(fn, "measurements", {})),
        precision=getattr(fn, "precision", precision),
    )
    if memory and result.precision != "fp32":
        raise ValueError("--memory measures fp32 backends; drop it for bf16 / int8")
    if memory:
        # The backend "auto" resolved to, so the probe measures what was timed rather than timing
        # the candidates again (and possibly picking another one).
        result.build_memory_mb, result.run_memory_mb, result.memory_method = peak_memory(
            name, result.backend, batch_size, threads, res
        )
    return result


def format_results(results: Sequence[BenchResult]) -> str:
    """The throughput table: one row per model, backend and precision, under the CPU's header."""
    memory = any(r.build_memory_mb is not None for r in results)
    head = (
        f"{'model':<26}{'backend':>12}{'precision':>10}{'batch':>6}{'threads':>8}{'res':>5}"
        f"{'ms/batch':>11}{'std':>8}{'img/s':>9}"
    )
    if memory:
        head += f"{'build MB':>10}{'run MB':>8}"
    lines = [cpu_info().header(), head, "-" * len(head)]
    for r in results:
        line = (
            f"{r.model:<26}{r.backend:>12}{r.precision:>10}{r.batch_size:>6}{r.threads:>8}"
            f"{r.resolution:>5}"
            f"{r.mean_s * 1e3:>11.1f}{r.std_s * 1e3:>8.1f}{r.images_per_s:>9.1f}"
        )
        if memory:
            line += f"{r.build_memory_mb or 0:>10.0f}{r.run_memory_mb or 0:>8.0f}"
        lines.append(line)
    picked = [r for r in results if r.picked]
    for r in picked:
        table = ", ".join(f"{k} {v:.1f} img/s" for k, v in r.picked.items())
        lines.append(f"auto picked {r.backend} {r.precision} for {r.model} ({table})")
    if memory:
        methods = sorted({r.memory_method for r in results if r.memory_method})
        lines.append(
            "memory: peak resident-set growth in a fresh subprocess while building (model + "
            f"backend), then on top of that while running two batches ({', '.join(methods)})"
        )
    return "\n".join(lines)
