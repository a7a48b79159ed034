"""Resumable training state, written atomically: a crash or ``kill -9`` never leaves a torn file.

``last.pt`` holds everything a run needs to continue as if it had never stopped: model, optimizer,
schedule, EMA, AMP scaler, where the sampler was (epoch, step within it), every rank's RNG state
and the class names, in label order (a resume over renamed or added class folders would otherwise
train every label as its neighbour, or fail on the head's size). :class:`TrainState` is that
set, held by the loop while it trains; :func:`save_state` and :func:`resume_state` move it to and
from disk. The file is written to a temporary file in the same folder and renamed over the old
one, which is atomic on POSIX, so a reader sees the previous complete state or the new one. The
shareable weights (``model.safetensors``, ``best.safetensors``) are the task's to write
(:meth:`effnet.train.task.Task.export`), atomically too.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import os
import pickle
import random
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..fileio import write_with
from . import distributed
from .config import TrainConfig
from .ema import ModelEma
from .schedule import PaperSchedule
from .sections import KEY_OF

FORMAT = "effnet-train/1"
#: Settings that change how a run is driven, not what it trains: a resume may change them.
#: ``output_dir`` is where the run is, not what it is: the same run may be resumed through another
#: spelling of its folder, or after the folder was moved.
#: ``fit_batch`` says whether the batch was fitted to the data; ``batch_size`` is recorded as it
#: trained, so the same batch given explicitly on resume is the same run.
RESUMABLE_CHANGES = frozenset(
    {"epochs", "max_steps", "device", "num_workers", "log_every", "save_every_steps",
     "eval_every", "compile", "select_on_minival", "output_dir", "fit_batch"}
)  # fmt: skip
#: What ``last.pt`` holds instead of the best weights when they are the evaluated weights it holds
#: already (the EMA's, or the model's without EMA): the latest evaluation was the best.
BEST_IS_CURRENT = "eval_model"
#: The run's export of its best weights, beside ``last.pt``; when it holds them exactly,
#: ``last.pt`` names it with their digest instead of holding a second copy.
BEST_FILE = "best.safetensors"
#: What a damaged file makes ``torch.load`` raise (zip, pickle and truncation errors).
_DAMAGED = (RuntimeError, EOFError, ValueError, OSError, KeyError, AttributeError, IndexError)


@dataclass
class Progress:
    """Counters that say where a run is; saved in every resumable checkpoint."""

    epoch: int = 0  # completed epochs
    step: int = 0  # optimizer updates so far (the schedule's clock)
    step_in_epoch: int = 0  # updates done in the current, unfinished epoch
    best_val_acc: float = -1.0
    best_epoch: float | None = None
    epoch_loss_sum: float = 0.0
    epoch_loss_count: int = 0
    skipped_total: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TrainState:
    """Everything that changes while a run trains, so everything ``last.pt`` must hold.

    ``model`` is the bare model (not its DDP or compiled wrapper), whose state dict is the same on
    every rank; ``best_model`` is the best-on-minival weights so far, kept on the CPU.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: PaperSchedule
    scaler: torch.amp.GradScaler
    ema: ModelEma | None
    progress: Progress = field(default_factory=Progress)
    best_model: dict[str, torch.Tensor] | None = None

    @property
    def eval_model(self) -> nn.Module:
        """The weights that are scored and shipped: the EMA's when there is one (as the paper)."""
        return self.ema.module if self.ema is not None else self.model

    def fingerprint(self) -> str:
        """The weights' (and the EMA's) SHA-256, which ranks compare to prove they agree."""
        mine = distributed.weights_fingerprint(self.model)
        if self.ema is not None:
            mine += "+ema:" + distributed.weights_fingerprint(self.ema.module)
        return mine


