"""effnet: EfficientNet and compound scaling, complete and exact, in PyTorch.

The public surface is small: :func:`create_model`, :func:`load` and :func:`list_models` for the
model family, :func:`scale` and :func:`scale_to_flops` for compound scaling of any network spec.
"""

from .registry import get_spec, list_models
from .scaling import compound, round_filters, round_repeats, scale, scale_to_flops
from .spec import EFFICIENTNET_B0, BlockSpec, NetSpec, StageSpec, StemSpec
from .weights.factory import create_model, load
from .weights.hub import transforms_for

__all__ = [
    "EFFICIENTNET_B0",
    "BlockSpec",
    "NetSpec",
    "StageSpec",
    "StemSpec",
    "compound",
    "create_model",
    "get_spec",
    "list_models",
    "load",
    "optimize_for_inference",
    "round_filters",
    "round_repeats",
    "scale",
    "scale_to_flops",
    "transforms_for",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    # The fast path needs torch; importing it lazily keeps `import effnet` torch-free.
    if name == "optimize_for_inference":
        from .speed.inference import optimize_for_inference

        return optimize_for_inference
    raise AttributeError(f"module 'effnet' has no attribute {name!r}")
