"""A run folder belongs to one run: a lock while it trains, and no fresh start over a finished run.

Two trainings writing one ``output_dir`` would interleave their logs and leave one run's weights
under the other's summary; a fresh start in a folder that holds a run would wipe its log without a
word. :func:`claim` prevents both. The lock is a file, ``.effnet.lock``, holding the holder's host
and pid, kept locked with ``flock`` while the run lives, so a killed run's lock is stale the moment
the process is gone (and is then reported and taken over). A fresh run refuses a folder that holds
another run's files unless told ``overwrite``; ``resume`` continues the run that is there, whatever
the folder is called now (the lock and ``last.pt`` are found through the folder, not its spelling).
A run whose ``--override`` changes its recipe gets a folder of its own (:func:`derived_output_dir`),
so it never resumes or refuses the config's own run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..fileio import HOST, open_locked, owner_gone, same_file
from .sections import FIELD_OF

LOCK_NAME = ".effnet.lock"
#: The files a run writes (``--overwrite`` deletes them).
RUN_FILES = (
    "last.pt",
    "log.jsonl",
    "config.json",
    "summary.json",
    "model.safetensors",
    "best.safetensors",
    "curves.png",
)
#: A folder holding any of these holds a run worth keeping: its state or its weights. A log alone
#: is what a run killed before its first checkpoint leaves; a fresh start may replace it.
KEEP_FILES = ("last.pt", "summary.json", "model.safetensors", "best.safetensors")


class RunFolderBusyError(ValueError):
    """Another live process is training into the folder."""


class RunFolderTakenError(ValueError):
    """A fresh run was asked for in a folder that already holds a run."""


class RunLock:
    """The held lock of one run folder; :meth:`release` gives it up and removes the file."""

    def __init__(self, folder: Path, fd: int, stale: dict | None):
        self.folder, self.fd, self.stale = folder, fd, stale
        self.path = folder / LOCK_NAME

    def release(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # while still locked: nobody can take a file that is going away
        os.close(self.fd)
        self.fd = -1


def _holder(fd: int) -> dict:
    """What the lock file says about its holder (``{}`` if empty or unreadable)."""
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 4096).decode("utf-8", "replace")
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe(holder: dict) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} (since {since})"


def _try_flock(fd: int, holder: dict) -> bool:
    """Lock ``fd``; False when a live process holds it. Without flock, the pid decides."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as err:  # a file system without flock: trust the holder's pid
        if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
            raise
        tag = f"{holder.get('host', '')}-{holder.get('pid', '')}"
        return not holder or owner_gone(tag)


def acquire(folder: Path) -> RunLock:
    """Take ``folder``'s lock, or raise :class:`RunFolderBusyError` naming the holder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    holder: dict = {}

    def take(fd: int) -> bool:
        nonlocal holder
        holder = _holder(fd)
        return _try_flock(fd, holder)

    fd = open_locked(path, take)
    if fd is None:
        raise RunFolderBusyError(
            f"output_dir {folder} is in use by another training run ({_describe(holder)}); "
            f"wait for it to finish or choose another output_dir (lock: {path})"
        )
    os.ftruncate(fd, 0)
    mine = {"pid": os.getpid(), "host": HOST, "started": time.time(), "argv": sys.argv[:8]}
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(mine).encode())
    return RunLock(folder, fd, holder or None)


def existing_run_files(folder: Path) -> list[str]:
    return [name for name in RUN_FILES if (folder / name).exists()]


def check_fresh(folder: Path, resume: bool, overwrite: bool) -> None:
    """Refuse a fresh run in a folder that holds a run, unless ``overwrite`` says to replace it."""
    if resume or overwrite:
        return
    found = [name for name in KEEP_FILES if (folder / name).exists()]
    if found:
        raise RunFolderTakenError(
            f"output_dir {folder} already holds a run ({', '.join(found)}); pass --resume to "
            "continue it, --overwrite to replace it, or choose another output_dir"
        )


def check_inputs(folder: Path, inputs: tuple[str | os.PathLike | None, ...]) -> None:
    """Refuse a run whose own files would replace one of its inputs (a fine-tune's start)."""
    for source in inputs:
        if source is None or not Path(source).is_file():
            continue
        for name in RUN_FILES:
            if same_file(folder / name, source):
                raise ValueError(
                    f"the starting weights {source} are the run file {name} of output_dir "
                    f"{folder}, which this run would replace; copy them elsewhere or choose "
                    "another output_dir"
                )


@contextlib.contextmanager
def claim(
    folder: str | os.PathLike,
    resume: bool = False,
    overwrite: bool = False,
    enabled: bool = True,
    inputs: tuple[str | os.PathLike | None, ...] = (),
) -> Iterator[RunLock | None]:
    """Hold ``folder`` for one run: locked, and checked (or cleared, with ``overwrite``).

    ``inputs`` (the starting weights) must not be files the run writes. ``enabled=False``
    (torchrun ranks other than 0) does nothing. A folder this call created and left empty (the run
    failed before writing anything) is removed again.
    """
    if not enabled:
        yield None
        return
    folder = Path(folder)
    check_inputs(folder, inputs)
    created = not folder.exists()
    lock = acquire(folder)
    try:
        if lock.stale:
            print(
                f"note: taking over the stale lock of {folder} left by {_describe(lock.stale)}, "
                "which no longer runs",
                file=sys.stderr,
            )
        check_fresh(folder, resume, overwrite)
        if overwrite and not resume:
            for name in existing_run_files(folder):
                (folder / name).unlink()
            shutil.rmtree(folder / "tensorboard", ignore_errors=True)  # the old run's curves
        yield lock
    finally:
        lock.release()
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty


#: Fields that say where or how a run goes, not what it trains, in every task's config: an override
#: of these keeps the config's run folder; any other override derives a folder of its own.
PLACEMENT_FIELDS = frozenset(
    {"output_dir", "data_dir", "device", "num_workers", "log_every", "save_every_steps",
     "eval_every", "compile"}
)  # fmt: skip


def derived_output_dir(output_dir: str, overrides: list[str]) -> str | None:
    """``runs/b0_digits-epochs5-image_size32`` for ``schedule.epochs=5 data.image_size=32`` (or
    the bare ``epochs=5 image_size=32``, which name the same fields): a changed recipe
    gets its own folder instead of landing on the config's run; None when nothing changes it (only
    :data:`PLACEMENT_FIELDS` overridden) or when ``output_dir=`` itself is overridden."""
    parts = []
    for item in overrides:
        key, _, value = (part.strip() for part in item.partition("="))
        field = FIELD_OF.get(key, key)  # runtime.device and device: one field, one folder name
        if field == "output_dir":
            return None
        if field not in PLACEMENT_FIELDS:
            parts.append(re.sub(r"[^A-Za-z0-9._]+", "_", field + Path(value).name))
    return f"{output_dir}-{'-'.join(parts)}"[:200] if parts else None


def with_derived_output_dir(cfg: Any, overrides: list[str]) -> Any:
    """``cfg`` writing to :func:`derived_output_dir`'s folder when the overrides change its recipe
    (a classification or a detection config alike: both have ``output_dir`` and ``replace``)."""
    derived = derived_output_dir(cfg.output_dir, overrides)
    return cfg if derived is None else cfg.replace(output_dir=derived)