def rng_state() -> dict[str, Any]:
    """This process's random generators (torch CPU, CUDA, Python) as checkpointable values."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Put back what :func:`rng_state` took (``torch.load`` hands Python's state back as lists)."""
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_atomic(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, flushed to disk, then renamed."""
    path = Path(path)
    return write_with(path, lambda f: torch.save({"format": FORMAT, **state}, f), durable=True)


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``last.pt``; tensors only and plain containers, nothing arbitrary is unpickled."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"nothing to resume: {path} does not exist (start without --resume, or point "
            "output_dir at the run to continue)"
        )
    try:
        with warnings.catch_warnings():
            # torch notes the pickle protocol of a file it then refuses: the error below says it.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused the content, or it is no pickle at all
        raise ValueError(
            f"cannot resume from {path}: it is damaged or not an effnet training state (it is "
            "not a tensors-only file); start the run again with --overwrite"
        ) from None
    except _DAMAGED as err:
        reason = str(err).strip().splitlines()[0][:100] if str(err).strip() else "no data"
        raise ValueError(
            f"cannot resume from {path}: it is damaged or empty ({type(err).__name__}: {reason}); "
            "start the run again with --overwrite"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not an effnet training state ({FORMAT})")
    missing = [key for key in _STATE_KEYS if key not in state]
    if missing:
        raise ValueError(f"{path} is an incomplete training state (no {', '.join(missing)})")
    return state


_STATE_KEYS = (
    "config",
    "world_size",
    "model",
    "optimizer",
    "schedule",
    "scaler",
    "progress",
    "rng",
)


def save_state(
    path: Path, d: distributed.Dist, cfg: TrainConfig, state: TrainState, classes: Sequence[str]
) -> None:
    """Everything needed to continue exactly; rank 0 writes it, with every rank's RNG state and
    the run's class names in label order.

    Every rank must call this: the RNG states are gathered collectively.
    """
    rngs = distributed.gather_objects(d, rng_state())
    if not d.is_main:
        return
    save_atomic(
        {
            "config": cfg.to_dict(),
            "world_size": d.world_size,
            "model": state.model.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "schedule": state.schedule.state_dict(),
            "scaler": state.scaler.state_dict(),
            "ema": state.ema.state_dict() if state.ema is not None else None,
            "progress": asdict(state.progress),
            "best_model": best_for_saving(state, path.parent / BEST_FILE),
            "rng": rngs,
            "classes": list(classes),
        },
        path,
    )


def tensors_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of the names, dtypes, shapes and bytes (in name order, as files may reorder them):
    equal exactly when the tensors are."""
    digest = hashlib.sha256()
    for name, tensor in sorted(tensors.items()):
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy())
    return digest.hexdigest()


def same_tensors(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and torch.equal(a[k].cpu(), b[k].detach().cpu()) for k in a
    )


def best_for_saving(state: TrainState, best_file: Path) -> Any:
    """The best weights as ``last.pt`` stores them, without a redundant copy when possible.

    :data:`BEST_IS_CURRENT` when they are the evaluated weights saved beside them; the file's name
    and the weights' digest when ``best_file`` (the run's export) holds them bit for bit; else a
    copy. Either way a resume restores them exactly (:func:`restore_best`).
    """
    best = state.best_model
    if best is None:
        return None
    if same_tensors(best, state.eval_model.state_dict()):
        return BEST_IS_CURRENT
    if best_file.is_file():
        from safetensors.torch import load_file

        with contextlib.suppress(Exception):  # unreadable: keep the copy
            if same_tensors(load_file(best_file), best):
                return {"file": best_file.name, "sha256": tensors_digest(best)}
    return best


def restore_best(saved: Any, best_file: Path, state: TrainState, d: distributed.Dist) -> Any:
    """The best weights :func:`best_for_saving` stored, put back bit for bit.

    A ``best_file`` that no longer holds them (deleted, replaced, or written by an evaluation that
    ``last.pt`` had not caught up with when the run stopped) cannot give them back: the run then
    forgets its best so far, says so, and chooses again from the evaluations to come.
    """
    if isinstance(saved, str) and saved == BEST_IS_CURRENT:
        return {k: v.detach().cpu().clone() for k, v in state.eval_model.state_dict().items()}
    if not (isinstance(saved, dict) and isinstance(saved.get("sha256"), str)):
        return saved  # None, or a copy
    tensors = None
    if best_file.is_file():
        from safetensors.torch import load_file

        with contextlib.suppress(Exception):
            tensors = load_file(best_file)
    if tensors is not None and tensors_digest(tensors) == saved["sha256"]:
        return tensors
    if d.is_main:
        print(
            f"warning: {best_file} no longer holds the best weights so far (epoch "
            f"{state.progress.best_epoch}); the best-on-minival choice starts again from here",
            file=sys.stderr,
        )
    state.progress.best_val_acc, state.progress.best_epoch = -1.0, None
    return None


