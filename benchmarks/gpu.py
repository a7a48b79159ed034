"""Inference and training images/s of effnet's B0 and B4 beside timm's, measured in the same run.

Every model gets the same treatment: AMP (bf16 where the GPU has it), channels_last, torch.compile
(on by default on a GPU), the same random batch, the same regularisation (the paper's dropout and
stochastic depth 0.2, which timm leaves off unless asked). Inference is the eval-mode model under
``torch.inference_mode``; training is benchmarks/gpu_train.py's step (forward, label-smoothed
cross-entropy, backward, TF-style RMSProp update). Data loading is left out: this measures the
networks. Both modes are timed by ``effnet.deploy.timing.time_runs`` (the GPU synchronised after
every step) and report steps x batch over the summed step times. Prints a table and the effnet /
timm ratio per variant; ``--json`` writes them too.

    python benchmarks/gpu.py                                   # GPU: B0 and B4, compiled
    python benchmarks/gpu.py --no-compile --json gpu.json
    python benchmarks/gpu.py --device cpu --resolution 32 --batch-size 2 --steps 1
"""

from __future__ import annotations

import argparse
import gc
import json
import runpy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import timm
import torch

import effnet
from effnet.deploy.timing import time_runs
from effnet.train.amp import resolve_amp

# The training step lives in gpu_train.py; one definition keeps both benchmarks comparable.
_GPU_TRAIN = runpy.run_path(str(Path(__file__).with_name("gpu_train.py")), run_name="gpu_train")
train_images_per_second = _GPU_TRAIN["images_per_second"]

#: Per variant: its own resolution, the paper's dropout, and batch sizes (inference, training)
#: that keep an 80 GB GPU busy without running out of memory under AMP.
VARIANTS = {
    "b0": {"resolution": 224, "dropout": 0.2, "batch": (256, 128)},
    "b4": {"resolution": 380, "dropout": 0.4, "batch": (64, 32)},
}
DROP_PATH_RATE = 0.2


