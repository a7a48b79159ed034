"""``effnet cam``: a Figure 7 style picture of where the model sees the predicted class."""

from __future__ import annotations

import argparse
import difflib
import re
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


#: The most class names an error lists: all of a small model's, or the closest of a large one's.
SHOWN_CLASSES = 20
CLOSE_MATCHES = 8


def _class_index(target: str | None, names: list[str], weights: str = "WEIGHTS") -> int | None:
    """``--class`` as an index into ``names`` (a name or a number). A name that is none of them
    is answered with the names like it, or with how to see them all, never with the list's
    first entries (ImageNet's would be fish)."""
    if target is None:
        return None
    if target in names:
        return names.index(target)
    if target.lstrip("-").isdigit():
        index = int(target)
        if 0 <= index < len(names):
            return index
        raise ValueError(f"--class {index} is out of range for {len(names)} classes")
    problem = f"--class {target!r} is not a class of the model"
    close = close_names(target, names)
    if close:
        raise ValueError(f"{problem}; close: {', '.join(repr(name) for name in close)}")
    if len(names) <= SHOWN_CLASSES:
        raise ValueError(f"{problem}; its classes: {', '.join(names)}")
    lister = f"import effnet; print('\\n'.join(effnet.load({weights!r}).class_names))"
    raise ValueError(
        f"{problem} and no name is close; give an index 0-{len(names) - 1}, or list the names "
        f'with: python -c "{lister}"'
    )


def close_names(target: str, names: list[str]) -> list[str]:
    """Class names like ``target``, ignoring case, at most ``CLOSE_MATCHES``: those holding it as a
    word, then as a word's start, then anywhere; only when none holds it, the nearest spellings
    (difflib), which alone would offer 'cliff' for 'coffe' beside 'coffee mug'."""
    wanted = target.casefold()
    word = re.compile(rf"\b{re.escape(wanted)}")

    def rank(name: str) -> int:
        folded = name.casefold()
        return 0 if re.search(rf"{word.pattern}\b", folded) else 1 if word.search(folded) else 2

    hits = sorted((name for name in names if wanted in name.casefold()), key=rank)
    if not hits:
        by_folded = {name.casefold(): name for name in names}
        spelled = difflib.get_close_matches(wanted, list(by_folded), n=CLOSE_MATCHES)
        hits = [by_folded[name] for name in spelled]
    return list(dict.fromkeys(hits))[:CLOSE_MATCHES]


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..data.images import open_image
    from ..data.preprocess import to_rgb
    from ..fileio import claim_output
    from ..use.cam import render_cam_figure

    out = args.out or f"{Path(args.image).stem}_cam.png"
    claim_output(out, [args.image, *args.weights], args.overwrite)
    image = open_image(args.image)  # fail on a bad image before loading any model
    panels = [_map_one(args, weights, image.size) for weights in args.weights]
    maps = [(title, seen, result) for title, seen, result, _ in panels]
    # A crop that is the whole image needs no outline: the image panel is then the model's view.
    crops = list(dict.fromkeys(box for *_, box in panels if box is not None))
    picture = np.asarray(to_rgb(image)) if crops else maps[0][1]
    path = render_cam_figure(
        picture, maps, out, args.size, image_title=Path(args.image).name, crops=crops
    )
    print(f"wrote {path}" + (" (the yellow box is the crop the maps cover)" if crops else ""))
    return 0


def _map_one(args: argparse.Namespace, weights: str, size: tuple[int, int]) -> tuple:
    """(title, the model's view, its map, the crop box or None) for one --weights; prints the
    map's line, saying when it covers only the centre crop of the image."""
    from ..use.cam import cam_for_image, crop_box, crop_note, degenerate
    from ..weights.factory import load
    from ..weights.hub import preprocess_for
    from ._weights import describe

    refuse_artifact(weights)
    model = load(weights, args.model, args.device)
    index = _class_index(args.target, model.class_names, weights)
    seen, result = cam_for_image(model, args.image, args.method, index, args.layer)
    label = model.class_names[result.class_index]
    title = f"{label} ({result.probability:.1%})"
    if len(args.weights) > 1:
        title = f"{Path(weights).stem}: {title}"
    note = crop_note(size, preprocess_for(model))
    print(
        f"{describe(model)}: {args.method} of class {label!r} "
        f"(index {result.class_index}, p={result.probability:.3f})" + (f"; {note}" if note else "")
    )
    reason = degenerate(result)
    if reason:
        print(f"warning: {describe(model)}: {reason}", file=sys.stderr)
    box = crop_box(size, preprocess_for(model)) if note else None
    return title, seen, result, box


def refuse_artifact(weights: str) -> None:
    """An exported file has no gradients to take a class activation map from: one clear line."""
    from ..deploy.metadata import format_for_path

    fmt = format_for_path(weights)
    if fmt is not None:
        raise ValueError(
            f"{weights} is a {fmt.name} file, which runs without gradients; a class activation "
            "map needs the checkpoint (.safetensors) it was exported from"
        )
