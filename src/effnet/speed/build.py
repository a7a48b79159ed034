"""What the speed tools time: a model by name, made ready on one backend.

Shared by the in-process benchmark (:mod:`effnet.speed.bench`) and the memory probe's fresh
subprocess (:mod:`effnet.speed.memory`), so both build exactly the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..deploy.backends import BENCH_BACKENDS
from ..deploy.inference import optimize_for_inference
from ..registry import get_spec, list_models
from ..weights.factory import create_model

#: Table 4's baselines come from torchvision, prefixed so they never shadow effnet's own names
#: (effnet's ``resnet50`` spec is the same network, but ResNet-152 exists only there).
TORCHVISION_PREFIX = "torchvision:"


def build_model(name: str) -> tuple[nn.Module, int]:
    """The eval-mode model for ``name`` (random weights: timing does not depend on them) and its
    default resolution."""
    if name.startswith(TORCHVISION_PREFIX):
        # torchvision's model zoo is imported here only: Table 4's ResNet baselines are the one
        # place effnet measures a network it does not build itself, and keeping the import local
        # keeps it out of every other code path.
        import torchvision.models

        arch = name[len(TORCHVISION_PREFIX) :]
        if arch not in ("resnet50", "resnet101", "resnet152"):
            raise ValueError(
                f"unknown baseline {name!r}; expected {TORCHVISION_PREFIX}resnet50/101/152"
            )
        return getattr(torchvision.models, arch)(weights=None).eval(), 224
    spec = get_spec(name)
    return create_model(spec).eval(), spec.resolution


def prepare(
    model: nn.Module,
    backend: str,
    batch_size: int,
    resolution: int,
    threads: int,
    precision: str = "fp32",
) -> Callable[[torch.Tensor], Any]:
    """The callable to time for ``backend`` at ``precision``; "plain" is the untouched eval-mode
    model (fp32). int8 is calibrated on random images: speed does not depend on the calibration,
    accuracy does (:mod:`effnet.deploy.fidelity` measures that on real images)."""
    if backend == "plain":
        if precision != "fp32":
            raise ValueError(f"'plain' is the fp32 model as built, not {precision}")
        for p in model.parameters():
            p.requires_grad_(False)
        return model.eval()
    if backend not in BENCH_BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BENCH_BACKENDS}")
    calibration = None
    if precision in ("int8", "auto"):
        calibration = torch.randn(8, getattr(model, "in_chans", 3), resolution, resolution)
    return optimize_for_inference(
        model,
        backend,
        precision,
        calibration=calibration,
        batch_size=batch_size,
        resolution=resolution,
        threads=threads,
        verbose=False,
    )


def known_models() -> list[str]:
    """The names to offer a user: effnet's registry and Table 4's two torchvision baselines."""
    return [*list_models(), f"{TORCHVISION_PREFIX}resnet50", f"{TORCHVISION_PREFIX}resnet152"]
