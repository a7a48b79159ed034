"""``effnet bench``: the paper's Table 4 latency protocol, throughput and peak memory."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..spec import MAX_RESOLUTION
from . import (
    add_overwrite_argument,
    example_help,
    float_in,
    int_in,
    natural_int,
    positive_int,
    thread_count,
)


def register(sub: argparse._SubParsersAction) -> None:
    from ..deploy.backends import BENCH_BACKENDS

    p = sub.add_parser(
        "bench",
        help="latency (the paper's Table 4), throughput and peak memory on this machine",
        description="Without --table4: time MODELS at --batch-size with --threads on --backend "
        "('all' runs every backend side by side). With --table4: batch 1, one thread, mean and "
        "std of --runs runs for EfficientNet-B0..B7 beside torchvision's ResNet-50/152, and the "
        "ResNet-152 / B1 latency ratio next to the paper's 5.7x.",
        **example_help(
            "effnet bench --table4                       # the full Table 4 run (minutes)\n"
            "effnet bench --table4 --models b1 resnet152 --runs 5\n"
            "effnet bench efficientnet_b0 --batch-size 32 --threads 2 --backend all\n"
            "effnet bench efficientnet_b0 --backend openvino --precision bf16 --batch-size 32\n"
            "effnet bench efficientnet_b0 --backend onnxruntime --json b0.json\n"
            "effnet bench runs/lite0/best.safetensors --eval data/val   # what to deploy here\n"
            "effnet bench lite0_int8.tflite --eval data/val --batch-size 1"
        ),
    )
    p.add_argument(
        "models",
        nargs="*",
        help="models to time (throughput mode): registered names, or one checkpoint or exported "
        "file, which times every engine x precision of it (with --eval: and its accuracy)",
    )
    add_deployment_args(p)
    p.add_argument("--table4", action="store_true", help="the paper's latency protocol")
    p.add_argument(
        "--models",
        dest="table4_models",
        nargs="+",
        metavar="MODEL",
        help="restrict --table4 to these (b0..b7, efficientnet_bN, resnet50, resnet152)",
    )
    p.add_argument("--runs", type=positive_int, default=20, help="timed runs per model (paper: 20)")
    p.add_argument("--warmup", type=natural_int, default=2, help="untimed runs first")
    p.add_argument(
        "--resolution",
        type=int_in(1, MAX_RESOLUTION),
        help="input size (default: each model's own)",
    )
    p.add_argument("--batch-size", type=positive_int, default=1)
    p.add_argument(
        "--threads", type=thread_count, help="intra-op threads (default: torch's; 1 in Table 4)"
    )
    p.add_argument(
        "--backend",
        choices=(*BENCH_BACKENDS, "all"),
        help="plain: the model as built; eager/compile/onnxruntime/openvino: the fast path on "
        "that backend; auto: the fastest measured (default: plain for --table4, auto otherwise)",
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16", "int8", "auto", "all"),
        help="fp32; bf16 / int8 where this CPU has the units (int8 calibrated on random images: "
        "speed only, see 'effnet quantize' for accuracy); auto: the fastest allowed; all: every "
        "precision side by side (default: all with --backend all, fp32 otherwise)",
    )
    p.add_argument("--memory", action="store_true", help="also peak memory (one subprocess each)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    add_overwrite_argument(p)
    p.set_defaults(func=run)


def add_deployment_args(p: argparse.ArgumentParser) -> None:
    """The options of the "what to deploy here" comparison (a file's engines x precisions)."""
    p.add_argument(
        "--eval",
        dest="eval_data",
        help="labelled images ('digits' or DATA/<class>/<image>): every engine x precision row "
        "gets top-1 and agreement with fp32, and a last line recommends one",
    )
    p.add_argument(
        "--calibration",
        help="images to calibrate int8 rows on ('digits' or a folder; default: the --eval images)",
    )
    p.add_argument(
        "--formats",
        nargs="+",
        choices=("onnx", "openvino", "torchscript", "tflite", "executorch"),
        help="with a file or --eval: the formats to compare (default: every installed one)",
    )
    p.add_argument(
        "--tolerance",
        type=float_in(0),
        default=0.5,
        help="accuracy points a recommended row may lose against fp32 (default 0.5)",
    )


def check_sizes(args: argparse.Namespace) -> None:
    """Bound each network named to time at --resolution and --batch-size before it is built (a
    batch of 100000 B0 inputs alone is 60 GB)."""
    from ..flops import check_size
    from ..registry import get_spec, list_models

    for name in args.models:
        if name in list_models() or name.endswith(".json"):
            check_size(get_spec(name), resolution=args.resolution, batch=args.batch_size)


def run(args: argparse.Namespace) -> int:
    from ..speed.bench import bench, format_results

    if args.backend == "all" and args.table4:
        raise ValueError("--backend all is for throughput mode; pick one backend for --table4")
    if args.json:
        from ..fileio import claim_output

        claim_output(args.json, args.models, args.overwrite, "--json")  # before any timing
    if args.models and (args.eval_data or _is_file(args.models[0])):
        payload = run_compare(args)
    elif args.table4:
        report = run_table4(args)
        print(report.format())
        payload = report.to_dict()
    else:
        if not args.models:
            raise ValueError("name the models to time (e.g. efficientnet_b0), or pass --table4")
        if args.table4_models:
            raise ValueError("--models restricts --table4; list models positionally otherwise")
        check_sizes(args)
        results = [
            bench(
                name,
                backend,
                args.batch_size,
                args.threads,
                args.resolution,
                args.runs,
                args.warmup,
                args.memory,
                precision,
            )
            for name in args.models
            for backend, precision in engine_rows(args.backend, args.precision)
        ]
        print(format_results(results))
        payload = {"protocol": "throughput", "results": [r.to_dict() for r in results]}
    if args.json:
        from ..fileio import atomic_write

        with atomic_write(args.json) as tmp:
            tmp.write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.json}")
    return 0


