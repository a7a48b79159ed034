"""Load test of ``effnet serve`` on 127.0.0.1: LitServe and Ray Serve at 1, 8 and 32 clients.

The real ImageNet Lite0 weights at 224 px run on one engine (``--backend``, default ONNX Runtime,
fp32); each service is started as ``effnet serve`` would be, warmed, and loaded by locust
(headless, FastHttpUser, closed loop: each client sends its next request when the last is
answered) for ``--seconds`` per level, at most ``--max-requests``. Reported per level: img/s,
p50/p95/p99 latency, error rate, and the mean batch size from the service's own /metrics.

Beside them, in the same run, the fast path offline on already-preprocessed tensors: img/s at
batch 32 and the median latency at batch 1. Goals: at 32 clients >= 0.8x the offline img/s at
batch 32; p99 at 1 client <= 2x the batch-1 latency + 5 ms. The load generator runs on the same
cores as the service, as does JPEG decoding, which the offline number does not include.

    python benchmarks/serve.py [--json benchmarks/results/serve.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.serve.service import COFFEE, LITE0, start  # noqa: E402

import effnet  # noqa: E402
from effnet.deploy.artifact import fast_path  # noqa: E402
from effnet.deploy.cpu import cpu_info  # noqa: E402
from effnet.deploy.timing import time_runs  # noqa: E402
from effnet.serve.uploads import prepare  # noqa: E402

LEVELS = (1, 8, 32)


#: Offline batch sizes: batch 1 for the latency goal, 32 for the throughput goal, and those
#: between so that a service's mean batch can be compared with the same batch offline.
OFFLINE_BATCHES = (1, 4, 8, 16, 32)


def offline(backend: str) -> dict:
    """The fast path on preprocessed tensors: img/s at each of OFFLINE_BATCHES, median ms at 1."""
    model = fast_path(effnet.load(LITE0), backend, "fp32", threads=2)
    rates = {}
    for n in OFFLINE_BATCHES:
        x = torch.randn(n, 3, 224, 224)
        seconds = statistics.median(time_runs(lambda x=x: model(x), max(10, 200 // n), warmup=3))
        rates[n] = n / seconds
    pre = model.preprocess
    prepare(COFFEE, pre, 10**8)
    prepare_s = statistics.median(time_runs(lambda: prepare(COFFEE, pre, 10**8), 50, threads=1))
    cores = os.cpu_count() or 1
    # What the cores allow once every image is also decoded and cropped (HTTP, queues and the
    # load generator not counted): the model's core-seconds per image plus the decoding's.
    ceiling = cores / (cores / rates[32] + prepare_s)
    return {"img_s": rates, "img_s_batch32": rates[32], "ms_batch1": 1000 / rates[1],
            "prepare_ms": 1000 * prepare_s, "decode_ceiling_img_s": ceiling,
            "backend": model.backend}  # fmt: skip


def offline_at(base: dict, batch: float) -> float:
    """Offline img/s at the measured batch size nearest to ``batch``."""
    nearest = min(base["img_s"], key=lambda n: abs(n - batch))
    return base["img_s"][nearest]


def locust(url: str, users: int, seconds: int, max_requests: int, image: Path) -> dict:
    """One bounded locust run against ``url``; its aggregated stats."""
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "load"
        env = {**os.environ, "EFFNET_LOAD_IMAGE": str(image),
               "EFFNET_LOAD_MAX_REQUESTS": str(max_requests)}  # fmt: skip
        subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(HERE / "serve_locustfile.py"),
             "--headless", "-u", str(users), "-r", str(users), "--run-time", f"{seconds}s",
             "--host", url, "--csv", str(prefix), "--only-summary", "--stop-timeout", "10",
             "--loglevel", "WARNING"],
            env=env, check=False, capture_output=True, timeout=seconds + 120,
        )  # fmt: skip
        with open(f"{prefix}_stats.csv") as f:
            row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    count = int(row["Request Count"])
    return {
        "requests": count,
        "img_s": float(row["Requests/s"]),
        "p50_ms": float(row["50%"]),
        "p95_ms": float(row["95%"]),
        "p99_ms": float(row["99%"]),
        "error_rate": int(row["Failure Count"]) / max(count, 1),
    }


def mean_batch(before: dict, after: dict) -> float:
    batches = after["effnet_batch_size_count"] - before["effnet_batch_size_count"]
    return (after["effnet_batch_size_sum"] - before["effnet_batch_size_sum"]) / max(batches, 1)


def load_levels(service, args, image: Path) -> list[dict]:
    rows = []
    for users in LEVELS:
        before = service.metrics()
        stats = locust(service.url, users, args.seconds, args.max_requests, image)
        stats.update(clients=users, mean_batch=mean_batch(before, service.metrics()))
        rows.append(stats)
        print(f"  {users:>2} clients: {stats['img_s']:6.1f} img/s  p50 {stats['p50_ms']:.0f} "
              f"p95 {stats['p95_ms']:.0f} p99 {stats['p99_ms']:.0f} ms  errors "
              f"{stats['error_rate']:.1%}  mean batch {stats['mean_batch']:.1f}")  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--max-requests", type=int, default=5000)
    parser.add_argument("--servers", nargs="+", default=["litserve", "ray"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(cpu_info().header())
    base = offline(args.backend)
    print(f"offline fast path ({base['backend']} fp32): {base['img_s_batch32']:.1f} img/s at "
          f"batch 32, {base['ms_batch1']:.1f} ms at batch 1; decoding + cropping the photo "
          f"{base['prepare_ms']:.1f} ms on one core, so at most "
          f"{base['decode_ceiling_img_s']:.1f} img/s with decoding on these cores")  # fmt: skip
    results = {"cpu": cpu_info().header(), "offline": base, "servers": {}}
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "coffee.jpg"
        image.write_bytes(COFFEE)
        for server in args.servers:
            extra = ["--ray"] if server == "ray" else []
            service, _ = start("--weights", LITE0, "--backend", args.backend, "--max-batch", "32",
                               "--threads", "2", *extra)  # fmt: skip
            print(f"{server}:")
            try:
                results["servers"][server] = load_levels(service, args, image)
            finally:
                service.stop(timeout=120)
            time.sleep(2)
    report_goals(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def report_goals(results: dict) -> None:
    """The two goals per server; the throughput one against batch 32 offline and against the
    batch size the service actually ran at 32 clients."""
    base = results["offline"]
    for server, rows in results["servers"].items():
        by = {r["clients"]: r for r in rows}
        ratio = by[32]["img_s"] / base["img_s_batch32"]
        same_batch = by[32]["img_s"] / offline_at(base, by[32]["mean_batch"])
        of_ceiling = by[32]["img_s"] / base["decode_ceiling_img_s"]
        bound = 2 * base["ms_batch1"] + 5
        p99 = by[1]["p99_ms"]
        print(f"{server}: 32 clients {ratio:.2f}x offline at batch 32, {same_batch:.2f}x offline "
              f"at its mean batch {by[32]['mean_batch']:.1f} (goal >= 0.8x: "
              f"{'met' if ratio >= 0.8 else 'missed'}), {of_ceiling:.2f}x the decoding ceiling; "
              f"p99 at 1 client {p99:.0f} ms vs "
              f"{bound:.1f} ms (goal: {'met' if p99 <= bound else 'missed'})")  # fmt: skip
        results.setdefault("goals", {})[server] = {
            "ratio_32": ratio, "ratio_at_mean_batch": same_batch, "of_decode_ceiling": of_ceiling,
            "p99_1": p99, "bound": bound,
        }  # fmt: skip


if __name__ == "__main__":
    main()
