"""``effnet eval``: top-1/top-5, per-class accuracy and a confusion matrix on an image folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import add_overwrite_argument, claim_json, example_help, natural_int
from ._weights import add_runtime_args, add_weights_args, describe, is_detector, load_for_inference


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="accuracy of a checkpoint on an ImageFolder tree (DATA/<class>/<image>)",
        description="Evaluate with the preprocessing stored in the checkpoint (resolution, crop "
        "ratio, interpolation). Class folders must carry the checkpoint's class names. An "
        "unreadable image is skipped with a warning naming it, and counted in the summary.",
        **example_help(
            "effnet eval --weights runs/digits_ft/best.safetensors data/digits/test\n"
            "effnet eval --weights model.safetensors data/val --json results.json\n"
            "effnet eval --weights lite0_int8.tflite data/val"
        ),
    )
    p.add_argument(
        "data",
        help="folder with one sub-folder of images per class; for a detector checkpoint, a COCO "
        "folder (images/ and annotations.json), scored as mAP",
    )
    add_weights_args(p)
    add_runtime_args(p)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--workers", type=natural_int, default=0, help="data-loading processes (default 0)"
    )
    p.add_argument(
        "--confusion",
        help="where to write the confusion-matrix PNG (default: beside --json FILE, as "
        "FILE_confusion.png; without --json, none); 'none' to skip",
    )
    p.add_argument("--json", help="also write all numbers as JSON to this file ('-' = stdout only)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_overwrite_argument(p)
    p.set_defaults(func=run)


def confusion_path(args: argparse.Namespace) -> Path | None:
    """Where the confusion matrix goes: ``--confusion``, else beside a ``--json`` file (a report
    and its picture stay together, never in whatever folder the command ran from), else nowhere."""
    if args.confusion:
        return None if args.confusion.lower() == "none" else Path(args.confusion)
    if args.json and args.json != "-":
        json_file = Path(args.json)
        return json_file.with_name(f"{json_file.stem}_confusion.png")
    return None


def run(args: argparse.Namespace) -> int:
    from ..fileio import claim_output
    from ..use.evaluate import evaluate, plot_confusion

    if is_detector(args.weights):  # COCO mAP on a COCO-format folder
        from .detect import run_eval

        return run_eval(args)
    claim_json(args)
    confusion = confusion_path(args)
    if confusion is not None:
        claim_output(confusion, [args.weights, args.json], args.overwrite, "--confusion")
    model = load_for_inference(args)
    result = evaluate(
        model, args.data, args.batch_size, args.workers, progress=not args.no_progress
    )
    if args.json == "-":
        json.dump(result.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print(describe(model))
        print(result.format())
    if args.json and args.json != "-":
        print(f"results: {result.save_json(args.json)}")
    if confusion is not None:
        path = plot_confusion(result, confusion)
        if args.json != "-":
            print(f"confusion matrix: {path}")
    return 0
