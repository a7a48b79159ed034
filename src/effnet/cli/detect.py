"""``effnet detect``: boxes on an image from a detector checkpoint, written as a PNG.

Also home of the detection half of ``effnet eval`` (:func:`run_eval`), which ``eval`` hands
detector checkpoints to.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import add_overwrite_argument, claim_json, example_help, float_in


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "detect",
        help="draw a detector's boxes on an image (PNG)",
        description="Run an EfficientDet checkpoint (from 'effnet train' with a detection "
        "config) on one image and write the image with a labelled box per detection.",
        **example_help(
            "effnet detect data/shapes/test/images/000000.png "
            "--weights runs/d0_shapes/model.safetensors\n"
            "effnet detect photo.jpg --weights det.safetensors --threshold 0.5 --out boxes.png"
        ),
    )
    p.add_argument("image", help="an image file")
    p.add_argument(
        "--weights",
        required=True,
        help="a detector checkpoint (.safetensors) or a published weight name "
        "(efficientdet_d0.tf_coco, see 'effnet models --pretrained efficientdet*')",
    )
    p.add_argument("--threshold", type=float_in(0, 1), default=0.3, help="lowest score drawn (0.3)")
    p.add_argument("--out", help="PNG to write (default: IMAGE_detections.png)")
    p.add_argument("-o", "--output", help="deprecated spelling of --out")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, auto")
    add_overwrite_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.images import open_image
    from ..detection.draw import draw_detections, save_png
    from ..detection.predict import detect_image
    from ..detection.pretrained import load_any_detector
    from ..fileio import claim_output
    from ..models import resolve_device

    source = Path(args.image)
    out = _out(args) or source.with_name(f"{source.stem}_detections.png")
    claim_output(out, [args.image, args.weights], args.overwrite, "--out")
    open_image(args.image)  # one line for an unreadable image or a decompression bomb
    device = resolve_device(args.device)
    model = load_any_detector(args.weights, device)
    image, found = detect_image(model.to(device), args.image, args.threshold, device)
    names = model.labels()
    for box, score, label in zip(found.boxes.tolist(), found.scores.tolist(),
                                 found.labels.tolist(), strict=True):  # fmt: skip
        coords = ", ".join(f"{v:.1f}" for v in box)
        print(f"{names[label]:<16} {score:.3f}  [{coords}]")
    path = save_png(draw_detections(image, found, names), out)
    print(f"{len(found.scores)} detections above {args.threshold}: {path}")
    return 0


def _out(args: argparse.Namespace) -> Path | None:
    """``--out``, or the deprecated ``-o/--output`` with one line saying so."""
    if args.output is None:
        return Path(args.out) if args.out else None
    if args.out:
        raise ValueError("give --out only (-o/--output is its deprecated spelling)")
    print("effnet detect: -o/--output is deprecated; use --out", file=sys.stderr)
    return Path(args.output)


def run_eval(args: argparse.Namespace) -> int:
    """``effnet eval DATA --weights DETECTOR``: COCO mAP on a COCO-format folder."""
    from ..detection.evaluate import evaluate_detector
    from ..detection.pretrained import load_any_detector
    from ..fileio import atomic_write
    from ..models import resolve_device

    if args.backend or args.precision:
        raise ValueError("a detector is evaluated in PyTorch only: drop --backend/--precision")
    claim_json(args)
    device = resolve_device(args.device)
    model = load_any_detector(args.weights, device)
    result = evaluate_detector(
        model.to(device), args.data, batch_size=args.batch_size, device=str(device)
    )
    if args.json == "-":
        json.dump(result.to_dict(), sys.stdout, indent=2)
        print()
        return 0
    print(f"{model.spec.name} at {model.spec.image_size}px from {args.weights}")
    print(result.format())
    if args.json:
        with atomic_write(args.json) as tmp:
            tmp.write_text(json.dumps(result.to_dict(), indent=2))
        print(f"results: {args.json}")
    return 0
