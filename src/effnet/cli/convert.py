"""``effnet convert``: a torchvision / timm / efficientnet-pytorch / Keras checkpoint to effnet's
self-describing safetensors (``--from``), or an effnet checkpoint back to torchvision or timm
(``--to``)."""

from __future__ import annotations

import argparse
import sys

from ..weights.peers import PEERS
from . import add_overwrite_argument, example_help

#: Every layout effnet reads; every PyTorch layout it writes (Keras files are read only).
FROM = tuple(PEERS)
TO = tuple(name for name, peer in PEERS.items() if peer.file_kind == "torch")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="load torchvision, timm, efficientnet-pytorch, Keras checkpoints (and export back)",
        description="--from reads a peer's checkpoint and writes an effnet .safetensors that "
        "records the padding, BN epsilon, preprocessing and class names the weights need. "
        "timm-tf is timm's tf_efficientnet_* (TensorFlow ports: SAME padding, BN eps 1e-3); "
        "lukemelas is efficientnet-pytorch; lite-pytorch is efficientnet-lite-pytorch (Lite0-4). "
        "--to writes an effnet checkpoint in a peer's layout.",
        **example_help(
            "effnet convert --from timm-tf tf_efficientnet_b3_aa-84b4657e.pth "
            "--model efficientnet_b3 --out b3.safetensors\n"
            "effnet convert --from keras efficientnetb0.weights.h5 --out b0.safetensors\n"
            "effnet convert --from lite-pytorch efficientnet-lite0-57934424.pth "
            "--out lite0.safetensors\n"
            "effnet convert --to torchvision b0.safetensors --out b0_torchvision.pth\n"
            "effnet convert --to lite-pytorch efficientnet_lite0.lite_pytorch_in1k --out lite0.pth"
        ),
    )
    direction = p.add_mutually_exclusive_group(required=True)
    direction.add_argument("--from", dest="source_peer", choices=FROM, help="peer layout of SRC")
    direction.add_argument("--to", dest="target_peer", choices=TO, help="peer layout to write")
    p.add_argument(
        "src",
        help="checkpoint to read (.pth/.pt/.bin/.safetensors, Keras .h5); with --to also a "
        "pretrained weight name, as effnet.load takes (efficientnet_b0.tv_in1k)",
    )
    p.add_argument("--out", required=True, help="file to write (.safetensors, or .pth for --to)")
    p.add_argument("--model", help="effnet model name (default: told from the checkpoint's shapes)")
    p.add_argument(
        "--num-classes", type=int, help="expected classifier width (default: the checkpoint's)"
    )
    p.add_argument(
        "--no-strict",
        action="store_true",
        help="with --to: write the file even though the peer's default model pads or normalises "
        "differently (its outputs will differ unless you build it as the warning says)",
    )
    add_overwrite_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..fileio import claim_output

    claim_output(args.out, [args.src], args.overwrite)  # before any work, in both directions
    if args.source_peer:
        return _from_peer(args)
    return _to_peer(args)


def _from_peer(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..weights.checkpoint import save_model
    from ..weights.convert import convert_checkpoint

    model = convert_checkpoint(args.src, args.source_peer, args.model, num_classes=args.num_classes)
    out = save_model(
        args.out,
        model,
        extra={"converted_from": args.source_peer, "source": Path(args.src).name},
    )
    pre = model.preprocess
    print(
        f"{args.source_peer} {Path(args.src).name} -> {model.spec.name} "
        f"(padding={model.padding}, bn_eps={model.spec.bn_eps:g}, {model.num_classes} classes)\n"
        f"preprocessing: {pre.resolution}px, crop {pre.crop_pct:g} (resize {pre.resize_size}), "
        f"{pre.interpolation}, mean {pre.mean}, std {pre.std}\n"
        f"wrote {out}"
    )
    return 0


def _how(text: str) -> str:
    """The "build it like this" part of an export error, for the --no-strict warning."""
    _, _, hint = text.partition(". To use these weights there, ")
    return f": {hint.removesuffix(' and pass --no-strict')}" if hint else ""


def _to_peer(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from ..fileio import write_with
    from ..weights.export import export_state_dict
    from ..weights.factory import load

    model = load(args.src, args.model)  # a checkpoint file or a pretrained weight name
    try:
        export_state_dict(model, args.target_peer, strict=True)
    except ValueError as err:  # the peer's default model computes something else
        text = str(err).replace("export with strict=False", "pass --no-strict")
        if not args.no_strict:
            raise ValueError(text) from None
        mismatch = text.split(". To use", 1)[0]
        print(
            f"warning: {mismatch}; {args.target_peer}'s default model will not reproduce "
            f"effnet's outputs from this file{_how(text)}",
            file=sys.stderr,
        )
    state = export_state_dict(model, args.target_peer, strict=False)
    out = Path(args.out)
    if out.suffix == ".safetensors":  # atomic: a failed write leaves any earlier file whole
        from safetensors.torch import save

        write_with(out, lambda f: f.write(save({k: v.contiguous() for k, v in state.items()})))
    else:
        write_with(out, lambda f: torch.save(state, f))
    print(f"{model.spec.name} -> {args.target_peer} layout ({len(state)} tensors); wrote {out}")
    return 0
