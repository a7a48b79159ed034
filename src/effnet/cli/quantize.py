"""``effnet quantize``: an int8 or bf16 deployable model (OpenVINO IR or ONNX QDQ) and the
fidelity report that says what the lower precision cost."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import example_help
from ._weights import add_weights_args, describe, load_from_args

ENGINES = ("auto", "openvino", "onnxruntime")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quantize",
        help="write an int8 or bf16 model for deployment (OpenVINO IR or ONNX) with a fidelity "
        "report",
        description="Post-training quantization on calibration images (int8: per-channel weights, "
        "fast bias correction, stem / squeeze-excitation / classifier kept fp32), or a bf16 "
        "OpenVINO IR. --engine auto times both engines at --batch-size and keeps the faster. The "
        "written file is run back and compared with the fp32 model on --eval images: top-1 and "
        "top-5 agreement, accuracy and its drop, written beside it as FILE.fidelity.json/.md.",
        **example_help(
            "effnet quantize --weights runs/b0_digits/model.safetensors --precision int8 \\\n"
            "    --calibration digits --eval digits --out b0_digits_int8\n"
            "effnet quantize --weights lite0.safetensors --precision bf16 --engine openvino "
            "--eval data/val"
        ),
    )
    add_weights_args(p)
    p.add_argument("--precision", choices=("int8", "bf16"), required=True)
    p.add_argument("--engine", choices=ENGINES, default="auto", help="default: the faster here")
    p.add_argument(
        "--calibration",
        help="images to quantize on (int8): 'digits' (the embedded training split) or a folder "
        "of images, preprocessed as the checkpoint says",
    )
    p.add_argument("--calibration-size", type=int, default=300, help="images used (default 300)")
    p.add_argument(
        "--eval",
        dest="eval_data",
        help="labelled images for the fidelity report: 'digits' (the test split) or a class "
        "folder DATA/<class>/<image> (default: the calibration images, unlabelled)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="batch 'auto' times at")
    p.add_argument("--threads", type=int, help="engine threads (default: torch's)")
    p.add_argument("--out", help="output path without suffix (default: MODEL_PRECISION)")
    p.set_defaults(func=run)


def load_images(source: str, model, split: str, limit: int | None = None):
    """(images, labels or None) from 'digits' (that split) or a folder, preprocessed for
    ``model``. A folder of class folders is labelled by ``model``'s class names."""
    import torch

    from ..data import DigitsImages, ImageFolder, eval_transform
    from ..data.folders import class_folders
    from ..data.images import images_under, open_image

    transform = eval_transform(model.preprocess)
    if source == "digits":
        data = DigitsImages(split)
    elif class_folders(source):
        names = model.labels()
        data = ImageFolder(source, class_to_idx={name: i for i, name in enumerate(names)})
    else:
        paths = images_under(source)
        if not paths:
            raise ValueError(f"no images in {source}")
        images = [transform(open_image(p)) for p in paths[:limit]]
        return torch.stack(images), None
    count = len(data) if limit is None else min(limit, len(data))
    pairs = [data[i] for i in range(count)]
    images = torch.stack([transform(image) for image, _ in pairs])
    return images, torch.tensor([label for _, label in pairs])


def run(args: argparse.Namespace) -> int:
    import torch

    from ..deploy.artifact import load_artifact, save_artifact
    from ..deploy.fidelity import format_fidelity, measure_fidelity, write_fidelity
    from ..deploy.inference import optimize_for_inference

    if args.precision == "int8" and not args.calibration:
        raise ValueError("int8 needs --calibration images ('digits' or a folder)")
    if args.precision == "bf16" and args.engine == "onnxruntime":
        raise ValueError("bf16 is an OpenVINO precision here; use --engine openvino (or auto)")
    model = load_from_args(args).cpu().eval()
    print(f"quantizing {describe(model)} to {args.precision}")
    calibration = None
    if args.calibration:
        calibration, _ = load_images(args.calibration, model, "train", args.calibration_size)
    res = model.preprocess.resolution
    example = torch.randn(args.batch_size, model.in_chans, res, res)
    fast = optimize_for_inference(
        model,
        args.engine,
        args.precision,
        example,
        calibration=calibration,
        threads=args.threads,
        candidates=("openvino", "onnxruntime"),
    )
    print(f"engine: {fast.backend} {fast.precision} ({fast.reason})")
    out = Path(args.out or f"{model.spec.name}_{args.precision}")
    files = save_artifact(fast, out)
    print("wrote " + ", ".join(str(f) for f in files))

    if args.eval_data:
        images, labels = load_images(args.eval_data, model, "test")
        data = args.eval_data
    elif calibration is not None:
        images, labels, data = calibration, None, f"{args.calibration} (calibration)"
    else:
        raise ValueError("give --eval images for the fidelity report")
    batches = [
        (images[i : i + 64], None if labels is None else labels[i : i + 64])
        for i in range(0, len(images), 64)
    ]
    row = measure_fidelity(
        load_artifact(files[0], args.threads),
        model,
        batches,
        f"{model.spec.name} {fast.backend} {fast.precision}",
        data,
    )
    report = files[0].with_suffix(".fidelity.json")
    write_fidelity(report, [row])
    print(format_fidelity([row]))
    print(f"wrote {report} and {report.with_suffix('.md')}")
    return 0
