"""EfficientNetV2's faster-training claim, measured: V2-S with progressive learning vs B4 at 380 px.

Two measurements:

``speed``: training images/s (forward, label-smoothed loss, backward, TF-style RMSProp update on
a random batch; ``benchmarks/gpu_train.py``'s step) of V2-S at each of its progressive stages'
sizes (configs/v2_s_imagenet.py: 128, 185, 242, 300 px) and of B4 at 380 px, the B model the V2
paper sets beside V2-S (Table 7: 82.9% vs 83.9% top-1; 21 vs 7.1 training hours). The stages
last equally long, so V2-S's throughput over a whole run is the harmonic mean of its stages';
the ratio V2-S / B4 is the training speed-up per epoch. ``--scale`` shrinks every size by one
factor so that a CPU finishes (the ratio then holds at that scale only).

``digits``: time to accuracy on scikit-learn's digits through the real training engine: each
config (by default configs/v2_digits.py with and without progressive learning, and
configs/b0_digits.py) trained from scratch; the table gives the wall time to the first minival
evaluation at or above ``--target``, the final test top-1 and the training images/s.

    python benchmarks/v2_train.py speed --device cpu --scale 0.5 --batch-size 4 --threads 1
    python benchmarks/v2_train.py speed                       # GPU: paper sizes, batch 64, AMP
    python benchmarks/v2_train.py digits --target 0.9
"""

from __future__ import annotations

import argparse
import json
import runpy
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

import effnet
from effnet.train import load_config, train
from effnet.train.amp import resolve_amp

ROOT = Path(__file__).resolve().parents[1]
images_per_second = runpy.run_path(str(ROOT / "benchmarks" / "gpu_train.py"))["images_per_second"]


def speed(args: argparse.Namespace) -> dict[str, Any]:
    """Training images/s of V2-S per progressive stage and of B4 at 380 px, and their ratio."""
    device = torch.device(
        args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    amp_dtype = resolve_amp(args.amp, device)
    if args.threads:  # on a shared CPU one thread avoids the spin-waits of an oversubscribed pool
        torch.set_num_threads(args.threads)
    stages = load_config(ROOT / "configs" / "v2_s_imagenet.py").progressive.table()
    runs = [(f"{args.v2_model} stage {s.stage + 1}", args.v2_model, s.image_size) for s in stages]
    runs.append((args.b_model, args.b_model, args.b_resolution))
    results: dict[str, Any] = {"device": str(device), "scale": args.scale, "rows": []}
    for label, model, size in runs:
        resolution = max(32, round(size * args.scale))
        torch.manual_seed(0)
        net = effnet.create_model(model)
        timing = SimpleNamespace(**vars(args), resolution=resolution)
        ips = images_per_second(net, timing, device, amp_dtype)
        results["rows"].append({"run": label, "resolution": resolution, "img_per_s": ips})
        print(f"{label:<28}{resolution:>5} px {ips:>10.2f} images/s", flush=True)
        del net
    v2 = [r["img_per_s"] for r in results["rows"][:-1]]
    results["v2_s_progressive_img_per_s"] = len(v2) / sum(1 / x for x in v2)
    results["b4_img_per_s"] = results["rows"][-1]["img_per_s"]
    results["ratio"] = results["v2_s_progressive_img_per_s"] / results["b4_img_per_s"]
    print(
        f"{args.v2_model} progressive (harmonic mean of its stages): "
        f"{results['v2_s_progressive_img_per_s']:.2f} images/s; {args.b_model} at "
        f"{args.b_resolution} px, both scaled by {args.scale:g}: {results['b4_img_per_s']:.2f}; "
        f"ratio: {results['ratio']:.2f}x"
    )
    return results


DIGITS_RUNS = {
    "efficientnetv2_b0 progressive": ("v2_digits", []),
    "efficientnetv2_b0 fixed 24 px": ("v2_digits", ["progressive=none", "dropout=0.2"]),
    "efficientnet_b0 (b0_digits)": ("b0_digits", []),
}


def digits(args: argparse.Namespace) -> dict[str, Any]:
    """Time to ``args.target`` minival accuracy and final test top-1 for each digits run."""
    rows = []
    chosen = args.runs or list(DIGITS_RUNS)
    for label in chosen:
        config, overrides = DIGITS_RUNS[label]
        with tempfile.TemporaryDirectory() as out:
            extra = [f"output_dir={out}", "device=cpu", *overrides, *args.override]
            if args.epochs:
                extra.append(f"epochs={args.epochs}")
            cfg = load_config(ROOT / "configs" / f"{config}.py", extra)
            result = train(cfg)
            records = [json.loads(x) for x in (Path(out) / "log.jsonl").read_text().splitlines()]
        ips = [r["img_per_s"] for r in records if r["kind"] == "train" and r.get("img_per_s")]
        reached = [r["elapsed_s"] for r in records
                   if r["kind"] == "eval" and r.get("val_acc", 0) >= args.target]  # fmt: skip
        row = {
            "run": label,
            "time_to_target_s": reached[0] if reached else None,
            "test_top1": result.test_acc,
            "wall_s": result.wall_time_s,
            "img_per_s": sum(ips) / len(ips) if ips else None,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n| run | time to {args.target:.0%} minival (s) | test top-1 | wall (s) | img/s |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        reached = "not reached" if r["time_to_target_s"] is None else f"{r['time_to_target_s']:.0f}"
        print(f"| {r['run']} | {reached} | {r['test_top1']:.2%} | {r['wall_s']:.0f} "
              f"| {r['img_per_s']:.1f} |")  # fmt: skip
    return {"target": args.target, "rows": rows}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("speed", help="training images/s, V2-S progressive vs B4 at 380 px")
    s.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1")
    s.add_argument("--scale", type=float, default=1.0, help="multiply every image size by this")
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--steps", type=int, default=20, help="timed steps per model and size")
    s.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    s.add_argument("--amp", default="auto", choices=["auto", "none", "bf16", "fp16"])
    s.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    s.add_argument("--compile", action="store_true")
    s.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    s.add_argument("--v2-model", default="efficientnetv2_s", help="trained at V2-S's stages")
    s.add_argument("--b-model", default="efficientnet_b4")
    s.add_argument("--b-resolution", type=int, default=380)
    d = sub.add_parser("digits", help="time to accuracy on the digits through the trainer")
    d.add_argument("--target", type=float, default=0.9, help="minival accuracy to reach")
    d.add_argument("--epochs", type=int, help="shorter runs (default: each config's)")
    d.add_argument("--runs", nargs="*", choices=list(DIGITS_RUNS), help="default: all")
    d.add_argument("--override", nargs="*", default=[], help="key=value for every run")
    for q in (s, d):
        q.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    results = speed(args) if args.what == "speed" else digits(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
