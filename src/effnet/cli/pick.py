"""``effnet pick``: the most accurate EfficientNet that fits a latency or throughput budget here."""

from __future__ import annotations

import argparse

from . import example_help, positive_int, thread_count


def register(sub: argparse._SubParsersAction) -> None:
    from ..deploy.backends import BENCH_BACKENDS

    p = sub.add_parser(
        "pick",
        help="time the EfficientNet families on this machine and recommend the most accurate one "
        "within a budget",
        description="Times each family's variants smallest first (B0-B7, Lite0-4, EdgeTPU-S/M/L, "
        "V2-B0..L; each at its own resolution, on the fast path unless --backend says otherwise), "
        "stops a family at its first variant over budget, and recommends the one with the best "
        "published top-1 that fits.",
        **example_help(
            "effnet pick --latency-ms 50\n"
            "effnet pick --throughput 100 --batch-size 32 --threads 2\n"
            "effnet pick --latency-ms 200 --backend eager --time-limit 60\n"
            "effnet pick --throughput 200 --batch-size 32 --precision auto"
        ),
    )
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--latency-ms", type=float, help="max milliseconds per batch")
    budget.add_argument("--throughput", type=float, help="min images per second")
    p.add_argument(
        "--batch-size", type=positive_int, help="default: 1 for --latency-ms, 32 for --throughput"
    )
    p.add_argument("--threads", type=thread_count, help="intra-op threads (default: torch's)")
    p.add_argument("--backend", choices=BENCH_BACKENDS, default="auto")
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16", "int8", "auto"),
        default="fp32",
        help="bf16 / int8 where this CPU has the units; auto: the fastest of those (default fp32)",
    )
    p.add_argument("--runs", type=positive_int, default=5, help="timed runs per variant")
    p.add_argument(
        "--family",
        choices=("all", "b", "lite", "edgetpu", "v2"),
        default="all",
        help="which EfficientNet family to consider (default: all)",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=300.0,
        help="stop timing bigger variants after this many seconds (default 300)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..experiments.pick import pick

    result = pick(
        latency_ms=args.latency_ms,
        throughput=args.throughput,
        batch_size=args.batch_size,
        backend=args.backend,
        threads=args.threads,
        runs=args.runs,
        time_limit_s=args.time_limit,
        precision=args.precision,
        family=args.family,
    )
    print(result.format())
    return 0 if result.best is not None else 1
