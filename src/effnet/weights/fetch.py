"""Fetch weight files into a local cache, verified by sha256, never half-written.

The cache lives in ``$EFFNET_HOME/weights`` (default ``~/.cache/effnet/weights``). A download is
streamed into a temporary file in the same directory, hashed on the way, and renamed into place
only when the hash matches, so an interrupted, truncated or tampered transfer never lands in the
cache under the real name. Dropped connections, timeouts and server errors are retried with
exponential backoff; a wrong checksum or a 4xx answer is not (trying again would fetch the same
wrong bytes), and neither is a machine without a network (a name that does not resolve, a
connection refused, a network unreachable): that fails at once with :class:`NoNetworkError`,
saying where the file would be cached and how to put it there.

Offline mode (``EFFNET_OFFLINE=1`` or ``offline=True``) uses the cache only and says what to do
when the file is not there.

The cache is defended against careless and hostile input alike: a file name is one plain name
inside the cache (never ``../x`` or an absolute path); a body larger than ``max_bytes`` (the
registry's cap for the file) is refused as soon as it is announced or reached, not read in full;
one process at a time fetches a given file (a lock per file, so a second process waits and then
finds it cached), and ``.part`` files that a killed download left are removed by the next one.
A full 64-digit sha256 is compared in full; a shorter one is a prefix (torch.hub's convention),
which is all some publishers give.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import http.client
import os
import re
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ..data.catalog import ENV_HOME, home
from ..fileio import locked, write_error

ENV_OFFLINE = "EFFNET_OFFLINE"
_TRUE = {"1", "true", "yes", "on"}
_CHUNK = 1 << 20
#: Errors of this machine's disk while a download is written: reported, never retried.
_LOCAL_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES}
#: Connection errors that mean "no route to the server from here": retrying cannot help.
_NO_NETWORK_ERRORS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN}


class ChecksumError(ValueError):
    """The bytes do not hash to the published sha256; nothing was written to the cache."""


class OfflineError(FileNotFoundError):
    """Offline mode was asked for and the file is not in the cache."""


class DownloadError(OSError):
    """The file could not be fetched (after retries, or an error that retrying cannot fix)."""


class NoNetworkError(DownloadError):
    """The server cannot be reached from this machine at all (no DNS, refused, unreachable)."""


class TooLargeError(DownloadError):
    """The server sent (or announced) more bytes than the file can have; nothing was cached."""


class _Incomplete(OSError):
    """The server closed the connection before sending everything it announced."""


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


def cache_name(name: str) -> str:
    """``name`` if it is one plain file name that stays inside the cache; ValueError otherwise."""
    if (
        not name
        or name in (".", "..")
        or name.startswith(".")  # hidden names are the cache's own (.part, .lock)
        or any(sep in name for sep in ("/", "\\", "\0"))
        or os.path.isabs(name)
        or len(name.encode()) > 255
    ):
        raise ValueError(
            f"file name {name!r} is not a plain file name inside the cache (no folders, no '..', "
            "no leading '.')"
        )
    return name


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
    max_bytes: int | None = None,
) -> Path:
    """The cached, verified copy of ``url``, downloading it first if needed.

    ``sha256`` is the full digest or the published prefix of it. ``retries`` extra attempts are
    made after a dropped connection, a timeout or a 5xx answer, waiting ``backoff * 2**attempt``
    seconds in between. ``max_bytes`` caps the body (:class:`TooLargeError` beyond it). A server
    that cannot be reached at all fails at once (:class:`NoNetworkError`).
    """
    expected = check_sha256(sha256)
    directory = Path(cache_dir) if cache_dir is not None else weights_dir()
    name = cache_name(file_name or url.rsplit("/", 1)[-1])
    target = directory / name
    offline = is_offline(offline)
    if target.is_file() and matches(sha256_file(target), expected):
        return target  # the common case: no lock needed to read a verified file
    if offline and _cached(target, expected, url, offline=True):  # else it raises, saying why
        return target
    directory.mkdir(parents=True, exist_ok=True)

    def note_wait() -> None:
        if progress:
            print(f"waiting for another process downloading {name}", file=sys.stderr)

    with locked(directory / f".{name}.lock", on_wait=note_wait):
        for stale in directory.glob(glob.escape(f".{name}.") + "*.part"):
            stale.unlink(missing_ok=True)  # left by a killed download: we hold the lock
        if _cached(target, expected, url, offline=False):
            return target  # the process we waited for fetched it
        return _download(url, expected, target, retries, backoff, timeout, progress, max_bytes)


def _download(
    url: str,
    expected: str,
    target: Path,
    retries: int,
    backoff: float,
    timeout: float,
    progress: bool,
    max_bytes: int | None,
) -> Path:
    """Fetch ``url`` into ``target`` (with the file's lock held), retrying what may pass."""
    directory, name = target.parent, target.name
    attempts = retries + 1
    failure: BaseException | None = None
    for attempt in range(attempts):
        try:
            tmp, digest = _fetch(url, directory, name, timeout, progress, max_bytes)
        except urllib.error.HTTPError as err:
            if err.code < 500 and err.code != 429:
                message = f"cannot download {url}: HTTP {err.code} {err.reason}"
                raise DownloadError(message + _by_hand(url, target)) from None
            failure = err
        except TooLargeError:
            raise  # the same server would send the same bytes again
        except (OSError, http.client.HTTPException) as err:  # URLError, resets, timeouts, short
            _raise_unless_transient(err, url, target)
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
    message = f"cannot download {url} after {attempts} attempts: {failure}"
    raise DownloadError(message + _by_hand(url, target))


def _by_hand(url: str, target: Path) -> str:
    """How to put the file in place without this process reaching the network."""
    return (
        f"; to install it by hand, fetch {url} on a machine that can reach it and copy it to "
        f"{target} (the cache is ${ENV_HOME}/weights; its sha256 is checked on first use)"
    )


def _raise_unless_transient(err: BaseException, url: str, target: Path) -> None:
    """Raise at once what retrying cannot fix: this machine's disk, or no network at all."""
    if isinstance(err, OSError) and err.errno in _LOCAL_ERRORS:
        raise write_error(err, target, target.exists()) from None  # not the network
    if _no_network(err):
        raise _not_reachable(url, target, err) from None


def _no_network(err: BaseException) -> bool:
    """Whether ``err`` means the server cannot be reached from here, as opposed to a transient
    fault of a transfer that did start (a reset, a timeout, a short body)."""
    reason = getattr(err, "reason", err)  # urlopen wraps the socket's error in a URLError
    if isinstance(reason, socket.gaierror):
        return True  # the host name does not resolve: no DNS here, or no such host
    return isinstance(reason, OSError) and reason.errno in _NO_NETWORK_ERRORS


def _not_reachable(url: str, target: Path, err: BaseException) -> NoNetworkError:
    host = urllib.parse.urlsplit(url).netloc or url
    reason = getattr(err, "reason", err)
    return NoNetworkError(
        f"{target.name} is not cached ({target.parent}) and {host} cannot be reached from this "
        f"machine ({reason}); download {url} on a connected machine and copy it to {target}, or "
        f"set ${ENV_HOME} to a folder whose weights/ holds it (or convert the file with 'effnet "
        "convert' and pass that .safetensors as pretrained=)"
    )


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
    url: str, directory: Path, name: str, timeout: float, progress: bool, max_bytes: int | None
) -> tuple[Path, str]:
    """Stream ``url`` into a temporary file next to the target; returns (path, sha256)."""
    from ..progress import bar as progress_bar

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
            total = int(length) if length and length.isdigit() else None
            if total is not None and max_bytes is not None and total > max_bytes:
                raise _too_large(url, f"announces {total} bytes", max_bytes)
            received = 0
            with progress_bar(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=name,
                disable=not progress,
                leave=False,
            ) as bar:
                while chunk := response.read(_CHUNK):
                    received += len(chunk)
                    if max_bytes is not None and received > max_bytes:
                        raise _too_large(url, f"sent more than {max_bytes} bytes", max_bytes)
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            if total is not None and received != total:
                raise _Incomplete(f"connection closed after {received} of {total} bytes")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, digest.hexdigest()


def _too_large(url: str, what: str, max_bytes: int) -> TooLargeError:
    return TooLargeError(
        f"{url} {what}, more than the {max_bytes} bytes this file can have; refused, nothing was "
        "cached (the server is not serving the published file)"
    )
