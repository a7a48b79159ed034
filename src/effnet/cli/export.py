"""``effnet export`` (and its alias ``effnet quantize``): a deployable file in any format at any
precision, carrying its metadata, checked against PyTorch on its own engine; reduced precisions
get a fidelity report beside the file."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..spec import MAX_RESOLUTION
from . import add_overwrite_argument, example_help, float_in, int_in, positive_int, thread_count
from ._weights import add_weights_args, describe, is_detector, load_from_args, load_images

FORMAT_CHOICES = ("onnx", "openvino", "torchscript", "tflite", "executorch")


def register(sub: argparse._SubParsersAction, name: str = "export") -> None:
    """Add ``effnet NAME`` with export's options (``quantize`` registers itself through this)."""
    p = sub.add_parser(
        name,
        help="write a deployable file (ONNX, OpenVINO, TorchScript, LiteRT, ExecuTorch) at "
        "fp32 / fp16 / bf16 / int8" + (" (alias of 'effnet export')" if name != "export" else ""),
        description="Export the eval-mode model with its class names and preprocessing. fp32 "
        "files are run back on their own engine on random batches of two sizes and compared "
        "with PyTorch; fp16 / bf16 / int8 files are compared with the fp32 model on --eval "
        "images (top-1 and top-5 agreement, accuracy and its drop), written beside the file as "
        "FILE.fidelity.json/.md. int8 is calibrated on --calibration images (per-channel "
        "weights; ONNX and OpenVINO keep the stem, squeeze-excitation and classifier fp32).",
        **example_help(
            "effnet export --weights runs/digits_ft/best.safetensors --out digits.onnx\n"
            "effnet export --weights lite0.safetensors --precision int8 --calibration data/train "
            "--eval data/val --out lite0_int8.tflite\n"
            "effnet export --weights b0.safetensors --format openvino --precision bf16\n"
            "effnet export --model efficientnet_b0 --format torchscript  # random weights"
        ),
    )
    add_export_args(p)
    p.set_defaults(func=run)


def add_export_args(p: argparse.ArgumentParser) -> None:
    add_weights_args(p, required=False)
    p.add_argument(
        "--format",
        choices=FORMAT_CHOICES,
        help="file format (default: from --out's suffix, else onnx)",
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "fp16", "bf16", "int8"),
        default="fp32",
        help="fp32; fp16 (tflite weights); bf16 (openvino); int8 (onnx, openvino, tflite, "
        "executorch; needs --calibration)",
    )
    p.add_argument(
        "--calibration",
        help="images to quantize int8 on: 'digits' (the embedded training split) or a folder of "
        "images, preprocessed as the checkpoint says",
    )
    p.add_argument(
        "--calibration-size", type=positive_int, default=300, help="images used (default 300)"
    )
    p.add_argument(
        "--eval",
        dest="eval_data",
        help="labelled images for the fidelity report of a reduced precision: 'digits' (the test "
        "split) or a class folder DATA/<class>/<image> (default: the calibration images)",
    )
    p.add_argument(
        "--out", help="output file (default: MODEL[_PRECISION] with the format's suffix)"
    )
    p.add_argument(
        "--resolution",
        type=int_in(1, MAX_RESOLUTION),
        help="input size (default: the weights' own)",
    )
    p.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    p.add_argument(
        "--exporter",
        choices=("dynamo", "legacy"),
        default="dynamo",
        help="ONNX exporter: torch.export-based 'dynamo' (default) or the faster TorchScript-based "
        "'legacy'",
    )
    p.add_argument(
        "--threads", type=thread_count, help="engine threads for the checks (default: torch's)"
    )
    p.add_argument(
        "--tolerance", type=float_in(0), default=1e-4, help="fp32: max abs difference allowed"
    )
    p.add_argument("--no-check", action="store_true", help="skip running the exported file")
    add_overwrite_argument(p)


def _format(args: argparse.Namespace) -> str:
    from ..deploy.metadata import format_for_path

    if args.format:
        return args.format
    found = format_for_path(args.out) if args.out and Path(args.out).suffix else None
    if args.out and Path(args.out).suffix and found is None and Path(args.out).suffix != ".pt":
        raise ValueError(f"--out {args.out}: cannot tell the format from its suffix; add --format")
    return found.name if found else ("torchscript" if str(args.out).endswith(".pt") else "onnx")


def run(args: argparse.Namespace) -> int:
    from ..detection.pretrained import is_detector_name
    from ..fileio import staged
    from ..flops import check_size
    from ..use.export import default_output_path, export_model

    fmt = _format(args)
    if args.precision == "int8" and not args.calibration:
        raise ValueError("int8 needs --calibration images ('digits' or a folder)")
    check_opset(args)
    if is_detector(args.weights) or (not args.weights and is_detector_name(args.model)):
        return export_detector(args, fmt)
    if args.out:
        claim_outputs(args, args.out, fmt)  # before the (slow) load, and never after
    model = load_from_args(args, require_weights=False).cpu().eval()
    if model.weights_source is None:
        print(f"note: no --weights given; exporting a randomly initialised {model.spec.name}")
    resolution = args.resolution or model.preprocess.resolution
    check_size(model.spec, model.num_classes, resolution, model.in_chans)  # a 100000 px export
    out = claim_outputs(
        args, args.out or default_output_path(model.spec.name, fmt, args.precision), fmt
    )
    calibration = None
    if args.calibration:
        size = args.calibration_size
        calibration, _ = load_images(args.calibration, model, "train", size, labelled=False)
    print(f"exporting {describe(model)} to {fmt} {args.precision}")
    with staged(out) as folder:  # checked there: a file that fails never replaces a good one
        written = export_model(
            model, folder / out.name, fmt, resolution, args.opset, args.exporter, args.precision,
            calibration,
        )  # fmt: skip
        if not args.no_check and args.precision == "fp32":
            check_fp32(args, model, written, resolution, out)
    shape = f"(batch, {model.in_chans}, {resolution}, {resolution})"
    print(f"wrote {out} ({fmt} {args.precision}, input 'images' {shape})")
    if args.no_check or args.precision == "fp32":
        return 0
    return report_fidelity(args, model, out, calibration)


