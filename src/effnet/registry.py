"""Model names -> specs -> torch modules: the one entry point users call."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

from .baselines import BASELINES
from .spec import NetSpec
from .variants import VARIANTS, variant_spec


class UnknownModelError(ValueError):
    """Raised for a model name that is not registered; the message lists the known names."""


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern`` (e.g. ``"efficientnet_b*"``)."""
    return sorted(fnmatch.filter([*VARIANTS, *BASELINES], pattern))


def get_spec(name: str | NetSpec | Path) -> NetSpec:
    """The spec for a registered name, a spec JSON file written by ``effnet scale``, or a spec."""
    if isinstance(name, NetSpec):
        return name
    if str(name).endswith(".json"):
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"spec file {path} does not exist")
        return NetSpec.from_json(path.read_text())
    if name in VARIANTS:
        return variant_spec(name)
    if name in BASELINES:
        return BASELINES[name]
    close = [n for n in list_models() if n.split("_")[-1] == str(name).split("_")[-1]]
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownModelError(
        f"unknown model {name!r}.{hint} Known models: {', '.join(list_models())}"
    )


def create_model(
    name: str | NetSpec | Path,
    pretrained: bool | str = False,
    num_classes: int = 1000,
    **overrides: Any,
):
    """Build a model by name.

    ``overrides`` go to :class:`~effnet.models.EfficientNet` (``padding``, ``dropout``,
    ``drop_path_rate``, ``features_only``, ``in_chans``). ``pretrained`` names a weight set of
    :mod:`effnet.weights.pretrained` (a tag like ``"tv_in1k"`` or a full name; ``True`` picks the
    model's default), downloaded into the verified cache; a ``num_classes`` other than the
    weights' own gets a fresh classifier for fine-tuning.
    """
    from .models import EfficientNet  # torch is imported only when a model is actually built

    spec = get_spec(name)
    if pretrained:
        from .weights.hub import load_pretrained
        from .weights.pretrained import get_weights

        weights = get_weights(spec.name, pretrained)
        if weights.model != spec.name:
            raise ValueError(f"{weights.name} holds weights for {weights.model}, not {spec.name}")
        return load_pretrained(weights, num_classes=num_classes, **overrides)
    return EfficientNet(spec, num_classes=num_classes, **overrides)
