"""Names a package exports without importing them until they are read (PEP 562).

``import effnet.weights`` (which every config and CLI start-up reaches) must not load torch, yet
``from effnet.weights import create_model`` should work. A package lists its public names and the
submodule defining each; :func:`lazy_exports` gives it the module ``__getattr__`` and ``__dir__``
that import a submodule the first time one of its names is read. One implementation for every
package that does this.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``; ``exports`` maps a public name to the module,
    relative to the package, that defines it."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f".{module}", package), name)

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__
