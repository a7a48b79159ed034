"""Writing files so that a crash never leaves half of one behind, nor a command eat its input.

Checkpoints, training state, cached search results and logs are all written the same way: into
a temporary file beside the target (same file system, so the rename is atomic), then renamed over
it. A kill at any moment leaves either the old file or the new one, never a torn one. The
temporary file's name carries its writer's host and pid, so the next write of the same file
removes what a killed writer left behind. A write that fails (disk full, read-only folder) is one
:class:`OSError` naming the file it was for, with the previous file unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

#: This machine's name as it appears in temporary-file and lock names (no dots or separators).
HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"
#: A temporary file whose name does not say who wrote it is an orphan after this many seconds.
_UNOWNED_AGE_S = 24 * 3600
#: The process's umask (read once: os.umask can only be read by setting it): a replaced file gets
#: the permissions a plain ``open(path, "w")`` would give, not mkstemp's owner-only 0600.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (a zombie or another user's counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_tag() -> str:
    """``host-pid``: who holds a lock or writes a temporary file."""
    return f"{HOST}-{os.getpid()}"


def owner_gone(tag: str) -> bool:
    """Whether the ``host-pid`` writer of a lock or temporary file has certainly died.

    Only a process on this machine can be checked; another machine's is presumed alive.
    """
    host, _, pid = tag.rpartition("-")
    return host == HOST and pid.isdigit() and not pid_alive(int(pid))


def remove_orphans(path: str | os.PathLike, suffix: str = ".tmp") -> list[Path]:
    """Delete the temporary files that killed writers of ``path`` left beside it; returns them.

    A file is an orphan when its writer (named in it) no longer runs on this machine, or, for a
    name without a writer, when it is a day old. A live writer's file is never touched.
    """
    path = Path(path)
    prefix = f".{path.name}."
    removed = []
    for candidate in path.parent.glob(glob.escape(prefix) + "*" + suffix):
        tag = candidate.name[len(prefix) :].split(".", 1)[0]
        try:
            stale = owner_gone(tag) if "-" in tag else _older_than(candidate, _UNOWNED_AGE_S)
            if stale and candidate.is_dir() and not candidate.is_symlink():
                shutil.rmtree(candidate, ignore_errors=True)  # a killed staging folder
                removed.append(candidate)
            elif stale:
                candidate.unlink()
                removed.append(candidate)
        except FileNotFoundError:  # its writer finished or another cleaner got there first
            continue
    return removed


def _older_than(path: Path, seconds: float) -> bool:
    return time.time() - path.stat().st_mtime > seconds


#: errno values that mean "this file cannot be written here", reported as one line.
_WRITE_ERRORS = {
    errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO,
    errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.EEXIST,
}  # fmt: skip


def write_error(err: OSError, path: Path, existed: bool) -> OSError:
    """``err`` as one line naming ``path`` (and that its previous version is unchanged)."""
    if err.errno not in _WRITE_ERRORS:
        return err
    kept = f"; the previous {path.name} is unchanged" if existed else ""
    reason = err.strerror or str(err)
    if err.errno == errno.EEXIST:  # from mkdir: a file where a folder of the path should be
        reason = "a file stands where one of its folders should be"
    return OSError(err.errno, f"cannot write {path}: {reason}{kept}")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on failure it is removed.

    ``durable`` also flushes the file to disk before the rename (``fsync``), for state whose loss
    on a power cut would cost real work (the training state behind ``--resume``).
    """
    path = Path(path)
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{path.name}.{owner_tag()}."
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    except OSError as err:
        raise write_error(err, path, existed) from None
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        yield tmp
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise write_error(err, path, existed) from None
    finally:
        tmp.unlink(missing_ok=True)
    remove_orphans(path)


def open_locked(path: Path, lock: Callable[[int], bool]) -> int | None:
    """Open the lock file ``path`` and lock it with ``lock(fd)``: the locked fd, or None (closed)
    when ``lock`` declines.

    A holder removes its lock file on release, so the file just locked may be one that no longer
    bears the name; then the lock is worth nothing and the file that ``path`` names now is locked.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not lock(fd):
            os.close(fd)
            return None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextlib.contextmanager
def locked(path: str | os.PathLike, on_wait: Any = None) -> Iterator[int]:
    """Hold an exclusive lock on the file ``path`` (created, and removed on release).

    Another process asking for the same lock waits; ``on_wait()`` is called once before waiting.
    The lock is ``flock``'s, so it dies with its holder: a killed process never leaves a lock that
    blocks the next one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def wait_for_it(fd: int) -> bool:
        nonlocal on_wait
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
                on_wait = None
            fcntl.flock(fd, fcntl.LOCK_EX)
        return True

    fd = open_locked(path, wait_for_it)
    assert fd is not None  # wait_for_it never declines
    try:
        yield fd
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # while still locked, so the next holder opens a fresh file
        os.close(fd)