def engine_rows(backend: str | None, precision: str | None) -> list[tuple[str, str]]:
    """The (backend, precision) rows to time: ``all`` expands to what runs on this machine."""
    from ..deploy.cpu import cpu_info
    from ..deploy.inference import BACKEND_PRECISIONS, engine_precisions

    if backend == "all":
        wanted = precision or "all"
        pairs = [(b, p) for b, p in engine_precisions() if wanted in ("all", p)]
        return [("plain", "fp32"), *pairs] if wanted in ("all", "fp32") else pairs
    backend = backend or "auto"
    if precision != "all":
        return [(backend, precision or "fp32")]
    native = [p for p in BACKEND_PRECISIONS.get(backend, ("fp32",)) if cpu_info().supports(p)]
    return [(backend, p) for p in (native if backend not in ("plain", "auto") else ["fp32"])]


def run_table4(args: argparse.Namespace):
    """The paper's latency protocol, after checking the options that do not apply to it."""
    from ..experiments.table4 import table4

    if args.precision not in (None, "fp32"):
        raise ValueError("--table4 is the paper's fp32 protocol; drop --precision")
    if args.batch_size != 1:
        raise ValueError("--table4 times batch 1 (the paper's protocol); drop --batch-size")
    if args.models:
        raise ValueError("use --models to restrict --table4, not positional names")
    return table4(
        args.table4_models,
        runs=args.runs,
        warmup=args.warmup,
        resolution=args.resolution,
        backend=args.backend or "plain",
        threads=args.threads or 1,
        memory=args.memory,
    )


def _is_file(name: str) -> bool:
    from pathlib import Path

    return Path(name).is_file() or "/" in name or Path(name).suffix != ""


def run_compare(args: argparse.Namespace) -> dict:
    """``effnet bench FILE [--eval DATA]``: every engine x precision of one checkpoint (or the
    exported file alone), timed side by side, with accuracy and a recommendation."""
    import torch

    from ..deploy.artifact import load_artifact
    from ..deploy.metadata import format_for_path
    from ..speed.compare import compare_engines, format_rows, recommend
    from ._weights import load_images

    if len(args.models) != 1:
        raise ValueError("give one checkpoint or exported file to compare engines on")
    if args.table4 or args.backend not in (None, "all") or args.memory:
        raise ValueError(
            "--eval / a file compares every engine: drop --table4, --backend, --memory"
        )
    name = args.models[0]
    if format_for_path(name):
        model = load_artifact(name, args.threads)
    else:
        from ..weights.factory import load

        model = load(name, None, "cpu")
    images = labels = calibration = None
    if args.eval_data:
        images, labels = load_images(args.eval_data, model, "test")
    if args.calibration:
        calibration, _ = load_images(args.calibration, model, "train", 300, labelled=False)
    elif images is not None:
        calibration = images[:300]
        print(f"int8 calibrated on {min(300, len(images))} of the --eval images (--calibration)")
    precisions = None if args.precision in (None, "all") else [args.precision]
    threads = args.threads or torch.get_num_threads()
    rows, notes = compare_engines(
        model,
        args.batch_size,
        threads,
        args.runs,
        images,
        labels,
        calibration,
        precisions,
        args.formats,
    )
    print(format_rows(rows, args.batch_size, threads))
    for note in notes:
        print(f"note: {note}")
    best, why = recommend(rows, args.tolerance)
    print(f"recommended: {best.engine} {best.precision} ({best.format}): {why}")
    return {
        "protocol": "engines",
        "model": name,
        "rows": [r.to_dict() for r in rows],
        "recommended": {"engine": best.engine, "precision": best.precision, "why": why},
    }
