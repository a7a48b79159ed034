"""``effnet cam``: a Figure 7 style picture of where the model sees the predicted class."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import add_overwrite_argument, example_help, int_in


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cam",
        help="class activation map of an image, overlaid as a heat map (paper Figure 7)",
        description="Draw the image and, for each --weights, its class activation map for the "
        "top class (or --class). CAM uses the classifier weights on the last feature map; "
        "--method gradcam uses gradients and works for any head.",
        **example_help(
            "effnet cam cat.jpg --weights runs/pets_ft/best.safetensors --out cat_cam.png\n"
            "effnet cam cat.jpg --weights b0.safetensors b3.safetensors --method gradcam"
        ),
    )
    p.add_argument("image", help="an image file (JPEG, PNG, ...)")
    p.add_argument(
        "--weights",
        nargs="+",
        required=True,
        help="one or more effnet checkpoints (or pretrained names with --model); several give "
        "one panel each, as in the paper's Figure 7",
    )
    p.add_argument("--model", help="model name; optional with effnet checkpoints")
    p.add_argument("--device", default="auto", help="auto (GPU if present), cpu, cuda, cuda:N")
    p.add_argument("--method", choices=("cam", "gradcam"), default="cam")
    p.add_argument("--class", dest="target", help="class name or index to map (default: top class)")
    p.add_argument("--layer", help="Grad-CAM: submodule whose output is mapped (default: head)")
    p.add_argument("--out", help="output PNG (default: IMAGE_cam.png in the current folder)")
    p.add_argument(
        "--size", type=int_in(16, 4096), default=320, help="panel side in pixels (default 320)"
    )
    add_overwrite_argument(p)
    p.set_defaults(func=run)


def _class_index(target: str | None, names: list[str]) -> int | None:
    if target is None:
        return None
    if target in names:
        return names.index(target)
    if target.lstrip("-").isdigit():
        index = int(target)
        if 0 <= index < len(names):
            return index
        raise ValueError(f"--class {index} is out of range for {len(names)} classes")
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    raise ValueError(f"--class {target!r} is not a class of the model ({shown})")


def run(args: argparse.Namespace) -> int:
    from ..data.images import open_image
    from ..fileio import claim_output
    from ..use.cam import cam_for_image, degenerate, render_cam_figure
    from ..weights.factory import load
    from ._weights import describe

    out = args.out or f"{Path(args.image).stem}_cam.png"
    claim_output(out, [args.image, *args.weights], args.overwrite)
    open_image(args.image)  # fail on a bad image before loading any model
    maps = []
    view = None
    for weights in args.weights:
        refuse_artifact(weights)
        model = load(weights, args.model, args.device)
        index = _class_index(args.target, model.class_names)
        seen, result = cam_for_image(model, args.image, args.method, index, args.layer)
        view = seen if view is None else view
        label = model.class_names[result.class_index]
        title = f"{label} ({result.probability:.1%})"
        if len(args.weights) > 1:
            title = f"{Path(weights).stem}: {title}"
        maps.append((title, seen, result))
        print(
            f"{describe(model)}: {args.method} of class {label!r} "
            f"(index {result.class_index}, p={result.probability:.3f})"
        )
        reason = degenerate(result)
        if reason:
            print(f"warning: {describe(model)}: {reason}", file=sys.stderr)
    path = render_cam_figure(view, maps, out, args.size, image_title=Path(args.image).name)
    print(f"wrote {path}")
    return 0


def refuse_artifact(weights: str) -> None:
    """An exported file has no gradients to take a class activation map from: one clear line."""
    from ..deploy.metadata import format_for_path

    fmt = format_for_path(weights)
    if fmt is not None:
        raise ValueError(
            f"{weights} is a {fmt.name} file, which runs without gradients; a class activation "
            "map needs the checkpoint (.safetensors) it was exported from"
        )
