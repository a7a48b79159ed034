"""EfficientDet benchmarks: the full shapes run (mAP, wall time) and D0-D3 latency vs the paper.

    .venv/bin/python benchmarks/detection.py train     # effnet train --config configs/d0_shapes.py
    .venv/bin/python benchmarks/detection.py latency   # D0-D3 CPU latency at the paper's sizes
    .venv/bin/python benchmarks/detection.py cost      # D0-D7 parameters and FLOPs vs the paper

``train`` runs the config through the CLI, as a user would, and reads the scores the run wrote
into its checkpoint; ``latency`` times batch-1 inference (median of ``--repeats`` after a warm-up)
at each model's own input size with ``torch.set_num_threads(--threads)``. The paper's latencies
are GPU figures (Titan V, batch 1), printed beside ours for scale only. Results go to stdout and,
with ``--json``, to a file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from effnet.detection.model import EfficientDet  # noqa: E402
from effnet.detection.spec import DET_SPECS, PAPER_COST  # noqa: E402
from effnet.weights.convert import shapes_only  # noqa: E402

#: The paper's Table 2 GPU latency (ms, Titan V, batch 1) for D0-D3, for scale.
PAPER_GPU_MS = {"efficientdet_d0": 16, "efficientdet_d1": 20, "efficientdet_d2": 24,
                "efficientdet_d3": 42}  # fmt: skip


def count_cost(name: str) -> dict[str, float]:
    """Parameters (meta device) and multiply-adds at the model's own input size."""
    from torch.utils.flop_counter import FlopCounterMode

    with shapes_only():
        model = EfficientDet(name, num_classes=90).eval()
    size = model.spec.image_size
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.empty(1, 3, size, size, device="meta"))
    params = sum(p.numel() for p in model.parameters())
    return {"params_m": params / 1e6, "gmacs": counter.get_total_flops() / 2e9}


def latency(name: str, threads: int, repeats: int) -> float:
    torch.set_num_threads(threads)
    model = EfficientDet(name, num_classes=90).eval()
    size = model.spec.image_size
    x = torch.randn(1, 3, size, size)
    times = []
    with torch.no_grad():
        model(x)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def train_run(overrides: list[str]) -> dict[str, object]:
    from effnet.cli import main
    from effnet.detection.checkpoint import load_detector
    from effnet.detection.config import load_detection_config

    cfg = load_detection_config(ROOT / "configs" / "d0_shapes.py", overrides)
    start = time.perf_counter()
    args = ["train", "--config", str(ROOT / "configs" / "d0_shapes.py")]
    assert main([*args, "--override", *overrides] if overrides else args) == 0
    wall = time.perf_counter() - start
    _, extra = load_detector(Path(cfg.output_dir) / "model.safetensors")
    return {"wall_s": wall, **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("train", "latency", "cost"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default="d0,d1,d2,d3")
    parser.add_argument("--override", nargs="*", default=[], help="config overrides for train")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    results: dict[str, object] = {}
    if args.what == "train":
        results = train_run(args.override)
        print(json.dumps(results, indent=2))
    elif args.what == "cost":
        print(f"{'model':<16} {'params (M)':>10} {'paper':>6} {'GMACs':>8} {'paper':>6}")
        for name in DET_SPECS:
            cost = count_cost(name)
            paper_params, paper_flops = PAPER_COST[name]
            results[name] = {**cost, "paper_params_m": paper_params, "paper_gflops": paper_flops}
            print(f"{name:<16} {cost['params_m']:>10.3f} {paper_params:>6} "
                  f"{cost['gmacs']:>8.2f} {paper_flops:>6}")  # fmt: skip
    else:
        print(f"{'model':<16} {'size':>5} {'CPU ms':>8} {'paper GPU ms':>13}")
        for short in args.models.split(","):
            name = f"efficientdet_{short}"
            ms = latency(name, args.threads, args.repeats)
            results[name] = {
                "cpu_ms": ms,
                "threads": args.threads,
                "paper_gpu_ms": PAPER_GPU_MS.get(name),
            }
            paper = PAPER_GPU_MS.get(name, "-")
            print(f"{name:<16} {DET_SPECS[name].image_size:>5} {ms:>8.0f} {paper:>13}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
