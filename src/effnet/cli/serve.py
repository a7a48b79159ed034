"""``effnet serve``: a classification service over HTTP (LitServe; Ray Serve with ``--ray``)."""

from __future__ import annotations

import argparse

from . import example_help, thread_count
from ._weights import ARTIFACT_HELP


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="an HTTP classification service: POST /predict, GET /healthz, GET /metrics",
        description="Serve a checkpoint or an exported file over HTTP with dynamic batching. "
        "POST /predict takes the image as the raw body (any image/* content type) or as the "
        "multipart field 'file' (?top_k=N) and answers JSON; GET /healthz is 200 once the model "
        "is loaded and warm; GET /metrics is Prometheus text. Bad input gets a 4xx with a "
        "one-line JSON error; SIGTERM finishes the requests in flight, then exits 0.",
        **example_help(
            "effnet serve --weights runs/digits_ft/best.safetensors\n"
            "effnet serve --weights lite0.onnx --port 8080 --max-batch 16 --api-key SECRET\n"
            "curl -s --data-binary @cat.jpg -H 'Content-Type: image/jpeg' "
            "localhost:8000/predict\n"
            "effnet serve --weights model.safetensors --ray --replicas 2"
        ),
    )
    p.add_argument(
        "--weights",
        required=True,
        help="an effnet checkpoint (.safetensors) or a pretrained weight name" + ARTIFACT_HELP,
    )
    p.add_argument("--model", help="model name, for a plain state dict")
    p.add_argument(
        "--backend",
        default=None,
        choices=("auto", "eager", "onnxruntime", "openvino"),
        help="engine for a checkpoint (default auto: the fastest measured here); an exported "
        "file runs on its own engine",
    )
    p.add_argument(
        "--precision",
        default=None,
        choices=("fp32", "bf16", "auto"),
        help="precision for a checkpoint (default fp32); serve an int8 file for int8",
    )
    p.add_argument("--threads", type=thread_count, help="engine threads (default: torch's)")
    p.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1 only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-batch", type=int, default=32, help="largest batch (default 32)")
    p.add_argument(
        "--max-wait-ms", type=float, default=5.0,
        help="how long a request waits for others to batch with (default 5)",
    )  # fmt: skip
    p.add_argument(
        "--max-image-pixels", type=int, default=50_000_000,
        help="refuse images whose header declares more pixels (default 50,000,000)",
    )  # fmt: skip
    p.add_argument("--max-body-mb", type=float, default=20.0, help="largest body (default 20)")
    p.add_argument("--top-k", type=int, default=5, help="classes per answer unless ?top_k=")
    p.add_argument(
        "--api-key",
        help="require 'Authorization: Bearer KEY' on /predict and /metrics (or set EFFNET_API_KEY)",
    )
    p.add_argument(
        "--drain-s", type=float, default=30.0,
        help="on SIGTERM, how long requests in flight may take to finish (default 30)",
    )  # fmt: skip
    p.add_argument(
        "--ray", nargs="?", const="local", metavar="ADDRESS",
        help="run as a Ray Serve deployment: on a local Ray, or on the cluster at ADDRESS",
    )  # fmt: skip
    p.add_argument("--replicas", type=int, default=1, help="with --ray: model replicas")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..serve import ServeOptions, serve

    if args.replicas != 1 and args.ray is None:
        raise ValueError("--replicas needs --ray (one machine runs one inference worker)")
    options = ServeOptions(
        weights=args.weights,
        model=args.model,
        backend=args.backend,
        precision=args.precision,
        threads=args.threads,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_image_pixels=args.max_image_pixels,
        max_body_mb=args.max_body_mb,
        top_k=args.top_k,
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        drain_s=args.drain_s,
        replicas=args.replicas,
    )
    return serve(options, args.ray)
