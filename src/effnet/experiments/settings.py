"""An experiment's settings from its config file, with command-line flags on top.

One config file describes a whole experiment: ``get_config()`` gives the training config every
network shares, and a second getter (``get_search()``, ``get_study()``) gives the experiment's
typed settings. The file is executed once (:func:`effnet.train.config.load_config_module`), and
a flag given on the command line replaces the one field it names, as the file's value would be
replaced by it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from ..registry import get_spec
from ..spec import NetSpec
from ..train.config import TrainConfig, load_config_module


class _Settings(Protocol):
    """An experiment's settings: a dataclass whose every field has a default."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    def __init__(self) -> None: ...


Settings = TypeVar("Settings", bound=_Settings)


def load_experiment(
    config: str | Path, overrides: list[str] | None, getter: str, kind: type[Settings]
) -> tuple[TrainConfig, Settings]:
    """The training config (with ``overrides``) and ``getter()``'s settings, or ``kind()``'s
    defaults when the file has no such getter; the file is executed once for both."""
    module = load_config_module(config)
    cfg = module.train_config(overrides)
    settings = module.optional(getter, kind)
    return cfg, settings if settings is not None else kind()


def with_flags(settings: Settings, **flags: Any) -> Settings:
    """``settings`` with each flag that was given (not None) replacing its field."""
    given = {name: value for name, value in flags.items() if value is not None}
    return dataclasses.replace(settings, **given)


def base_for(cfg: TrainConfig, base: str | Path | None = None) -> NetSpec:
    """The network to scale: ``base`` (or the config's model) at the config's image size."""
    spec = get_spec(base if base is not None else cfg.model)
    return spec.replace(resolution=cfg.image_size) if cfg.image_size else spec
