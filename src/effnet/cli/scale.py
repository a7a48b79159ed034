"""``effnet scale``: compound-scale any network spec and print (or save) what comes out."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..spec import MAX_RESOLUTION
from . import add_overwrite_argument, example_help, float_in, int_in, natural_int

#: Growth rates and multipliers: finite and above zero.
_POSITIVE = float_in(0, open_low=True)

_UNITS = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9, "T": 1e12}


def parse_flops(text: str) -> float:
    """``"1.8G"``, ``"1.8B"`` (the paper's billions), ``"400M"`` or ``"1.8e9"`` multiply-adds."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMgGbBtT]?)\s*", text)
    if not match:
        raise ValueError(f"--flops {text!r} is not a number like 1.8G, 400M or 1.8e9")
    value = float(match.group(1)) * _UNITS[match.group(2).upper()]
    if value <= 0:
        raise ValueError(f"--flops must be positive, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scale",
        help="compound-scale a network (phi, a FLOP target, or explicit multipliers)",
        description="Scale a base network in depth, width and resolution and print the result. "
        "Give exactly one of --phi, --flops, or any of --width/--depth/--resolution.",
        **example_help(
            "effnet scale --base efficientnet_b0 --phi 2\n"
            "effnet scale --base efficientnet_b0 --flops 1.8G --out b0_1.8g.json\n"
            "effnet scale --base mobilenet_v2 --phi 1 --alpha 1.2 --beta 1.1 --gamma 1.15\n"
            "effnet scale --base resnet50 --width 2\n"
            "effnet train --config configs/b0_digits.py --override model.name=b0_1.8g.json"
        ),
    )
    p.add_argument(
        "--base",
        default="efficientnet_b0",
        help="a name from 'effnet models' or a spec .json (default: efficientnet_b0)",
    )
    p.add_argument(
        "--phi", type=float_in(), help="compound coefficient: d=alpha^phi, w=beta^phi, ..."
    )
    p.add_argument("--flops", help="target multiply-adds (e.g. 1.8G): solve phi to land nearest")
    p.add_argument("--alpha", type=_POSITIVE, help="depth growth per unit of phi (paper: 1.2)")
    p.add_argument("--beta", type=_POSITIVE, help="width growth per unit of phi (paper: 1.1)")
    p.add_argument(
        "--gamma", type=_POSITIVE, help="resolution growth per unit of phi (paper: 1.15)"
    )
    p.add_argument("--width", type=_POSITIVE, help="width multiplier (channels)")
    p.add_argument("--depth", type=_POSITIVE, help="depth multiplier (blocks per stage)")
    p.add_argument("--resolution", type=_POSITIVE, help="resolution multiplier")
    p.add_argument(
        "--image-size",
        type=int_in(1, MAX_RESOLUTION),
        help="set the input size in pixels (overrides r)",
    )
    p.add_argument(
        "--num-classes", type=natural_int, default=1000, help="classifier size for the counts"
    )
    p.add_argument("--name", help="name of the scaled spec (default: derived from the scaling)")
    p.add_argument("--out", type=Path, help="write the scaled spec here (.json) for create_model")
    add_overwrite_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import flops
    from ..profile import Profile
    from ..registry import get_spec
    from ..scaling import ALPHA, BETA, GAMMA, compound, scale, scale_to_flops

    multipliers = {
        k: v
        for k, v in (("width", args.width), ("depth", args.depth), ("resolution", args.resolution))
        if v is not None
    }
    requested = {
        "--phi": args.phi is not None,
        "--flops": args.flops is not None,
        "--width/--depth/--resolution": bool(multipliers),
    }
    modes = [flag for flag, given in requested.items() if given]
    if len(modes) != 1:
        given = " and ".join(modes) if modes else "none"
        raise ValueError(
            f"give exactly one of --phi, --flops or --width/--depth/--resolution (got {given})"
        )
    coefficients = (args.alpha, args.beta, args.gamma)
    if multipliers and any(c is not None for c in coefficients):
        raise ValueError("--alpha/--beta/--gamma apply to --phi or --flops, not to multipliers")
    if args.out is not None and args.out.suffix != ".json":
        raise ValueError(f"--out must be a .json file (create_model reads those), got {args.out}")
    if args.out is not None:
        from ..fileio import claim_output

        claim_output(args.out, [args.base], args.overwrite)
    alpha, beta, gamma = (
        c if c is not None else d for c, d in zip(coefficients, (ALPHA, BETA, GAMMA), strict=True)
    )

    target = parse_flops(args.flops) if args.flops is not None else None
    base = get_spec(args.base)
    classes = args.num_classes
    base_cost = flops.count(base, classes)
    print(
        f"base: {base.name} at {base.resolution}px: {base_cost.params / 1e6:.3f}M params, "
        f"{base_cost.macs / 1e9:.4g}G multiply-adds"
    )

    if target is not None:
        fit = scale_to_flops(base, target, alpha, beta, gamma, num_classes=classes)
        phi = fit.phi
        print(
            f"target {target / 1e9:.4g}G multiply-adds -> phi = {phi:.4f} "
            f"(lands at {fit.macs / 1e9:.4g}G, {fit.relative_error:+.2%})"
        )
    else:
        phi = args.phi
    if phi is not None:
        m = compound(phi, alpha, beta, gamma)
        d, w, r = m.depth, m.width, m.resolution
        print(
            f"compound scaling: phi = {phi:.4g}, alpha = {alpha:g}, beta = {beta:g}, "
            f"gamma = {gamma:g} (alpha*beta^2*gamma^2 = {alpha * beta**2 * gamma**2:.3f})"
        )
    else:
        d, w, r = (multipliers.get(k, 1.0) for k in ("depth", "width", "resolution"))
    spec = scale(base, width=w, depth=d, resolution=r, image_size=args.image_size, name=args.name)
    print(f"d = {d:.4f}   w = {w:.4f}   r = {r:.4f}   ->  {spec.resolution}px")
    flops.check_size(spec, classes)  # a spec written out is one a loader accepts
    profile = Profile(spec, spec.resolution, flops.stage_costs(spec, classes, spec.resolution))
    print(profile.format())
    print(
        f"{profile.params / base_cost.params:.2f}x the base's parameters, "
        f"{profile.macs / base_cost.macs:.2f}x its multiply-adds"
    )
    if args.out is not None:
        from ..fileio import atomic_write

        with atomic_write(args.out) as tmp:
            tmp.write_text(spec.to_json() + "\n")
        print(f"wrote {args.out} (effnet.create_model({str(args.out)!r}) or model={args.out})")
    return 0
