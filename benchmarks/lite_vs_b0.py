"""EfficientNet-Lite0 beside B0 through the fast path: eager, ONNX Runtime and OpenVINO (fp32, and
bf16 where the CPU has the units), at batch 1 and 32, timed round-robin in one run so that load
from elsewhere hits every row alike.

    python benchmarks/lite_vs_b0.py
"""

from __future__ import annotations

import statistics
from functools import partial

import torch

import effnet
from effnet.deploy.cpu import cpu_info
from effnet.deploy.inference import backend_available, optimize_for_inference
from effnet.deploy.timing import time_interleaved

MODELS = ("efficientnet_b0", "efficientnet_lite0")


def engines() -> list[tuple[str, str]]:
    rows = [("eager", "fp32"), ("onnxruntime", "fp32"), ("openvino", "fp32")]
    if cpu_info().supports("bf16"):
        rows.append(("openvino", "bf16"))
    return [(b, p) for b, p in rows if backend_available(b)]


def measure(batch: int, rounds: int, per_turn: int) -> dict[tuple[str, str, str], float]:
    """Median seconds per batch for every model x engine x precision, over ``rounds`` rounds that
    give each a turn of ``per_turn`` batches."""
    x = torch.randn(batch, 3, 224, 224)
    built = {
        (name, backend, precision): optimize_for_inference(
            effnet.create_model(name).eval(), backend, precision, example=x, verbose=False
        )
        for name in MODELS
        for backend, precision in engines()
    }
    with torch.no_grad():
        calls = {key: partial(fast, x) for key, fast in built.items()}
        times = time_interleaved(calls, rounds, per_turn=per_turn)
    return {key: statistics.median(t) for key, t in times.items()}


def main() -> None:
    torch.set_num_threads(2)
    print(cpu_info().header())
    print("| batch | engine | B0 img/s | Lite0 img/s | Lite0/B0 |\n|---|---|---:|---:|---:|")
    for batch, rounds, per_turn in ((1, 12, 5), (32, 12, 1)):
        seconds = measure(batch, rounds, per_turn)
        for backend, precision in engines():
            b0, lite = (batch / seconds[(m, backend, precision)] for m in MODELS)
            print(f"| {batch} | {backend} {precision} | {b0:.1f} | {lite:.1f} | {lite / b0:.2f}x |")


if __name__ == "__main__":
    main()
