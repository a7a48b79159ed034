"""Peak resident memory to build a model on a backend and to run it, measured in a fresh process.

tracemalloc does not see torch's allocator, so a fresh process watches its own resident set. On
Linux the kernel's high-water mark (VmHWM) can be reset between phases (/proc/self/clear_refs),
which gives the true peak of each phase; elsewhere ru_maxrss deltas are the fallback, and they
undercount whatever stays below the import-time peak. The fresh process matters because memory an
earlier model left in the allocator would otherwise hide the next model's peak.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import torch

from ..deploy.timing import time_runs
from .build import build_model, prepare


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise OSError(f"no {field} in /proc/self/status")


class PeakMeter:
    """Peak resident-set growth (MB) of each phase between :meth:`start` and :meth:`peak`.

    ``method`` is "VmHWM" (the kernel's per-phase high-water mark) where /proc allows resetting
    it, else "ru_maxrss" (the process-lifetime peak, so a lower bound for a later phase).
    """

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
        """Begin a phase: its peak is measured from the resident set now."""
        if self.method == "VmHWM":
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current resident set
        self.base = self._now_and_peak()[0]

    def peak(self) -> float:
        """MB the resident set peaked above its size at the last :meth:`start`."""
        return self._now_and_peak()[1] - self.base


def memory_probe(args_json: str) -> None:
    """Child-process side of :func:`peak_memory`; prints one JSON line."""
    a = json.loads(args_json)
    torch.set_num_threads(a["threads"])
    meter = PeakMeter()
    meter.start()
    model, _ = build_model(a["name"])
    fn = prepare(model, a["backend"], a["batch_size"], a["resolution"], a["threads"])
    x = torch.randn(a["batch_size"], 3, a["resolution"], a["resolution"])
    build = meter.peak()
    # Measured from the built model: activations and the workspaces the first calls allocate.
    # (Measuring only after a warm-up batch would read ~0, since the allocator keeps the warm-up's
    # freed pages and the timed batch reuses them without growing the resident set.)
    meter.start()
    with torch.no_grad():
        time_runs(lambda: fn(x), runs=1, warmup=1)
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
    code = f"from effnet.speed.memory import memory_probe; memory_probe({args!r})"
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
