"""``effnet export``: ONNX or TorchScript with a dynamic batch axis, checked against PyTorch."""

from __future__ import annotations

import argparse

from . import example_help
from ._weights import add_weights_args, load_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export to ONNX or TorchScript and check it against PyTorch",
        description="Export the eval-mode model with a dynamic batch axis, run the file on random "
        "batches of two sizes, and print the largest difference from PyTorch.",
        **example_help(
            "effnet export --weights runs/digits_ft/best.safetensors --out digits.onnx\n"
            "effnet export --model efficientnet_b0 --format torchscript  # random weights"
        ),
    )
    add_weights_args(p, required=False)
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    p.add_argument("--out", help="output file (default: MODEL.onnx / MODEL.pt)")
    p.add_argument("--resolution", type=int, help="input size (default: the weights' own)")
    p.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    p.add_argument(
        "--exporter",
        choices=("dynamo", "legacy"),
        default="dynamo",
        help="ONNX exporter: torch.export-based 'dynamo' (default) or the faster TorchScript-based "
        "'legacy'",
    )
    p.add_argument("--tolerance", type=float, default=1e-4, help="max abs difference allowed")
    p.add_argument("--no-check", action="store_true", help="skip running the exported file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..fileio import refuse_overwrite
    from ..use.export import check_export, default_output_path, export_model

    if args.out:
        refuse_overwrite(args.out, [args.weights])  # before the (slow) load, and never after
    model = load_from_args(args, require_weights=False)
    if model.weights_source is None:
        print(f"note: no --weights given; exporting a randomly initialised {model.spec.name}")
    resolution = args.resolution or model.preprocess.resolution
    out = args.out or default_output_path(model.spec.name, args.format)
    refuse_overwrite(out, [args.weights])
    path = export_model(model, out, args.format, resolution, args.opset, args.exporter)
    shape = f"(batch, {model.in_chans}, {resolution}, {resolution})"
    print(f"wrote {path} ({args.format}, input {shape}, batch dynamic)")
    if args.no_check:
        return 0
    check = check_export(path, args.format, model, resolution)
    print(check.format())
    if check.worst > args.tolerance:
        raise ValueError(
            f"export differs from PyTorch by {check.worst:.3g} > --tolerance {args.tolerance:g}"
        )
    return 0
