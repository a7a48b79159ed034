"""CPU inference side by side: effnet eager, effnet's fast path, every engine x precision that runs
on this CPU (ONNX Runtime fp32/int8, OpenVINO fp32/bf16/int8, eager fp32/bf16), timm eager,
torch.compile, ONNX Runtime from timm, all on the same weights, in the same run.

effnet's B0 is built with timm's batch-norm epsilon (1e-5) and its weights are copied into timm's
``efficientnet_b0`` through effnet's own timm layout table, so every row computes the same logits
(the "max |diff|" column checks it). Rows are timed round-robin, one batch each per round, so a
burst of load from elsewhere on the machine hits every row alike; throughput is reported from the
median and from the fastest round (the fastest is the better estimate on a shared machine).

    python benchmarks/cpu_inference.py                     # B0, 224 px, batch 32, 2 threads
    python benchmarks/cpu_inference.py --threads 1 --batch-size 8 --rounds 5 --no-compile
    python benchmarks/cpu_inference.py --model efficientnet_b2 --json b2.json

The targets (issue 13: fp32 fast path >= the best fp32 engine; with reduced precision allowed
>= 5.0x timm eager fp32 at batch 32 on an AMX machine, >= 3.0x on AVX2 only; int8 >= 1.5x the
fp32 fast path on a VNNI machine; batch-1 fast path <= the best engine) are printed at the end.
The header names the CPU and its ISA flags: figures only compare within one machine. int8 rows
are calibrated on random images (the weights are random too): speed only; accuracy is
tests/deploy/test_fidelity.py and `effnet quantize`'s report.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable

import timm
import torch

import effnet
from effnet.deploy.cpu import cpu_info
from effnet.deploy.inference import engine_precisions, optimize_for_inference
from effnet.deploy.timing import time_interleaved
from effnet.weights.export import export_state_dict

Runner = Callable[[torch.Tensor], torch.Tensor]
#: Calls per row per round at batch 1 (one at batch 32, where a call is ~40x longer).
LATENCY_TURN = 5


def calibrate_batchnorm(model: torch.nn.Module, resolution: int) -> None:
    """Give every BN running statistics from one batch, so activations and logits have realistic
    scale (fresh BN stats of mean 0, var 1 let activations shrink to ~1e-5 by the classifier)."""
    momenta = {}
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            momenta[m] = m.momentum
            m.momentum = 1.0
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, resolution, resolution))
    for m, momentum in momenta.items():
        m.momentum = momentum
    model.eval()


def build_models(name: str, resolution: int):
    spec = effnet.get_spec(name).replace(bn_eps=1e-5)  # timm's PyTorch-trained numerics
    ours = effnet.create_model(spec).eval()
    calibrate_batchnorm(ours, resolution)
    theirs = timm.create_model(name, pretrained=False).eval()
    theirs.load_state_dict(export_state_dict(ours, "timm"))
    for p in [*ours.parameters(), *theirs.parameters()]:
        p.requires_grad_(False)
    return ours, theirs


def channels_last(model: torch.nn.Module) -> Runner:
    model = copy.deepcopy(model).to(memory_format=torch.channels_last)
    return lambda x: model(x.contiguous(memory_format=torch.channels_last))


def onnxruntime_session(model: torch.nn.Module, sample: torch.Tensor, threads: int) -> Runner:
    """ONNX Runtime as a user would set it up from the peer: default export, default session
    options apart from the thread count (graph optimisation defaults to ALL)."""
    from effnet.deploy.onnx import onnx_bytes, session

    sess = session(onnx_bytes(model, sample[:2]), threads)
    return lambda x: torch.from_numpy(sess.run(None, {"images": x.contiguous().numpy()})[0])


def interleaved(
    runners: dict[str, Runner], x: torch.Tensor, rounds: int, per_turn: int = 1
) -> dict[str, list[float]]:
    """Seconds of each timed call of each runner on batch ``x``: every round gives each runner a
    turn of ``per_turn`` calls, in turn (the library's
    :func:`~effnet.deploy.timing.time_interleaved`, which "auto" picks with too)."""
    calls = {k: functools.partial(fn, x) for k, fn in runners.items()}
    with torch.no_grad():
        return time_interleaved(calls, rounds, per_turn=per_turn)


def table(
    title: str,
    times: dict[str, list[float]],
    batch: int,
    baseline: str,
    diffs: dict[str, float],
    precisions: dict[str, str],
) -> tuple[str, dict]:
    rows, data = [], {}
    base_median = statistics.median(times[baseline])
    base_best = min(times[baseline])
    head = (
        f"{'':<40}{'precision':>10}{'ms (median)':>12}{'ms (best)':>11}{'img/s med':>11}"
        f"{'img/s best':>11}"
        f"{'vs timm med':>12}{'vs timm best':>13}{'max |diff|':>12}"
    )
    rows += [title, head, "-" * len(head)]
    for name, ts in times.items():
        med, best = statistics.median(ts), min(ts)
        data[name] = {
            "precision": precisions.get(name, "fp32"),
            "median_s": med,
            "best_s": best,
            "mean_s": statistics.fmean(ts),
            "images_per_s_median": batch / med,
            "images_per_s_best": batch / best,
            "vs_baseline_median": base_median / med,
            "vs_baseline_best": base_best / best,
            "max_abs_diff": diffs.get(name),
            "times_s": ts,
        }
        rows.append(
            f"{name:<40}{precisions.get(name, 'fp32'):>10}{med * 1e3:>12.1f}{best * 1e3:>11.1f}"
            f"{batch / med:>11.1f}"
            f"{batch / best:>11.1f}{base_median / med:>11.2f}x{base_best / best:>12.2f}x"
            f"{diffs.get(name, 0.0):>12.2e}"
        )
    return "\n".join(rows), data


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; the defaults are the issue's setting (B0, batch 32, 2 threads)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="efficientnet_b0")
    parser.add_argument("--resolution", type=int, help="default: the model's own")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds (throughput)")
    parser.add_argument("--latency-rounds", type=int, default=20, help="timed rounds at batch 1")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (minutes)")
    parser.add_argument("--json", help="write all timings here")
    return parser.parse_args(argv)


def timm_bf16_autocast(model: torch.nn.Module) -> Runner:
    """timm eager channels_last under torch's bf16 autocast: what a user gets without effnet."""
    run = channels_last(model)

    def call(x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return run(x).float()

    return call


def engine_runners(ours: torch.nn.Module, x: torch.Tensor, threads: int) -> dict[str, Runner]:
    """One row per engine x precision that runs on this CPU (compile is its own row below)."""
    calibration = torch.randn(16, *x.shape[1:])  # speed only: the weights are random too
    return {
        f"engine: {backend} {precision}": optimize_for_inference(
            ours, backend, precision, x, calibration=calibration, threads=threads, verbose=False
        )
        for backend, precision in engine_precisions()
        if backend != "compile"
    }


def fast_paths(ours: torch.nn.Module, x: torch.Tensor, threads: int) -> dict[str, Runner]:
    """The fast path prepared for ``x``'s batch size: fp32 only, and with every native precision
    allowed (int8 calibrated on random images: speed only)."""
    calibration = torch.randn(16, *x.shape[1:])
    allowed = optimize_for_inference(
        ours, "auto", "auto", x, calibration=calibration, threads=threads, verbose=False
    )
    return {
        "effnet fast path fp32": optimize_for_inference(ours, "auto", "fp32", x, threads=threads),
        "effnet fast path, any precision": allowed,
    }


def build_runners(
    ours: torch.nn.Module, theirs: torch.nn.Module, x: torch.Tensor, args: argparse.Namespace
) -> tuple[dict[str, Runner], dict[str, Runner]]:
    """The rows to time at batch ``len(x)`` and at batch 1: the fast paths are prepared for each
    batch size, and torch.compile (when asked for) is timed at the larger batch only."""
    common: dict[str, Runner] = {
        "effnet eager (NCHW)": ours,
        "timm eager (NCHW)": theirs,
        "timm eager channels_last": channels_last(theirs),
        "timm -> ONNX Runtime": onnxruntime_session(theirs, x, args.threads),
    }
    if cpu_info().has_bf16:
        common["timm eager channels_last bf16 autocast"] = timm_bf16_autocast(theirs)
    common.update(engine_runners(ours, x, args.threads))
    runners = {**fast_paths(ours, x, args.threads), **common}
    latency_runners = {**fast_paths(ours, x[:1], args.threads), **common}
    if not args.no_compile:
        start = time.perf_counter()
        compiled = torch.compile(copy.deepcopy(theirs).to(memory_format=torch.channels_last))
        runners["timm torch.compile channels_last"] = lambda x: compiled(
            x.contiguous(memory_format=torch.channels_last)
        )
        with torch.no_grad():
            runners["timm torch.compile channels_last"](x)
        print(f"torch.compile took {time.perf_counter() - start:.0f} s", flush=True)
        # Batch 1 is another shape: compiling it too would double the cost; left out.
    return runners, latency_runners


def row_precisions(runners: dict[str, Runner]) -> dict[str, str]:
    named = {k: getattr(fn, "precision", None) for k, fn in runners.items()}
    named["timm eager channels_last bf16 autocast"] = "bf16"
    return {k: p or "fp32" for k, p in named.items()}


def verdicts(report: dict, runners: dict[str, Runner], batch: int) -> list[str]:
    """The issue's acceptance lines, from this run's medians."""
    thr, lat = report["throughput"], report["latency"]
    fp32, anyp = thr["effnet fast path fp32"], thr["effnet fast path, any precision"]
    engines = {k: v for k, v in thr.items() if k.startswith("engine:")}
    best_fp32 = max(
        (k for k, v in engines.items() if v["precision"] == "fp32"),
        key=lambda k: engines[k]["images_per_s_median"],
    )
    cpu = cpu_info()
    target = 5.0 if cpu.has_amx else 3.0
    picked = runners["effnet fast path, any precision"]
    lines = [
        f"fp32 fast path ({runners['effnet fast path fp32'].backend}) "
        f"{fp32['images_per_s_median']:.1f} img/s vs best fp32 engine ({best_fp32}) "
        f"{engines[best_fp32]['images_per_s_median']:.1f} img/s (median, batch {batch})",
        f"fast path with reduced precision allowed ({picked.backend} {picked.precision}) vs timm "
        f"eager fp32 channels_last: {anyp['vs_baseline_median']:.2f}x "
        f"(median), {anyp['vs_baseline_best']:.2f}x (best); target >= {target:.1f}x ({cpu.kind})",
    ]
    int8 = [v for k, v in engines.items() if v["precision"] == "int8"]
    if int8:
        best = max(v["images_per_s_median"] for v in int8)
        lines.append(
            f"best int8 engine {best:.1f} img/s = {best / fp32['images_per_s_median']:.2f}x the "
            "fp32 fast path (median); target >= 1.5x on a VNNI machine"
        )
    # Each fast path against the engines it chooses from: fp32 ones for the fp32 path.
    for name, precisions in (
        ("effnet fast path fp32", {"fp32"}),
        ("effnet fast path, any precision", {"fp32", "bf16", "int8"}),
    ):
        engines1 = {
            k: v for k, v in lat.items() if k.startswith("engine:") and v["precision"] in precisions
        }
        best1 = min(engines1, key=lambda k: engines1[k]["median_s"])
        lines.append(
            f"batch-1 latency: {name} {lat[name]['median_s'] * 1e3:.1f} ms vs best engine it "
            f"chooses from ({best1}) {engines1[best1]['median_s'] * 1e3:.1f} ms (median)"
        )
    return lines


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    resolution = args.resolution or effnet.get_spec(args.model).resolution
    ours, theirs = build_models(args.model, resolution)
    x = torch.randn(args.batch_size, 3, resolution, resolution)
    x1 = x[:1].clone()
    print(
        f"{args.model} at {resolution}px, batch {args.batch_size}, {args.threads} thread(s); "
        f"torch {torch.__version__}, timm {timm.__version__}, {platform.machine()}\n"
        f"{cpu_info().header()}",
        flush=True,
    )
    runners, latency_runners = build_runners(ours, theirs, x, args)
    precisions = row_precisions(runners)
    with torch.no_grad():
        reference = ours(x)
        diffs = {k: (fn(x) - reference).abs().max().item() for k, fn in runners.items()}
    print(f"logits scale: max |logit| {reference.abs().max().item():.2f}")

    report = {
        "args": vars(args),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "cpu": {"model": cpu_info().model, "kind": cpu_info().kind, "header": cpu_info().header()},
    }
    times = interleaved(runners, x, args.rounds)
    title = f"throughput, batch {args.batch_size} ({args.rounds} interleaved rounds)"
    base = "timm eager channels_last"
    text, report["throughput"] = table(title, times, args.batch_size, base, diffs, precisions)
    print(text, flush=True)
    # Turns of 5 calls at batch 1: the first call after a switch of engine pays up to 2x.
    times = interleaved(latency_runners, x1, args.latency_rounds, per_turn=LATENCY_TURN)
    title = (
        f"\nlatency, batch 1 ({args.latency_rounds} interleaved rounds of {LATENCY_TURN} calls "
        "per row)"
    )
    text, report["latency"] = table(title, times, 1, base, {}, row_precisions(latency_runners))
    print(text)
    report["verdicts"] = verdicts(report, runners, args.batch_size)
    print("\n" + "\n".join(report["verdicts"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
