"""Fine-tuning with defaults taken from the data and the weights: ``effnet.finetune`` and
``effnet finetune`` both build their run here, so a fine-tune started from Python and one started
from the command line are the same run.

What is derived rather than fixed: the resolution (the one the starting weights were trained at,
not the architecture's nominal one), the minival (10% of the training images, at most the paper's
25,000, instead of ImageNet's 25,000 that a small folder does not have), the loader processes (one
per usable core, at most 8), the output folder (``runs/finetune_<data folder>``), the batch (the
recipe's 64 is a default that :mod:`.fit` lowers for a small folder; a batch the caller gives is
kept) and what the engine starts from: a pretrained weight name as it is (the engine loads and
hash-checks it), an effnet checkpoint by its path, and only a plain state dict written out once as
an effnet checkpoint in the run folder. The recipe itself is
:func:`effnet.train.recipes.finetune_config`, the one the Table 5 configs use: SGD at 0.01 for
batch 64, one head-only epoch, a 10x slower backbone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import TrainConfig, apply_overrides, load_config
from .recipes import finetune_config

if TYPE_CHECKING:
    from ..models import EfficientNet
    from .result import TrainResult


def default_workers() -> int:
    """Data-loading processes: one per core this process may run on, at most 8; none on one core.

    A loader process per core is what keeps the model fed without the processes fighting over
    cores (8 workers on a 2-core machine spend their time being scheduled, not decoding).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return min(8, cores) if cores > 1 else 0


#: What :func:`prepare` passes to ``finetune_config`` when no config file is given (the CLI shows
#: the same). The minival, resolution and output folder are filled in once the data and weights
#: are known.
FINETUNE_DEFAULTS: dict[str, Any] = dict(
    dataset="imagefolder",
    image_size=None,  # the resolution the starting weights were trained at
    autoaugment=None,  # a short schedule gains little from it and runs slower
    zero_init_head=True,  # the new head starts neutral and does not disturb the backbone
    num_workers=default_workers(),
)


