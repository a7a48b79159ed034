"""Mixed precision: which autocast dtype a run uses on its device."""

from __future__ import annotations

import torch


def resolve_amp(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: "auto" is bf16 on GPUs that have it, fp16 on older GPUs, off on CPU.

    CPU autocast to bf16 exists ("bf16") but is slower than fp32 on CPUs without bf16 matrix
    units, so "auto" leaves it off there.
    """
    if mode == "none":
        return None
    if mode == "bf16":
        return torch.bfloat16
    if mode == "fp16":
        if device.type != "cuda":
            raise ValueError("amp=fp16 needs a CUDA device; use amp=bf16 on CPU")
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None