def export_detector(args: argparse.Namespace, fmt: str) -> int:
    """A detector to ONNX through :func:`effnet.detection.export.export_detector` (the raw head
    outputs; decoding and NMS stay outside), checked on ONNX Runtime against PyTorch."""
    from ..detection.export import export_detector as export
    from ..detection.pretrained import create_detector, load_any_detector
    from ..fileio import staged

    if fmt != "onnx" or args.precision != "fp32" or args.calibration:
        raise ValueError(
            f"{args.weights or args.model} is a detector: it is exported to onnx at fp32 only"
        )
    if args.opset is not None:
        raise ValueError("a detector is exported at opset 17 (the legacy exporter): drop --opset")
    model = load_any_detector(args.weights) if args.weights else create_detector(args.model).eval()
    if not args.weights:
        print(f"note: no --weights given; exporting a randomly initialised {model.spec.name}")
    size = args.resolution or model.spec.image_size
    out = claim_outputs(args, args.out or f"{model.spec.name}.onnx", fmt)
    source = args.weights or "random init"
    print(f"exporting {model.spec.name} from {source} to onnx fp32 (legacy exporter)")
    with staged(out) as folder:  # checked there: a file that fails never replaces a good one
        _, check = export(model, folder / out.name, size)
        print(check.format())
        if check.worst > args.tolerance:
            raise ValueError(
                f"export differs from PyTorch by {check.worst:.3g} > --tolerance "
                f"{args.tolerance:g}; {out} is not written"
            )
    rows = f"(batch, anchors, {model.num_classes} class logits + 4 box codes)"
    print(f"wrote {out} (onnx fp32, input 'images' (batch, 3, {size}, {size}), output {rows})")
    return 0


#: The ONNX opsets each exporter writes: torch.export's from 18 (lower ones are converted, and
#: fail), the TorchScript-based one from 7 to 20.
OPSETS = {"dynamo": (18, 23), "legacy": (7, 20)}


def check_opset(args: argparse.Namespace) -> None:
    """One line for an --opset the chosen exporter cannot write (its own error is a traceback)."""
    low, high = OPSETS[args.exporter]
    if args.opset is not None and not low <= args.opset <= high:
        raise ValueError(
            f"--opset {args.opset}: the {args.exporter} exporter writes opsets {low} to {high}"
        )


def claim_outputs(args: argparse.Namespace, out: str | Path, fmt: str) -> Path:
    """The file ``out`` becomes (its format's suffix added), once every file the export writes
    (the IR's .bin, a program's companion JSON, a fidelity report) may be written: none is an
    input, none exists unless --overwrite."""
    from ..deploy.artifact import output_path
    from ..deploy.metadata import companion_path
    from ..fileio import claim_output, refuse_overwrite

    inputs = [args.weights, args.calibration, args.eval_data]
    refuse_overwrite(out, inputs)  # as given too: a suffix added must not hide the mistake
    path = output_path(out, fmt)
    files = [path]
    if fmt == "openvino":
        files.append(path.with_suffix(".bin"))
    if fmt == "executorch":
        files.append(companion_path(path))
    if args.precision != "fp32" and not args.no_check:
        report = path.with_name(path.name + ".fidelity.json")
        files += [report, report.with_suffix(".md")]
    for file in files:
        claim_output(file, inputs, args.overwrite)
    return path


def check_fp32(args: argparse.Namespace, model, written: Path, resolution: int, out: Path) -> None:
    """Run the written (not yet renamed) file against PyTorch; raise when it differs too much."""
    from ..use.export import check_export

    check = check_export(written, model, resolution)
    print(check.format())
    if check.worst > args.tolerance:
        kept = f"{out} is unchanged" if out.exists() else f"{out} is not written"
        raise ValueError(
            f"export differs from PyTorch by {check.worst:.3g} > --tolerance {args.tolerance:g}; "
            f"{kept}"
        )


def report_fidelity(args: argparse.Namespace, model, path: Path, calibration) -> int:
    """Compare the reduced-precision file with the fp32 model on real images; write the report
    beside it (FILE.fidelity.json and .md)."""
    from ..deploy.artifact import load_artifact
    from ..deploy.fidelity import format_fidelity, measure_fidelity, write_fidelity

    if args.eval_data:
        images, labels = load_images(args.eval_data, model, "test")
        data = args.eval_data
    elif calibration is not None:
        images, labels, data = calibration, None, f"{args.calibration} (calibration)"
    else:
        print("note: no --eval images given; no fidelity report (pass --eval DATA)")
        return 0
    batches = [
        (images[i : i + 64], None if labels is None else labels[i : i + 64])
        for i in range(0, len(images), 64)
    ]
    loaded = load_artifact(path, args.threads)
    row = measure_fidelity(loaded, model, batches, f"{model.spec.name} {path.name}", data)
    report = path.with_name(path.name + ".fidelity.json")
    write_fidelity(report, [row])
    print(format_fidelity([row]))
    print(f"wrote {report} and {report.with_suffix('.md')}")
    return 0
