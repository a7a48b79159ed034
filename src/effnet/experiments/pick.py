"""Pick the most accurate EfficientNet that meets a latency or throughput budget on this machine.

The paper ranks B0..B7 by FLOPs, but what a deployment cares about is time on its own hardware,
which FLOPs predict poorly for depthwise-heavy networks. So: time the variants here, smallest
first, and recommend the one with the best paper top-1 that fits. Variants are timed in order of
cost and timing stops at the first one over budget (every bigger one is slower still) or when the
time limit runs out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..speed.bench import bench
from ..variants import FAMILIES, published_top1

#: The B variants the paper reports top-1 for, cheapest first (B8 and L2 have no Table 2 row).
CANDIDATES = FAMILIES["b"]
#: What ``family`` may name: one family, or all of them.
FAMILY_CHOICES = (*FAMILIES, "all")


@dataclass(frozen=True)
class Timing:
    """One variant as measured here, beside the paper's top-1 it would buy."""

    model: str
    top1: float
    latency_ms: float  # per batch
    images_per_s: float
    fits: bool


@dataclass
class Pick:
    """Every variant timed, the budget they were held to, and why timing stopped."""

    budget: str
    backend: str
    batch_size: int
    threads: int
    timings: list[Timing]
    stopped: str  # why measuring stopped
    precision: str = "fp32"

    @property
    def best(self) -> Timing | None:
        """The most accurate variant within budget (None: not even B0 fits)."""
        fitting = [t for t in self.timings if t.fits]
        return max(fitting, key=lambda t: t.top1) if fitting else None

    def format(self) -> str:
        """The table ``effnet pick`` prints, ending with the recommendation or the nearest miss."""
        head = f"{'model':<18}{'top-1':>7}{'ms/batch':>11}{'img/s':>9}  fits"
        lines = [
            f"budget: {self.budget} (backend {self.backend}, precision {self.precision}, "
            f"batch {self.batch_size}, {self.threads} thread(s))",
            head,
            "-" * len(head),
        ]
        for t in self.timings:
            lines.append(
                f"{t.model:<18}{t.top1:>7.1f}{t.latency_ms:>11.1f}{t.images_per_s:>9.1f}  "
                f"{'yes' if t.fits else 'no'}"
            )
        lines.append(f"stopped: {self.stopped}")
        if self.precision != "fp32":
            lines.append(
                f"top-1 is the paper's fp32 figure; {self.precision} changes it little "
                "(measure it with 'effnet quantize --eval')"
            )
        best = self.best
        if best is None:
            fastest = min(self.timings, key=lambda t: t.latency_ms)
            lines.append(
                f"no EfficientNet fits {self.budget} here; the fastest, {fastest.model}, "
                f"takes {fastest.latency_ms:.1f} ms per batch ({fastest.images_per_s:.1f} img/s)"
            )
        else:
            lines.append(
                f"recommended: {best.model} (paper top-1 {best.top1:.1f}%, "
                f"{best.latency_ms:.1f} ms per batch, {best.images_per_s:.1f} img/s)"
            )
        return "\n".join(lines)


#: measure(name, backend, batch_size, threads, runs, precision)
#: -> (seconds per batch, backend used, precision used)
Measure = Callable[[str, str, int, int, int, str], tuple[float, str, str]]


def _measure(
    name: str, backend: str, batch_size: int, threads: int, runs: int, precision: str = "fp32"
) -> tuple[float, str, str]:
    # One warm-up call: the fast-path backends have already run the model once while prepared.
    result = bench(name, backend, batch_size, threads, runs=runs, warmup=1, precision=precision)
    return result.mean_s, result.backend, result.precision


def pick(
    latency_ms: float | None = None,
    throughput: float | None = None,
    batch_size: int | None = None,
    backend: str = "auto",
    threads: int | None = None,
    runs: int = 5,
    time_limit_s: float = 300.0,
    measure: Measure | None = None,
    precision: str = "fp32",
    family: str = "all",
) -> Pick:
    """Time the variants and report which fits ``latency_ms`` per batch or ``throughput`` img/s.

    ``batch_size`` defaults to 1 for a latency budget and 32 for a throughput one. With
    ``backend="auto"`` (or ``precision="auto"``: the fastest precision this CPU has units for) the
    choice is made once, on the first variant timed, and used for every variant. ``family``: "b",
    "lite", "edgetpu", "v2" or "all" (each family timed cheapest first, stopping at its first
    variant over budget). ``measure`` replaces the timing (default:
    :func:`effnet.speed.bench.bench`), e.g. with stored figures.
    """
    import torch

    if (latency_ms is None) == (throughput is None):
        raise ValueError("give exactly one budget: --latency-ms or --throughput")
    budget = latency_ms if latency_ms is not None else throughput
    if budget is None or budget <= 0:
        raise ValueError(f"the budget must be positive, got {budget}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be positive, got {threads}")
    if time_limit_s < 0:
        raise ValueError(f"the time limit must not be negative, got {time_limit_s}")
    if family not in FAMILY_CHOICES:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILY_CHOICES}")
    # Looked up at call time, not bound as a default, so the module-level timing can be replaced.
    measure = measure or _measure
    batch = batch_size or (1 if latency_ms is not None else 32)
    threads = threads or torch.get_num_threads()
    label = f"{latency_ms:g} ms per batch" if latency_ms is not None else f"{throughput:g} img/s"

    families = list(FAMILIES) if family == "all" else [family]
    start = time.monotonic()
    timings: list[Timing] = []
    stops = []
    for name in families:
        if timings and time.monotonic() - start > time_limit_s:
            stops.append(f"time limit of {time_limit_s:g} s reached before the {name} family")
            break
        backend, precision, why = _time_family(
            FAMILIES[name], measure, timings, backend, batch, threads, runs, precision,
            latency_ms, throughput, start, time_limit_s,
        )  # fmt: skip
        stops.append(f"{name}: {why}" if len(families) > 1 else why)
    return Pick(label, backend, batch, threads, timings, "; ".join(stops), precision)


def _time_family(
    names: tuple[str, ...],
    measure: Measure,
    timings: list[Timing],
    backend: str,
    batch: int,
    threads: int,
    runs: int,
    precision: str,
    latency_ms: float | None,
    throughput: float | None,
    start: float,
    time_limit_s: float,
) -> tuple[str, str, str]:
    """Time one family cheapest first into ``timings``; returns the backend and precision "auto"
    resolved to, and why timing stopped."""
    for name in names:
        seconds, backend, precision = measure(name, backend, batch, threads, runs, precision)
        # "auto" resolves on the first (smallest) variant, then stays fixed
        ms, ips = seconds * 1e3, batch / seconds
        fits = ms <= latency_ms if latency_ms is not None else ips >= (throughput or 0)
        timings.append(Timing(name, published_top1(name) or 0.0, ms, ips, fits))
        if not fits:
            return backend, precision, f"{name} is over budget; bigger variants are slower"
        if time.monotonic() - start > time_limit_s and name != names[-1]:
            return backend, precision, f"time limit of {time_limit_s:g} s reached after {name}"
    return backend, precision, "measured every variant"
