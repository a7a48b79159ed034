"""Resumable training state, written atomically: a crash or ``kill -9`` never leaves a torn file.

``last.pt`` holds everything a run needs to continue as if it had never stopped: model, optimizer,
schedule, EMA, AMP scaler, where the sampler was (epoch, step within it) and every rank's RNG
state. It is written to a temporary file in the same folder and renamed over the old one, which is
atomic on POSIX, so a reader sees the previous complete state or the new complete state.
The shareable weights (``model.safetensors``, ``best.safetensors``) go through
:func:`effnet.weights.checkpoint.save_model`, which writes the same way.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import torch

from ..fileio import atomic_write

FORMAT = "effnet-train/1"


def rng_state() -> dict[str, Any]:
    """This process's random generators (torch CPU, CUDA, Python) as checkpointable values."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_atomic(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, flushed to disk, then renamed."""
    path = Path(path)
    with atomic_write(path, durable=True) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)
    return path


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``last.pt``; tensors only and plain containers, nothing arbitrary is unpickled."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"nothing to resume: {path} does not exist (start without --resume, or point "
            "output_dir at the run to continue)"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not an effnet training state ({FORMAT})")
    return state