def inference_images_per_second(
    model: torch.nn.Module,
    *,
    batch_size: int,
    resolution: int,
    steps: int,
    warmup: int,
    channels_last: bool,
    compile: bool,
    device: torch.device,
    amp_dtype: torch.dtype | None,
) -> float:
    """Images/s of ``model`` in eval mode on one repeated random batch."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=memory_format).eval().requires_grad_(False)
    if compile:
        model = torch.compile(model)
    x = torch.randn(batch_size, 3, resolution, resolution, device=device)
    x = x.contiguous(memory_format=memory_format)
    with (
        torch.inference_mode(),
        torch.autocast(device.type, amp_dtype, enabled=amp_dtype is not None),
    ):
        seconds = time_runs(lambda: model(x), steps, warmup, device=device)
    return steps * batch_size / sum(seconds)


def builders(variant: str) -> dict[str, Any]:
    """``{library: () -> fresh model}`` for one variant, with matching regularisation."""
    dropout = VARIANTS[variant]["dropout"]
    name = f"efficientnet_{variant}"
    return {
        "effnet": lambda: effnet.create_model(name, dropout=dropout, drop_path_rate=DROP_PATH_RATE),
        "timm": lambda: timm.create_model(name, drop_rate=dropout, drop_path_rate=DROP_PATH_RATE),
    }


def _release(device: torch.device) -> None:
    torch._dynamo.reset()  # compiled graphs of the last model are not reused by the next
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1")
    p.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=["b0", "b4"])
    p.add_argument("--resolution", type=int, help="input size (default: each variant's own)")
    p.add_argument(
        "--batch-size",
        type=int,
        help="for inference and training (default: b0 256/128, b4 64/32 inference/training)",
    )
    p.add_argument("--steps", type=int, default=30, help="timed steps per model and mode")
    p.add_argument(
        "--warmup", type=int, help="untimed steps first (default: 10 on a GPU, 1 on CPU)"
    )
    p.add_argument("--amp", default="auto", choices=["auto", "none", "bf16", "fp16"])
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        help="torch.compile every model (default: on for a GPU, off on CPU)",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = p.parse_args(argv)
    for flag in ("resolution", "batch_size", "steps", "warmup"):
        value = getattr(args, flag)
        if value is not None and value < (0 if flag == "warmup" else 1):
            p.error(f"--{flag.replace('_', '-')} must be positive, got {value}")
    return args


def measure_variant(
    variant: str,
    args: argparse.Namespace,
    device: torch.device,
    compile: bool,
    warmup: int,
    amp_dtype: torch.dtype | None,
) -> dict[str, dict[str, Any]]:
    """``{library: result row}`` for one variant, each row printed as it is measured; every model
    starts from the same seed and from a released device, so neither library inherits the other's
    compiled graphs or cached memory."""
    cfg = VARIANTS[variant]
    resolution = args.resolution or cfg["resolution"]
    infer_batch, train_batch = (args.batch_size,) * 2 if args.batch_size else cfg["batch"]
    found: dict[str, dict[str, Any]] = {}
    for library, build in builders(variant).items():
        torch.manual_seed(0)
        infer = inference_images_per_second(
            build(),
            batch_size=infer_batch,
            resolution=resolution,
            steps=args.steps,
            warmup=warmup,
            channels_last=args.channels_last,
            compile=compile,
            device=device,
            amp_dtype=amp_dtype,
        )
        _release(device)
        torch.manual_seed(0)
        train_args = SimpleNamespace(
            batch_size=train_batch,
            resolution=resolution,
            steps=args.steps,
            warmup=warmup,
            channels_last=args.channels_last,
            compile=compile,
        )
        train = train_images_per_second(build(), train_args, device, amp_dtype)
        _release(device)
        found[library] = {
            "library": library,
            "model": f"efficientnet_{variant}",
            "resolution": resolution,
            "inference_batch_size": infer_batch,
            "inference_images_per_s": infer,
            "training_batch_size": train_batch,
            "training_images_per_s": train,
        }
        model = f"{library} efficientnet_{variant}"
        print(
            f"{model:<26}{resolution:>5}{infer_batch:>13}{infer:>13.1f}"
            f"{train_batch:>13}{train:>13.1f}"
        )
    return found


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    compile = device.type == "cuda" if args.compile is None else args.compile
    warmup = args.warmup if args.warmup is not None else (10 if device.type == "cuda" else 1)
    amp_dtype = resolve_amp(args.amp, device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    amp_name = str(amp_dtype).removeprefix("torch.") if amp_dtype else "off"
    print(
        f"EfficientNet inference and training on {where}: amp {amp_name}, channels_last "
        f"{args.channels_last}, torch.compile {compile}, {args.steps} timed steps after {warmup}"
    )
    head = f"{'model':<26}{'res':>5}{'infer batch':>13}{'infer img/s':>13}"
    head += f"{'train batch':>13}{'train img/s':>13}"
    print(head)
    print("-" * len(head))

    rows: list[dict[str, Any]] = []
    ratios: dict[str, dict[str, float]] = {}
    for variant in args.variants:
        found = measure_variant(variant, args, device, compile, warmup, amp_dtype)
        rows += found.values()
        ratios[variant] = {
            mode: found["effnet"][f"{mode}_images_per_s"] / found["timm"][f"{mode}_images_per_s"]
            for mode in ("inference", "training")
        }
    for variant, r in ratios.items():
        print(
            f"effnet / timm {variant.upper()}: inference {r['inference']:.3f}x, "
            f"training {r['training']:.3f}x"
        )
    payload = {
        "device": where,
        "amp": amp_name,
        "channels_last": args.channels_last,
        "compile": compile,
        "steps": args.steps,
        "warmup": warmup,
        "torch": torch.__version__,
        "timm": timm.__version__,
        "results": rows,
        "ratios_effnet_over_timm": ratios,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.json}")
    return payload


if __name__ == "__main__":
    main()
