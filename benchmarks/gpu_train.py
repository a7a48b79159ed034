"""Training throughput of effnet's B0 beside timm's efficientnet_b0, measured in the same run.

Both models take the same steps: forward, label-smoothed cross-entropy, backward, TF-style
RMSProp update, under the same AMP dtype and memory format, on the same random batch (data loading
is left out: this measures the model and the optimizer). Prints images/s for each and the ratio.
Steps are timed by ``effnet.deploy.timing.time_runs``, the GPU synchronised after each one, and
images/s is steps x batch over the summed step times.

    python benchmarks/gpu_train.py                       # GPU: 224px, batch 128, AMP, NHWC
    python benchmarks/gpu_train.py --device cpu --resolution 64 --batch-size 8 --steps 3
    python benchmarks/gpu_train.py --model efficientnetv2_s --resolution 300   # V2 (timm's own)
"""

from __future__ import annotations

import argparse

import timm
import torch
import torch.nn.functional as F

import effnet
from effnet.deploy.timing import time_runs
from effnet.train.amp import resolve_amp
from effnet.train.optim import RMSpropTF
from effnet.weights.peers import PEERS


def images_per_second(
    model: torch.nn.Module,
    args: argparse.Namespace,
    device: torch.device,
    amp_dtype: torch.dtype | None,
) -> float:
    """Training images/s of ``model``: ``args.steps`` timed steps after ``args.warmup`` untimed."""
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=memory_format).train()
    if args.compile:
        model = torch.compile(model)
    optimizer = RMSpropTF(model.parameters(), lr=0.016 * args.batch_size / 256)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    x = torch.randn(args.batch_size, 3, args.resolution, args.resolution, device=device)
    x = x.contiguous(memory_format=memory_format)
    y = torch.randint(0, 1000, (args.batch_size,), device=device)

    def step() -> None:
        with torch.autocast(device.type, amp_dtype, enabled=amp_dtype is not None):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=0.1)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    seconds = time_runs(step, args.steps, args.warmup, device=device)
    return args.steps * args.batch_size / sum(seconds)


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1")
    p.add_argument("--resolution", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=30, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first (cudnn autotune)")
    p.add_argument("--amp", default="auto", choices=["auto", "none", "bf16", "fp16"])
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--compile", action="store_true", help="torch.compile both models")
    p.add_argument(
        "--model", default="efficientnet_b0", help="any model timm has too, e.g. efficientnetv2_s"
    )
    args = p.parse_args(argv)
    model = args.model
    timm_name = PEERS["timm"].peer_model_name(model)
    if model not in PEERS["timm"].models:  # timm has V2-B0..B3 as TensorFlow ports only
        timm_name = PEERS["timm-tf"].peer_model_name(model)

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)  # fmt: skip
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    amp_dtype = resolve_amp(args.amp, device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"{model} training at {args.resolution}px, batch {args.batch_size}, amp "
        f"{amp_dtype or 'off'}, channels_last {args.channels_last}, on {where}"
    )
    results = {}
    for name, build in (
        (f"effnet {model}", lambda: effnet.create_model(model)),
        # timm leaves dropout and stochastic depth off unless asked; effnet's defaults are the
        # paper's (0.2 each), so timm gets the same for a like-for-like step.
        (
            f"timm {timm_name}",
            lambda: timm.create_model(timm_name, drop_rate=0.2, drop_path_rate=0.2),
        ),
    ):
        torch.manual_seed(0)
        results[name] = images_per_second(build(), args, device, amp_dtype)
        print(f"{name:<24}{results[name]:>10.1f} images/s")
        if device.type == "cuda":
            torch.cuda.empty_cache()
    ratio = results[f"effnet {model}"] / results[f"timm {timm_name}"]
    print(f"ratio effnet / timm: {ratio:.3f}")
    return results


if __name__ == "__main__":
    main()
