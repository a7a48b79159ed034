"""The one timing loop behind every speed figure effnet reports: warm-up, N runs, seconds per run.

``effnet bench`` (mean, std and min of the runs), ``effnet pick`` (through bench) and the scripts
in benchmarks/ time through :func:`time_runs`, so a number from one can be set beside a number from
another. Candidates that are compared with each other (the ``"auto"`` backend choice, the rows of
benchmarks/cpu_inference.py) are timed by :func:`time_interleaved`: one call of each in turn per
round, so a burst of load from elsewhere on the machine hits every candidate alike instead of
deciding the comparison.

``torch.utils.benchmark`` was considered and left out: ``Timer.timeit(n)`` runs ``max(n // 100, 2)``
extra untimed calls per measurement and reports one mean per block, ``blocked_autorange`` chooses
its own number of calls, both pin torch to one thread unless told otherwise, and both switch the
garbage collector off while timing. Table 4 asks for the mean and spread of exactly ``runs`` calls
at the caller's thread count, and a stub callable must see exactly ``warmup + runs`` calls, so the
loop below is written out; what it takes from that module's design is the synchronisation of
asynchronous devices around every timed call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads, then restore the caller's setting.

    ``None`` or 0 keeps torch's current setting, so callers can pass a user's "default" through.
    """
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def synchronize(device: torch.device | str | None) -> None:
    """Wait for queued work on ``device``; CUDA kernels run asynchronously, so a timer read without
    this measures the launch, not the work. A no-op for the CPU and for ``None``."""
    if device is None:
        return
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_runs(
    fn: Callable[[], Any],
    runs: int,
    warmup: int = 2,
    *,
    device: torch.device | str | None = None,
    threads: int | None = None,
) -> list[float]:
    """Wall seconds of each of ``runs`` calls of ``fn()``, after ``warmup`` untimed calls.

    Warm-up absorbs one-off costs (an ONNX export, a compile, cuDNN autotuning, allocator growth)
    so the timed calls measure the steady state. ``device`` names where ``fn`` queues work: a CUDA
    device is synchronised after the warm-up and after every timed call, so each time covers the
    work itself. ``threads`` sets the intra-op threads for the calls (default: leave them); the
    caller's setting is restored afterwards. Gradient mode and autocast are the caller's to set,
    since training steps are timed too.
    """
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    times = []
    with torch_threads(threads):
        for _ in range(warmup):
            fn()
        synchronize(device)
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            synchronize(device)
            times.append(time.perf_counter() - start)
    return times


def time_interleaved(
    calls: Mapping[str, Callable[[], Any]],
    rounds: int,
    warmup: int = 1,
    *,
    per_turn: int = 1,
    device: torch.device | str | None = None,
) -> dict[str, list[float]]:
    """Wall seconds of each of ``calls``' timed calls: every round gives each call a turn of
    ``per_turn`` timed calls in a row, in turn.

    In the first round each call gets its ``warmup`` untimed calls just before its first timed one
    (a warm-up long before would warm a cache the others then flush). For short calls (batch 1)
    take ``per_turn`` > 1 and compare medians or minima: the first call of a turn pays for the
    switch (the previous engine's threads still spinning, its weights in the cache), 2x for B0 at
    batch 1 on 2 cores. Compare candidates by their fast calls: on a shared machine the slow ones
    measure the neighbours.
    """
    if rounds < 1 or per_turn < 1:
        raise ValueError(f"rounds and per_turn must be at least 1, got {rounds} and {per_turn}")
    times: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(rounds):
        for name, fn in calls.items():
            times[name] += time_runs(fn, per_turn, warmup if i == 0 else 0, device=device)
    return times