def saved_classes(saved: dict[str, Any] | None) -> list[str] | None:
    """The class names, in label order, of a state :func:`load_state` read (None: no state, or
    one saved before the names were kept)."""
    names = saved.get("classes") if saved is not None else None
    return list(names) if names is not None else None


def resume_state(
    path: Path,
    saved: dict[str, Any],
    cfg: TrainConfig,
    d: distributed.Dist,
    state: TrainState,
    classes: Sequence[str],
) -> None:
    """Load ``saved`` (``path``'s state, as :func:`load_state` read it) into ``state`` and this
    rank's RNGs, after checking that the classes and the recipe are the same."""
    check_classes(path, saved, classes)
    check_resumable(cfg, saved, d.world_size)
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.schedule.load_state_dict(saved["schedule"])
    state.scaler.load_state_dict(saved["scaler"])
    if state.ema is not None:
        state.ema.load_state_dict(saved["ema"])
    state.progress = Progress(**saved["progress"])
    state.best_model = restore_best(saved.get("best_model"), path.parent / BEST_FILE, state, d)
    set_rng_state(saved["rng"][d.rank])


def check_classes(path: Path, saved: dict[str, Any], classes: Sequence[str]) -> None:
    """The data's classes must be the run's, in the same label order; refuse, naming the change.

    A state saved before class names were kept is checked by its head's size alone.
    """
    before = saved.get("classes")
    if before is None:
        head = saved["model"].get("classifier.weight")
        if head is not None and head.shape[0] != len(classes):
            raise ValueError(
                f"cannot resume from {path}: it was trained on {head.shape[0]} classes and the "
                f"data has {len(classes)}; start a new run (--overwrite or another output_dir)"
            )
        return
    if list(before) == list(classes):
        return
    raise ValueError(
        f"cannot resume from {path}: the data's classes changed since the run started "
        f"({class_change(list(before), list(classes))}); resuming would train every label under "
        "another name: restore the class folders, or start a new run (--overwrite or another "
        "output_dir)"
    )


def class_change(before: list[str], now: list[str]) -> str:
    """How ``now`` differs from ``before``: renamed, added, removed or reordered classes."""
    added = [name for name in now if name not in before]
    removed = [name for name in before if name not in now]

    def names(items: list[str]) -> str:
        return ", ".join(repr(n) for n in items[:5]) + (
            f" and {len(items) - 5} more" if len(items) > 5 else ""
        )

    if len(added) == len(removed) == 1:
        return f"class {removed[0]!r} was renamed to {added[0]!r}"
    parts = [f"removed {names(removed)}"] if removed else []
    if added:
        parts.append(f"added {names(added)}")
    return "; ".join(parts) or f"the same classes in another order ({names(now)})"


def check_resumable(cfg: TrainConfig, saved: dict[str, Any], world_size: int) -> None:
    """Resuming under a different recipe would silently train something else; refuse instead.

    The world size is part of the recipe: it decides which images each rank sees in which order.
    """
    before = saved["config"]
    changed = [
        k for k, v in cfg.to_dict().items() if k not in RESUMABLE_CHANGES and before.get(k) != v
    ]
    if changed:
        diffs = ", ".join(f"{k}: {before.get(k)!r} -> {getattr(cfg, k)!r}" for k in changed[:4])
        started = {k: "none" if before.get(k) is None else before.get(k) for k in changed}
        again = " ".join(f"{KEY_OF.get(k, k)}={v}" for k, v in started.items())
        raise ValueError(
            f"cannot resume with a different config ({diffs}); the run was started with "
            f"{again}: resume with the same config and --override {again}"
        )
    if saved["world_size"] != world_size:
        raise ValueError(
            f"the run was saved with {saved['world_size']} processes; resume it with the same "
            f"number (got {world_size})"
        )


def copy_with_state(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """A second model like ``model`` holding ``state``, leaving ``model`` itself untouched."""
    other = copy.deepcopy(model)
    other.load_state_dict(state)
    return other
