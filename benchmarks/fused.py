"""The fused MBConv kernel (backend "fused") against OpenVINO and ONNX Runtime at fp32, and against
the memory ceiling of running MBConv layer by layer, on this CPU.

For each model (B0 and Lite0 at 224 px by default) and batch (1 and 32, 2 threads), every
candidate (fused, openvino, onnxruntime, eager) runs in a process of its own (one engine's thread
pool or allocator cannot slow the next), prepared by ``optimize_for_inference`` and timed for
``--rounds`` calls after a warm-up; the ratios come from this one run. Printed beside them:

- the copy bandwidth measured here (read + write, ``--threads`` threads) and the layer-by-layer
  memory ceiling it implies: every conv's input and output (and the SE scaling's read and write)
  through memory once per image;
- the compute ceiling's side: multiply-adds per image and the GMAC/s each candidate achieves;
- per MBConv block at the largest batch: fused ms against the same folded block in eager torch,
  the GB/s of the block's own input and output and its GMAC/s, and for SE blocks the second pass
  kept in memory between its two passes (the default, ``fused.SE_STORE``) against recomputed.

The goals: fused >= 1.5x the best engine at batch 32 for Lite0, >= 1.3x for B0.

    python benchmarks/fused.py [--json benchmarks/results/fused.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

import effnet
from effnet.deploy import fused
from effnet.deploy.cpu import cpu_info
from effnet.deploy.inference import backend_available, optimize_for_inference
from effnet.deploy.timing import time_runs

MODELS = ("efficientnet_b0", "efficientnet_lite0")
ENGINES = ("fused", "openvino", "onnxruntime", "eager")
GOALS = {"efficientnet_lite0": 1.5, "efficientnet_b0": 1.3}


def build(name: str, resolution: int) -> nn.Module:
    """Random weights with BN statistics from one batch (logits of realistic scale)."""
    model = effnet.create_model(name)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 1.0
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, resolution, resolution, generator=torch.Generator().manual_seed(0)))
    return model.eval()


def bandwidth(threads: int, mib: int = 256, runs: int = 5) -> float:
    """GB/s a ``threads``-thread tensor copy moves (bytes read + bytes written)."""
    torch.set_num_threads(threads)
    src = torch.ones(mib << 18)
    dst = torch.empty_like(src)
    best = min(time_runs(lambda: dst.copy_(src), runs=runs, warmup=1))
    return 2 * src.numel() * 4 / best / 1e9


def traffic(model: nn.Module, resolution: int) -> dict[str, float]:
    """Per image: elements every conv reads and writes, SE scaling's, and multiply-adds."""
    counts = {"conv_elements": 0.0, "se_elements": 0.0, "macs": 0.0}

    def conv_hook(m, inputs, out):
        counts["conv_elements"] += inputs[0].numel() + out.numel()
        counts["macs"] += out.numel() * m.in_channels // m.groups * m.kernel_size[0] ** 2

    def se_hook(m, inputs, out):
        counts["se_elements"] += 2 * inputs[0].numel()

    hooks = [
        m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)
    ]
    hooks += [
        m.register_forward_hook(se_hook)
        for m in model.modules()
        if type(m).__name__ == "SqueezeExcite"
    ]
    with torch.no_grad():
        model(torch.zeros(1, 3, resolution, resolution))
    for h in hooks:
        h.remove()
    return counts


def time_blocks(fast: nn.Module, x: torch.Tensor, rounds: int) -> list[dict]:
    """Each fused block against the same folded block in eager torch, on its real input."""
    inputs: dict[str, torch.Tensor] = {}
    named = dict(fast.runner.module.named_modules())
    hooks = [
        m.register_forward_hook(lambda m, i, o, n=n: inputs.__setitem__(n, i[0]))
        for n, m in named.items()
        if isinstance(m, fused.MBConvKernel)
    ]
    fast(x)
    for h in hooks:
        h.remove()
    eager = dict(fast.module.named_modules())
    rows = []
    with torch.no_grad():
        for name, xin in inputs.items():
            block, out = named[name], named[name](xin)
            row = {
                "block": name,
                "kernel": block.kernel,
                "stride": block.stride,
                "se": bool(block.se),
            }
            row["fused_s"] = min(time_runs(lambda b=block, t=xin: b(t), runs=rounds, warmup=1))
            row["eager_s"] = min(
                time_runs(lambda b=eager[name], t=xin: b(t), runs=rounds, warmup=1)
            )
            if block.se:  # the other way through the SE pass: recomputed instead of kept
                default, fused.SE_STORE = fused.SE_STORE, not fused.SE_STORE
                other = min(time_runs(lambda b=block, t=xin: b(t), runs=rounds, warmup=1))
                fused.SE_STORE = default
                row["se_kept_s"], row["se_recomputed_s"] = (
                    (row["fused_s"], other) if default else (other, row["fused_s"])
                )
            row["io_bytes"] = 4 * (xin.numel() + out.numel())
            row["macs"] = block_macs(eager[name], xin, out)
            rows.append(row)
    return rows


def block_macs(block: nn.Module, xin: torch.Tensor, out: torch.Tensor) -> int:
    n, _, h, w = xin.shape
    total = 0
    for m in block.modules():
        if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1:  # the depthwise conv
            ho, wo = out.shape[2], out.shape[3]
            total += n * ho * wo * m.out_channels * m.kernel_size[0] ** 2
        elif isinstance(m, nn.Conv2d) and m is getattr(block.expand, "conv", None):
            total += n * h * w * m.in_channels * m.out_channels
        elif isinstance(m, nn.Conv2d) and m is block.project.conv:
            total += n * out.shape[2] * out.shape[3] * m.in_channels * m.out_channels
    return total


