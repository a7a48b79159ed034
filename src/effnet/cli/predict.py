"""``effnet predict``: the top-k classes of images, files, folders or globs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import example_help
from ._weights import add_runtime_args, add_weights_args, load_for_inference


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="top-k labels with probabilities for images (files, folders, globs)",
        description="Classify JPEG/PNG images (grayscale and RGBA are converted) with the class "
        "names and preprocessing stored in the checkpoint. A named file must be readable; an "
        "unreadable one found in a folder or glob is skipped with a warning.",
        **example_help(
            "effnet predict --weights runs/digits_ft/best.safetensors digit.png\n"
            "effnet predict --weights model.safetensors photos/ 'more/*.jpg' --top-k 3\n"
            "effnet predict --weights lite0_int8.tflite cat.jpg\n"
            "effnet predict --weights model.safetensors --backend openvino --precision bf16 cat.jpg"
        ),
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image file, folder or glob")
    add_weights_args(p)
    add_runtime_args(p)
    p.add_argument("--top-k", type=int, default=5, help="classes to show per image (default 5)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.images import collect_images
    from ..use.predict import predict

    paths = collect_images(args.images)
    named = {Path(item) for item in args.images if Path(item).is_file()}
    model = load_for_inference(args)
    predictions = predict(
        model,
        paths,
        args.top_k,
        args.batch_size,
        progress=len(paths) > 64,
        skippable=[path for path in paths if path not in named],
    )
    if args.json:
        json.dump([p.to_dict() for p in predictions], sys.stdout, indent=2)
        print()
    else:
        for prediction in predictions:
            print(prediction.format())
    if len(predictions) < len(paths):  # each one was named in a warning as it was skipped
        print(f"skipped {len(paths) - len(predictions)} unreadable images", file=sys.stderr)
    return 0
