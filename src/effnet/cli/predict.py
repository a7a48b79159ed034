"""``effnet predict``: the top-k classes of images, files, folders, globs or lists.

Without ``--out`` the answers are printed at the end; with it they stream to a results file as
they come (:func:`effnet.use.predict_stream.predict_to_file`), a rerun resumes, and ``--ray``
runs the same job on Ray Data.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import Any

from . import example_help, int_in, positive_int
from ._weights import (
    add_runtime_args,
    add_weights_args,
    is_detector,
    load_for_inference,
    load_images,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="top-k labels with probabilities for images (files, folders, globs, lists)",
        description="Classify JPEG/PNG images (grayscale and RGBA are converted) with the class "
        "names and preprocessing stored in the checkpoint. A named file must be readable; an "
        "unreadable one found in a folder, glob or LIST.txt (one path per line) is skipped with "
        "a warning. With --out, results stream to the file batch by batch and a rerun resumes "
        "where a killed one stopped.",
        **example_help(
            "effnet predict --weights runs/digits_ft/best.safetensors digit.png\n"
            "effnet predict --weights model.safetensors photos/ 'more/*.jpg' --top-k 3\n"
            "effnet predict --weights lite0_int8.tflite cat.jpg\n"
            "effnet predict --weights model.safetensors --backend openvino --precision bf16 "
            "cat.jpg\n"
            "effnet predict photos/ --weights model.safetensors --out results.jsonl\n"
            "effnet predict images.txt --weights model.safetensors --out results.parquet --ray"
        ),
    )
    p.add_argument(
        "images", nargs="+", metavar="IMAGE", help="image file, folder, glob or LIST.txt"
    )
    add_weights_args(p)
    add_runtime_args(p)
    p.add_argument(
        "--top-k", type=positive_int, default=5, help="classes to show per image (default 5)"
    )
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument(
        "--out",
        help="write results to this .jsonl, .csv or .parquet file as they come; if it exists, "
        "the images it holds are skipped (resume)",
    )
    p.add_argument(
        "--workers",
        type=int_in(0, 64),
        help="with --out: image-decoding processes (default: the cores beyond two, at most 4); "
        "0 decodes in a thread beside the model, which measured faster on two cores",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="with --out: start afresh instead of resuming"
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="with --out: run on Ray Data, on a local Ray or the cluster at ADDRESS (give it "
        "after the images, or as --ray=ADDRESS)",
    )
    p.add_argument(
        "--actors", type=positive_int, default=1, help="with --ray: model replicas (default 1)"
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if is_detector(args.weights):  # its rows hold classes, not boxes
        raise ValueError(
            f"--weights {args.weights} is a detector; 'effnet predict' prints classes: run "
            f"'effnet detect IMAGE --weights {args.weights}' for its boxes"
        )
    if args.out is not None:
        return run_to_file(args)
    refused = (("--ray", args.ray), ("--overwrite", args.overwrite), ("--workers", args.workers))
    for flag, given in refused:
        if given is not None and given is not False:
            raise ValueError(f"{flag} needs --out (a .jsonl, .csv or .parquet file to write)")
    return print_predictions(args)


def print_predictions(args: argparse.Namespace) -> int:
    from ..use.predict import predict
    from ..use.predict_stream import expand_inputs

    paths, named = expand_inputs(args.images)
    model = load_for_inference(args)
    predictions = predict(
        model,
        paths,
        args.top_k,
        args.batch_size,
        progress=len(paths) > 64 and not args.no_progress,
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


def run_to_file(args: argparse.Namespace) -> int:
    """``--out``: checked before the model is loaded, streamed, one summary line at the end."""
    from ..deploy.artifact import load_for_inference as load
    from ..fileio import refuse_overwrite
    from ..use.predict_stream import check_options, predict_to_file

    # An existing --out of this model's rows is resumed, any other is refused (or replaced with
    # --overwrite) by the results file itself; an input is never written over.
    refuse_overwrite(args.out, [args.weights, args.calibration, *args.images])
    check_options(args.out, args.top_k, args.batch_size, args.workers)
    if args.ray:
        from ..use.predict_ray import import_ray

        import_ray()  # a missing Ray is one line before the model is loaded
    model = load_for_inference(args)
    calibration = functools.partial(calibration_images, args.calibration)
    loader = functools.partial(
        load, args.weights, args.model, args.device, args.backend, args.precision,
        calibration if args.calibration else None, args.threads,
    )  # fmt: skip
    summary = predict_to_file(
        model,
        args.images,
        Path(args.out),
        top_k=args.top_k,
        batch_size=args.batch_size,
        workers=args.workers,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        ray=args.ray is not None,
        address=None if args.ray in (None, "local") else args.ray,
        actors=args.actors,
        loader=loader,
    )
    print(summary.format())
    return 0


def calibration_images(source: str, model: Any) -> Any:
    """int8 calibration images for a Ray actor's model: a module-level function, so it pickles."""
    return load_images(source, model, "train", 300, labelled=False)[0]
