"""EfficientDet benchmarks: the full shapes run (mAP, wall time) and D0-D3 latency vs the paper.

    .venv/bin/python benchmarks/detection.py train     # configs/d0_shapes.py, fp32 then bf16 AMP
    .venv/bin/python benchmarks/detection.py latency   # D0-D3 CPU latency at the paper's sizes
    .venv/bin/python benchmarks/detection.py cost      # D0-D7 parameters and FLOPs vs the paper

``train`` runs the config through the CLI on the training engine, as a user would, once per
``--amp`` mode (default: ``none`` then ``bf16``, one after the other on the same machine, each
into its own run folder), and reads the scores each run wrote into ``summary.json`` and its
checkpoint; the CPU's model and flags are printed first, as the wall times depend on them.
``latency`` times batch-1 inference (median of ``--repeats`` after a warm-up) at each model's
own input size with ``torch.set_num_threads(--threads)``. The paper's latencies are GPU figures
(Titan V, batch 1), printed beside ours for scale only. Results go to stdout and, with
``--json``, to a file.
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


def train_run(overrides: list[str], amp: str) -> dict[str, object]:
    """One full ``effnet train --config configs/d0_shapes.py`` at ``amp``, into its own folder."""
    from effnet.cli import main
    from effnet.detection.checkpoint import load_detector
    from effnet.train.config import load_config
    from effnet.train.sections import FIELD_OF

    config = ROOT / "configs" / "d0_shapes.py"
    overrides = [*overrides, f"runtime.amp={amp}"]
    out = Path(f"{load_config(config, overrides).output_dir}-bench-{amp}")
    keys = [o.split("=", 1)[0] for o in overrides]
    placed = [o for o, k in zip(overrides, keys, strict=True) if FIELD_OF.get(k, k) != "output_dir"]
    overrides = [*placed, f"runtime.output_dir={out}"]
    start = time.perf_counter()
    assert main(["train", "--config", str(config), "--overwrite", "--override", *overrides]) == 0
    wall = time.perf_counter() - start
    _, extra = load_detector(out / "model.safetensors")
    summary = json.loads((out / "summary.json").read_text())
    return {"amp": amp, "wall_s": wall, "train_s": summary["wall_time_s"], **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("train", "latency", "cost"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default="d0,d1,d2,d3")
    parser.add_argument("--override", nargs="*", default=[], help="config overrides for train")
    parser.add_argument("--amp", nargs="+", default=["none", "bf16"], help="train: AMP modes")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    results: dict[str, object] = {}
    if args.what == "train":
        from effnet.deploy.cpu import cpu_info

        cpu = cpu_info()
        print(f"{cpu.header()}\nall flags: {' '.join(sorted(cpu.flags))}", flush=True)
        runs = [train_run(args.override, amp) for amp in args.amp]
        results = {"cpu": cpu.header(), "runs": runs}
        print(f"{'amp':<6} {'wall s':>8} {'test mAP':>9} {'mAP@.5':>7} {'val mAP':>8}")
        for r in runs:
            print(f"{r['amp']:<6} {r['wall_s']:>8.0f} {100 * r['test_map']:>9.2f} "
                  f"{100 * r['test_map50']:>7.2f} {100 * r['val_map']:>8.2f}")  # fmt: skip
        if len(runs) > 1:
            print(
                f"wall time {runs[1]['amp']} / {runs[0]['amp']}: "
                f"{runs[1]['wall_s'] / runs[0]['wall_s']:.2f}"
            )
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
