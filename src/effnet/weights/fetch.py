"""Fetch weight files into a local cache, verified by sha256, never half-written.

The cache lives in ``$EFFNET_HOME/weights`` (default ``~/.cache/effnet/weights``). A download is
streamed into a temporary file in the same directory, hashed on the way, and renamed into place
only when the hash matches, so an interrupted, truncated or tampered transfer never lands in the
cache under the real name. Dropped connections and server errors are retried with exponential
backoff; a wrong checksum or a 4xx answer is not (trying again would fetch the same wrong bytes).

Offline mode (``EFFNET_OFFLINE=1`` or ``offline=True``) uses the cache only and says what to do
when the file is not there.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ENV_HOME = "EFFNET_HOME"
ENV_OFFLINE = "EFFNET_OFFLINE"
_TRUE = {"1", "true", "yes", "on"}
_CHUNK = 1 << 20


class ChecksumError(ValueError):
    """The bytes do not hash to the published sha256; nothing was written to the cache."""


class OfflineError(FileNotFoundError):
    """Offline mode was asked for and the file is not in the cache."""


class DownloadError(OSError):
    """The file could not be fetched (after retries, or an error that retrying cannot fix)."""


class _Incomplete(OSError):
    """The server closed the connection before sending everything it announced."""


def home() -> Path:
    """effnet's cache root: ``$EFFNET_HOME`` or ``~/.cache/effnet``."""
    return Path(os.environ.get(ENV_HOME) or Path.home() / ".cache" / "effnet").expanduser()


def weights_dir() -> Path:
    return home() / "weights"


def is_offline(offline: bool | None = None) -> bool:
    """An explicit argument wins; otherwise ``EFFNET_OFFLINE`` decides."""
    if offline is not None:
        return offline
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in _TRUE


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(expected: str) -> str:
    """Normalise a published checksum: 64 hex digits, or a prefix of at least 8 (torch.hub)."""
    expected = expected.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{8,64}", expected):
        raise ValueError(f"{expected!r} is not a sha256 digest or an 8+ digit hex prefix of one")
    return expected


def matches(digest: str, expected: str) -> bool:
    return digest.startswith(check_sha256(expected))


def download(
    url: str,
    sha256: str,
    file_name: str | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """The cached, verified copy of ``url``, downloading it first if needed.

    ``sha256`` is the full digest or the published prefix of it. ``retries`` extra attempts are
    made after a dropped connection, a timeout or a 5xx answer, waiting ``backoff * 2**attempt``
    seconds in between.
    """
    expected = check_sha256(sha256)
    directory = Path(cache_dir) if cache_dir is not None else weights_dir()
    name = file_name or url.rsplit("/", 1)[-1]
    target = directory / name
    if _cached(target, expected, url, is_offline(offline)):
        return target
    directory.mkdir(parents=True, exist_ok=True)
    attempts = retries + 1
    failure: BaseException | None = None
    for attempt in range(attempts):
        try:
            tmp, digest = _fetch(url, directory, name, timeout, progress)
        except urllib.error.HTTPError as err:
            if err.code < 500 and err.code != 429:
                message = f"cannot download {url}: HTTP {err.code} {err.reason}"
                raise DownloadError(message) from None
            failure = err
        except (OSError, http.client.HTTPException) as err:  # URLError, resets, timeouts, short
            failure = err
        else:
            if not matches(digest, expected):
                tmp.unlink()
                raise ChecksumError(
                    f"{url} has sha256 {digest}, expected {expected}: the download is corrupt or "
                    "not the published file; nothing was cached"
                )
            os.replace(tmp, target)
            return target
        if attempt + 1 < attempts:
            time.sleep(backoff * 2**attempt)
    raise DownloadError(f"cannot download {url} after {attempts} attempts: {failure}")


def _cached(target: Path, expected: str, url: str, offline: bool) -> bool:
    """Whether a verified copy is cached; a damaged one is removed (or, offline, reported)."""
    if target.is_file():
        digest = sha256_file(target)
        if matches(digest, expected):
            return True
        if offline:
            raise ChecksumError(
                f"cached {target} has sha256 {digest}, expected {expected}; delete it and "
                f"download again with {ENV_OFFLINE} unset"
            )
        target.unlink()  # a stale or damaged copy: fetch a fresh one
    elif offline:
        raise OfflineError(
            f"{target.name} is not in the cache ({target.parent}) and offline mode is on "
            f"({ENV_OFFLINE}=1 or offline=True); unset it to download from {url}, or copy the "
            f"file to {target}"
        )
    return False


def _fetch(
    url: str, directory: Path, name: str, timeout: float, progress: bool
) -> tuple[Path, str]:
    """Stream ``url`` into a temporary file next to the target; returns (path, sha256)."""
    from tqdm.auto import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": "effnet"})
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(request, timeout=timeout) as response,
        ):
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
            received = 0
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=name,
                disable=not progress,
                leave=False,
            ) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if total is not None and received != total:
                raise _Incomplete(f"connection closed after {received} of {total} bytes")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, digest.hexdigest()