def worker(args: argparse.Namespace) -> dict:
    """One candidate in this process: prepare, check against eager, time; JSON on stdout."""
    torch.set_num_threads(args.threads)
    model = build(args.model, args.resolution)
    x = torch.randn(args.batch, 3, args.resolution, args.resolution)
    start = time.perf_counter()
    fast = optimize_for_inference(model, args.engine, example=x, threads=args.threads)
    prepared = time.perf_counter() - start
    with torch.no_grad():
        diff = (fast(x) - model(x)).abs().max().item()
        times = time_runs(lambda: fast(x), runs=args.rounds, warmup=2)
    result = {"times_s": times, "prepare_s": prepared, "max_abs_diff": diff}
    if args.engine == "fused" and args.blocks:
        result["blocks"] = time_blocks(fast, x, args.rounds)
    return result


def run_candidate(args: argparse.Namespace, model: str, engine: str, batch: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--engine", engine, "--model", model]
    cmd += ["--batch", str(batch), "--resolution", str(args.resolution)]
    cmd += ["--threads", str(args.threads), "--rounds", str(args.rounds)]
    if engine == "fused" and batch == max(args.batches):
        cmd.append("--blocks")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{engine} {model} batch {batch} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def block_table(rows: list[dict], gbps: float) -> list[str]:
    lines = [
        f"{'block':<12}{'k/s':>5}{'SE':>4}{'fused ms':>10}{'eager ms':>10}{'speedup':>9}"
        f"{'GB/s io':>9}{'GMAC/s':>8}{'SE kept ms':>11}{'recomputed':>11}"
    ]
    for r in rows:
        kept = "".join(
            f"{r[k] * 1e3:>11.2f}" if k in r else f"{'-':>11}"
            for k in ("se_kept_s", "se_recomputed_s")
        )
        lines.append(
            f"{r['block']:<12}{r['kernel']:>3}/{r['stride']}{'y' if r['se'] else 'n':>4}"
            f"{r['fused_s'] * 1e3:>10.2f}{r['eager_s'] * 1e3:>10.2f}"
            f"{r['eager_s'] / r['fused_s']:>8.2f}x{r['io_bytes'] / r['fused_s'] / 1e9:>9.1f}"
            f"{r['macs'] / r['fused_s'] / 1e9:>8.1f}{kept}"
        )
    fused_total = sum(r["fused_s"] for r in rows)
    lines.append(
        f"blocks total: fused {fused_total * 1e3:.1f} ms, eager "
        f"{sum(r['eager_s'] for r in rows) * 1e3:.1f} ms; copy bandwidth {gbps:.1f} GB/s"
    )
    return lines


def summarize(name: str, batch: int, found: dict, counts: dict, gbps: float) -> list[str]:
    """Rows of one model x batch, and the verdict against the best engine."""
    ceiling = gbps * 1e9 / (4 * (counts["conv_elements"] + counts["se_elements"]))
    lines = [f"\n{name} batch {batch}: layer-by-layer memory ceiling {ceiling:.0f} img/s "
             f"({(counts['conv_elements'] + counts['se_elements']) / 1e6:.1f} M elements/image at "
             f"{gbps:.1f} GB/s); {counts['macs'] / 1e9:.2f} GMAC/image"]  # fmt: skip
    for engine, r in found.items():
        ips = batch / min(r["times_s"])
        r["images_per_s"] = ips
        lines.append(
            f"  {engine:<12}{ips:>8.1f} img/s (best of {len(r['times_s'])}){ips / ceiling:>7.2f}x "
            f"ceiling{ips * counts['macs'] / 1e9:>7.1f} GMAC/s  max |diff| {r['max_abs_diff']:.1e}"
        )
    engines = {k: v for k, v in found.items() if k in ("openvino", "onnxruntime")}
    if "fused" in found and engines:
        best = max(engines, key=lambda k: engines[k]["images_per_s"])
        ratio = found["fused"]["images_per_s"] / engines[best]["images_per_s"]
        goal = GOALS.get(name) if batch == 32 else None
        verdict = f" (goal >= {goal}x: {'met' if ratio >= goal else 'missed'})" if goal else ""
        lines.append(f"  fused / best engine ({best}): {ratio:.2f}x{verdict}")
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--engines", nargs="+", default=list(ENGINES))
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10, help="timed calls per candidate")
    parser.add_argument("--json", type=Path, help="write every timing here")
    # A worker (one candidate, one process): what the main run starts itself.
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--blocks", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return {}
    cpu = cpu_info()
    print(f"{cpu.header()}\nall flags: {' '.join(sorted(cpu.flags))}", flush=True)
    gbps = bandwidth(args.threads)
    print(f"copy bandwidth, {args.threads} thread(s): {gbps:.1f} GB/s (read + write)", flush=True)
    engines = [e for e in args.engines if backend_available(e)]
    report: dict = {"cpu": cpu.header(), "bandwidth_gbps": gbps, "args": vars(args), "runs": {}}
    verdicts = []
    for name in args.models:
        counts = traffic(build(name, args.resolution), args.resolution)
        for batch in args.batches:
            found = {e: run_candidate(args, name, e, batch) for e in engines}
            lines = summarize(name, batch, found, counts, gbps)
            print("\n".join(lines), flush=True)
            verdicts += [line.strip() for line in lines if "fused / best" in line]
            if "blocks" in found.get("fused", {}):
                print("\n".join(block_table(found["fused"]["blocks"], gbps)), flush=True)
            report["runs"][f"{name} batch {batch}"] = {"traffic": counts, "candidates": found}
    report["verdicts"] = verdicts
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