class KeepOSError:
    """A binary file that remembers the OS error a serializer rewraps (``torch.save`` turns a
    full disk into an opaque ``RuntimeError``); :func:`reraise_kept` raises the real one."""

    def __init__(self, f: BinaryIO):
        self.f = f
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self.f.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self) -> None:
        self.f.flush()


#: The signals a command unwinds on (Ctrl-C, and a polite kill).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then deliver them.

    A serializer running a Python write callback from C++ (``torch.save``) turns the
    KeyboardInterrupt raised inside it into an opaque ``RuntimeError``; deferred, the interrupt
    arrives whole once the (short) write is done, and the temporary file is removed as usual.
    Only the main thread can set handlers; elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    # A handler set outside Python (getsignal's None) could not be put back: left as it is.
    held = [s for s in STOP_SIGNALS if signal.getsignal(s) is not None]
    previous = {s: signal.signal(s, lambda signum, _: caught.append(signum)) for s in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


def write_with(path: str | os.PathLike, writer: Any, durable: bool = False) -> Path:
    """``writer(f)`` into a binary file that atomically becomes ``path``.

    For serializers that turn an OS error into an opaque one (``torch.save`` reports a full disk
    as "unexpected pos 640 vs 534"): the OS error is raised instead, naming ``path``.
    """
    path = Path(path)
    with atomic_write(path, durable) as tmp, open(tmp, "wb") as f:
        sink = KeepOSError(f)
        try:
            with signals_deferred():
                writer(sink)
        except OSError:
            raise
        except Exception:
            if sink.error is not None:
                raise sink.error from None
            raise
    return path


def existing_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path when it is a file to read; else the one error that says what is there.

    "does not exist" for a folder sends a user looking for a typo in a path that is right: a
    folder is named as a folder, and anything else that is not a regular file (a FIFO, a socket)
    as not a file.
    """
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder, not a file")
    if path.exists():
        raise OSError(f"{what} {path} is not a regular file")
    raise FileNotFoundError(f"{what} {path} does not exist")


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (through links, ``..`` and relative spellings)."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.expanduser().resolve() == b.expanduser().resolve()


def refuse_overwrite(
    out: str | os.PathLike, inputs: Iterable[str | os.PathLike | None], flag: str = "--out"
) -> None:
    """Raise if writing ``out`` (given as ``flag``) would replace one of a command's input files."""
    for source in inputs:
        if source is not None and Path(source).is_file() and same_file(out, source):
            raise ValueError(
                f"{flag} {out} is the input file {source}; writing it would destroy the input, so "
                "choose another output path"
            )


def claim_output(
    out: str | os.PathLike,
    inputs: Iterable[str | os.PathLike | None] = (),
    overwrite: bool = False,
    flag: str = "--out",
) -> Path:
    """Check, before any work, that a command may write the file ``out`` (its option ``flag``).

    Never onto one of the command's ``inputs``, even with ``overwrite`` (the input would be gone
    while still needed), never onto a folder, and onto any other existing file only when the user
    said ``--overwrite``: a command replaces only what it was told it may. Checking first means a
    refusal costs nothing, rather than an hour of work thrown away at the end.
    """
    path = Path(out)
    refuse_overwrite(path, inputs, flag)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"{flag} {path} is a folder; give a file to write")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise FileExistsError(
            errno.EEXIST,
            f"{flag} {path} already exists; pass --overwrite to replace it, or choose another path",
        )
    return path


def claim_folder(out: str | os.PathLike, flag: str = "--out") -> Path:
    """A command's output folder (its own files in it are its to rewrite): refused, before any
    work, when a file stands where the folder should be."""
    path = Path(out)
    if (path.exists() or path.is_symlink()) and not path.is_dir():
        raise NotADirectoryError(
            errno.ENOTDIR, f"{flag} {path} is a file, not a folder; choose another path"
        )
    return path


@contextlib.contextmanager
def staged(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a private folder beside ``path`` in which to write ``path``'s name and its companions
    (an IR's .bin, a program's .json), then check them there.

    When the block ends without an error, every file in the folder replaces its namesake beside
    ``path``, the companions first and ``path`` last; an error in the block (a failed check, a
    signal) removes the folder and leaves the previous files as they were. So a file that fails
    its own check never replaces a good one.
    """
    path = Path(path)
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(
            tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.{owner_tag()}.", suffix=".tmp")
        )
    except OSError as err:
        raise write_error(err, path, existed) from None
    try:
        yield folder
        files = sorted(f for f in folder.iterdir() if f.is_file() and f.name != path.name)
        for staged_file in [*files, folder / path.name]:
            if staged_file.exists():
                os.replace(staged_file, path.parent / staged_file.name)
    except OSError as err:
        if err.errno in _WRITE_ERRORS:  # told of the file the user named, not of its staged copy
            err = OSError(err.errno, os.strerror(err.errno))
        raise write_error(err, path, existed) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    remove_orphans(path)
