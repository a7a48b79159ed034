"""Which device a model runs on: one rule for training, evaluation and every command."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device = "auto", local_rank: int = 0) -> torch.device:
    """``"auto"`` is this process's GPU (``cuda:local_rank``) when there is one, else the CPU.

    An explicit ``"cuda"`` without an index also means ``cuda:local_rank``, so every torchrun
    process drives its own GPU. Unknown names and GPUs that are not there are one-line errors.
    """
    if isinstance(name, torch.device):
        device = name
    else:
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            device = torch.device(name)
        except RuntimeError:
            raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(name)!r} requested but no CUDA GPU is available")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device
