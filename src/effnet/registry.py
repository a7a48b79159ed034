"""Model names -> specs: which networks effnet knows, as plain data (no torch).

Building a module from a name is :func:`effnet.create_model` (``effnet.weights.factory``), one
layer up, because a pretrained model needs the weights layer.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from .baselines import BASELINES
from .flops import check_size
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
        try:
            spec = NetSpec.from_json(path.read_text())
            check_size(spec)  # a file's network is bounded before anything is built from it
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as err:
            reason = {
                KeyError: f"missing field {err}",
                RecursionError: "JSON nested too deeply",
            }.get(type(err), str(err))
            raise ValueError(f"spec file {path} is not a valid spec: {reason}") from None
        return spec
    if name in VARIANTS:
        return variant_spec(name)
    if name in BASELINES:
        return BASELINES[name]
    close = [n for n in list_models() if n.split("_")[-1] == str(name).split("_")[-1]]
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownModelError(
        f"unknown model {name!r}.{hint} Known models: {', '.join(list_models())}"
    )