def default_minival(data_dir: str | os.PathLike) -> int:
    """10% of an image folder's training images (at most the paper's 25,000)."""
    from ..data.images import images_under

    root = Path(data_dir)
    train_root = root / "train" if (root / "train").is_dir() else root
    count = len(images_under(train_root))  # the walk training reads, links and all
    return min(count // 10, 25_000)


def default_output_dir(data_dir: str | os.PathLike) -> str:
    return f"runs/finetune_{Path(data_dir).expanduser().resolve().name}"


def starting_weights(
    weights: str | os.PathLike, model: str | None, output_dir: Path
) -> tuple[str, EfficientNet]:
    """What the engine starts from (``init_checkpoint``), and the loaded weights (to read their
    resolution).

    A pretrained weight name stays a name: the engine loads it from the sha256-checked download
    cache or package, so a copy in the run folder would be 19 MB (Lite0) saying nothing new. An
    effnet checkpoint stays its path. Only a plain state dict, which does not say what it is, is
    written out once as an effnet checkpoint (``init.safetensors``) in the run folder.
    """
    from ..weights.checkpoint import read_metadata, save_model
    from ..weights.factory import load
    from ..weights.pretrained import get_weights

    loaded = load(weights, model, device="cpu")
    path = Path(weights)
    if not path.is_file():  # load() accepted it, so it is a registered name (or a tag)
        return get_weights(loaded.spec.name, str(weights)).name, loaded
    try:
        read_metadata(path)
        return str(path), loaded
    except ValueError:
        pass
    init = output_dir / "init.safetensors"
    save_model(init, loaded)
    return str(init), loaded


def _base_config(
    config: str | os.PathLike | TrainConfig | None, epochs: int | None, overrides: Sequence[str]
) -> TrainConfig:
    if isinstance(config, TrainConfig):
        return apply_overrides(config, list(overrides))
    if config is not None:
        return load_config(config, list(overrides))
    # epochs goes in here, not afterwards: the recipe spaces its five lr decays over the run.
    base = finetune_config(**{**FINETUNE_DEFAULTS, **({"epochs": epochs} if epochs else {})})
    return apply_overrides(base, list(overrides))


def prepare(
    data: str | os.PathLike | None,
    weights: str | os.PathLike,
    *,
    model: str | None = None,
    epochs: int | None = None,
    config: str | os.PathLike | TrainConfig | None = None,
    overrides: Sequence[str] = (),
    **changes: Any,
) -> tuple[TrainConfig, EfficientNet]:
    """The fine-tuning config (and the loaded starting weights) for ``data`` from ``weights``.

    ``data``: an ImageFolder tree (``DATA/train/<class>/<image>`` with ``DATA/val`` or
    ``DATA/test``, or ``DATA/<class>/<image>``), or a torchvision set's download folder with a
    ``config`` for it. ``config`` (a file, a config name or a :class:`TrainConfig`) replaces the
    built-in recipe; ``overrides`` are ``key=value`` strings and ``changes`` config fields, as
    ``--override`` and the command's flags. A field given explicitly is never re-derived.
    """
    cfg = _base_config(config, epochs, overrides)
    if data is not None:
        folder = Path(data).expanduser()
        if cfg.dataset == "imagefolder" and not folder.is_dir():
            raise FileNotFoundError(f"data folder {folder} does not exist")
        cfg = cfg.replace(data_dir=str(folder))
    if not cfg.data_dir:
        raise ValueError("give DATA (an image folder) or a config that sets data_dir")
    given = set(changes) | {item.partition("=")[0].strip() for item in overrides}
    if epochs is not None:
        changes["epochs"] = epochs
    if config is None and "output_dir" not in given:
        changes["output_dir"] = default_output_dir(cfg.data_dir)
    if config is None and not given & {"batch_size", "fit_batch"}:
        changes["fit_batch"] = True  # the recipe's 64, fitted to the folder by the engine
    cfg = cfg.replace(**changes)
    init, start = starting_weights(weights, model, Path(cfg.output_dir))
    if cfg.image_size is None:
        # The resolution the weights were trained at, not the architecture's nominal one.
        assert start.preprocess is not None  # effnet.load fills it
        cfg = cfg.replace(image_size=start.preprocess.resolution)
    if config is None and "minival_size" not in given:
        minival = default_minival(cfg.data_dir) if cfg.dataset == "imagefolder" else 0
        cfg = cfg.replace(minival_size=minival)
    return cfg.replace(init_checkpoint=init), start


def finetune(
    data: str | os.PathLike | None,
    weights: str | os.PathLike,
    *,
    model: str | None = None,
    epochs: int | None = None,
    config: str | os.PathLike | TrainConfig | None = None,
    overrides: Sequence[str] = (),
    resume: bool = False,
    overwrite: bool = False,
    **changes: Any,
) -> TrainResult:
    """Fine-tune ``weights`` on ``data`` and return the run's :class:`~effnet.train.TrainResult`.

    ``effnet.finetune("data/pets", weights="efficientnet_b0.tf_aa_in1k", epochs=5)`` is
    ``effnet finetune data/pets --weights efficientnet_b0.tf_aa_in1k --epochs 5``: the same recipe
    and the same derived defaults (see :func:`prepare`). Any config field may be passed as a
    keyword (``batch_size=32``, ``device="cpu"``, ``output_dir="runs/pets"``). The best-on-minival
    weights land in ``result.best_checkpoint``, with the class names and preprocessing in them.
    ``resume`` continues the run in the output folder; ``overwrite`` replaces a finished one there.
    """
    from .api import train

    cfg, _ = prepare(
        data, weights, model=model, epochs=epochs, config=config, overrides=overrides, **changes
    )
    return train(cfg, resume=resume, overwrite=overwrite)
