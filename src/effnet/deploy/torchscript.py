"""TorchScript: a traced module for PyTorch's own C++ runtime (LibTorch) and mobile PyTorch.

The metadata travels inside the archive as the extra file ``effnet.json``
(``torch.jit.load(path, _extra_files={"effnet.json": ""})`` reads it without effnet). The trace
runs on a batch of 2, so the file serves any batch size.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..fileio import write_with
from .metadata import ArtifactError, ArtifactInfo

EXTRA_FILE = "effnet.json"


def export(
    model: nn.Module, path: Path, info: ArtifactInfo, calibration: torch.Tensor | None = None
) -> list[Path]:
    """Trace ``model`` (fp32) and write it with its metadata, atomically."""
    if info.precision != "fp32":
        raise ValueError(f"TorchScript is written at fp32, not {info.precision}")
    example = torch.randn(2, *info.input_shape, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings(), torch.no_grad():
        # Tracer notes about the model's input-shape check and TorchScript's deprecation are not
        # the user's to act on; the export is checked against PyTorch by its callers.
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model.eval(), example, check_trace=False)
        extra = {EXTRA_FILE: info.to_json()}
        write_with(path, lambda f: torch.jit.save(traced, f, _extra_files=extra))
    return [path]


def load(path: Path, threads: int) -> tuple[ArtifactInfo, Callable[[torch.Tensor], torch.Tensor]]:
    """The metadata of ``path`` and the TorchScript module as a callable from images to logits."""
    extra = {EXTRA_FILE: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except (RuntimeError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ArtifactError(f"{path}: not a loadable TorchScript file ({reason})") from None
    if not extra[EXTRA_FILE]:
        raise ArtifactError(
            f"{path}: the TorchScript file carries no effnet metadata ({EXTRA_FILE}); export it "
            "with 'effnet export'"
        )
    text = extra[EXTRA_FILE]
    info = ArtifactInfo.from_json(text.decode() if isinstance(text, bytes) else text, path)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return module(x.detach().to(torch.float32))

    return info, run
