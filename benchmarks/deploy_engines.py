"""Every deployable format x precision of EfficientNet-B0 and Lite0, side by side on this CPU.

For each model (at 224 px unless --resolution says otherwise), every file effnet writes (ONNX
fp32/int8, OpenVINO fp32/bf16/int8, TorchScript, LiteRT fp32/fp16/int8, ExecuTorch fp32/int8) is
exported by the one exporter of its format, loaded back on its own engine, and timed in turn with
the others and PyTorch eager fp32 (:func:`effnet.speed.compare.compare_engines`), at batch 1 and
32 with 2 threads. int8 is calibrated on real photographs. Reported beside each row: median ms per
batch, images/s and the file's size; then the goals:

- the int8 Lite0 .tflite is at most 5.5 MB;
- the best phone format (LiteRT or ExecuTorch) at batch 1 is within 1.5x of the best engine.

    python benchmarks/deploy_engines.py [--json benchmarks/results/deploy_engines.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from PIL import Image
from skimage import data

import effnet
from effnet.deploy.cpu import cpu_info
from effnet.speed.compare import compare_at_batches, format_rows

MODELS = ("efficientnet_b0", "efficientnet_lite0")
PHONE = ("litert", "executorch")
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "cat", "camera", "immunohistochemistry")


def calibration_photos(model: torch.nn.Module) -> torch.Tensor:
    """Real photographs and their mirror images, preprocessed as ``model`` expects."""
    transform = effnet.transforms_for(model)
    x = torch.stack([transform(Image.fromarray(getattr(data, n)()).convert("RGB")) for n in PHOTOS])
    return torch.cat([x, x.flip(-1)])


def build(name: str, resolution: int) -> torch.nn.Module:
    """Random weights (timing does not depend on them) at ``resolution``, with its metadata."""
    from effnet.data import Preprocess
    from effnet.weights.factory import with_default_metadata

    model = with_default_metadata(effnet.create_model(name)).eval()
    model.preprocess = Preprocess(resolution)
    return model


def goals(rows_by: dict, resolution: int) -> list[str]:
    """The issue's two goals, each with its verdict and the numbers behind it."""
    lines = []
    lite = rows_by.get(("efficientnet_lite0", 1), [])
    tflite = [r for r in lite if (r.engine, r.precision) == ("litert", "int8")]
    if tflite and resolution == 224:
        mb = tflite[0].file_mb
        lines.append(
            f"int8 Lite0 .tflite: {mb:.2f} MB (goal <= 5.5 MB: {'met' if mb <= 5.5 else 'missed'})"
        )
    for (name, batch), rows in rows_by.items():
        if batch != 1:
            continue
        phone = [r for r in rows if r.engine in PHONE]
        engines = [r for r in rows if r.engine not in PHONE]
        if not phone or not engines:
            continue
        best_phone = min(phone, key=lambda r: r.ms_per_batch)
        best = min(engines, key=lambda r: r.ms_per_batch)
        ratio = best_phone.ms_per_batch / best.ms_per_batch
        lines.append(
            f"{name} batch 1: best phone format {best_phone.name} "
            f"{best_phone.ms_per_batch:.1f} ms, best engine {best.name} "
            f"{best.ms_per_batch:.1f} ms: {ratio:.2f}x "
            f"(goal <= 1.5x: {'met' if ratio <= 1.5 else 'missed'})"
        )
    return lines


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--rounds", type=int, default=7, help="timed turns of each row")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--formats", nargs="+", help="default: every installed format")
    parser.add_argument("--json", type=Path, help="write every row here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    print(cpu_info().header())
    report: dict = {"cpu": cpu_info().header(), "resolution": args.resolution, "rows": {}}
    rows_by = {}
    for name in args.models:
        model = build(name, args.resolution)
        calibration = calibration_photos(model)
        by_batch, notes = compare_at_batches(
            model, args.batches, args.threads, args.rounds, calibration=calibration,
            formats=args.formats,
        )  # fmt: skip
        for batch, rows in by_batch.items():
            rows_by[name, batch] = rows
            print(f"\n{name} at {args.resolution} px")
            print(format_rows(rows, batch, args.threads))
            report["rows"][f"{name} batch {batch}"] = [r.to_dict() for r in rows]
        for note in notes:
            print(f"note: {note}")
    report["goals"] = goals(rows_by, args.resolution)
    print("\n" + "\n".join(report["goals"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
