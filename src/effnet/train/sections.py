"""The config's vocabulary: every field under a section, one table for every task.

A run's settings fall into six sections -- ``data``, ``model``, ``optim``, ``schedule``,
``regularization`` and ``runtime`` -- and a key names a field by its section: ``optim.lr``,
``schedule.epochs``, ``data.shapes.train``. The table below is the one place that says where each
field lives; classification and detection share it (a detector's own fields are listed beside the
classifier's, each in the section it belongs to). It is data, not code: a config file writes its
settings section by section (:meth:`effnet.train.config.TrainConfig.from_sections`),
``--override optim.lr=0.01`` changes one, ``to_sections()`` reads them back.

The config objects keep one attribute per field (``cfg.lr``), which the training code reads; the
dotted keys are how people write them. A bare field name (``--override lr=0.01``) still works and
warns once, naming the key to use instead.

No torch here: config files import this.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

#: section -> {key within the section: field name}. Keys are the field's name unless a shorter
#: one reads better inside its section (``model.name``, ``optim.name``, ``data.dir``).
SECTIONS: dict[str, dict[str, str]] = {
    "data": {
        "dataset": "dataset", "dir": "data_dir", "image_size": "image_size",
        "minival_size": "minival_size", "limit_train_images": "limit_train_images",
        "eval_crop_pct": "eval_crop_pct", "interpolation": "interpolation",
        "shapes.image_size": "shapes_image_size", "shapes.train": "shapes_train",
        "shapes.val": "shapes_val", "shapes.test": "shapes_test",
        "shapes.max_shapes": "shapes_max_shapes", "shapes.min_size": "shapes_min_size",
        "shapes.max_size": "shapes_max_size",
    },
    "model": {
        "name": "model", "init_checkpoint": "init_checkpoint", "bn_momentum": "bn_momentum",
        "zero_init_head": "zero_init_head", "anchor_scale": "anchor_scale",
        "bn_calibration_images": "bn_calibration_images",
    },
    "optim": {
        "name": "optimizer", "lr": "lr", "lr_per_256": "lr_per_256", "momentum": "momentum",
        "rmsprop_decay": "rmsprop_decay", "rmsprop_eps": "rmsprop_eps",
        "weight_decay": "weight_decay", "backbone_lr_scale": "backbone_lr_scale",
        "grad_clip_norm": "grad_clip_norm", "ema_decay": "ema_decay", "ema_warmup": "ema_warmup",
    },
    "schedule": {
        "epochs": "epochs", "max_steps": "max_steps", "batch_size": "batch_size",
        "fit_batch": "fit_batch", "grad_accum_steps": "grad_accum_steps",
        "warmup_epochs": "warmup_epochs", "lr_decay_rate": "lr_decay_rate",
        "lr_decay_epochs": "lr_decay_epochs", "lr_staircase": "lr_staircase",
        "lr_schedule": "lr_schedule", "freeze_backbone_epochs": "freeze_backbone_epochs",
        "progressive": "progressive",
    },
    "regularization": {
        "label_smoothing": "label_smoothing", "autoaugment": "autoaugment",
        "crop_scale_min": "crop_scale_min", "hflip": "hflip", "drop_path_rate": "drop_path_rate",
        "dropout": "dropout",
    },
    "runtime": {
        "device": "device", "amp": "amp", "channels_last": "channels_last", "compile": "compile",
        "num_workers": "num_workers", "deterministic": "deterministic", "sync_bn": "sync_bn",
        "output_dir": "output_dir", "seed": "seed", "eval_every": "eval_every",
        "select_on_minival": "select_on_minival", "log_every": "log_every",
        "save_every_steps": "save_every_steps",
    },
}  # fmt: skip

#: dotted key -> field, and field -> dotted key
FIELD_OF: dict[str, str] = {
    f"{section}.{key}": field for section, keys in SECTIONS.items() for key, field in keys.items()
}
KEY_OF: dict[str, str] = {field: key for key, field in FIELD_OF.items()}


class FlatKeyWarning(FutureWarning):
    """A setting named by its bare field name (``lr``) rather than its key (``optim.lr``)."""


def field_for(key: str, fields: Iterable[str], what: str = "config key") -> str:
    """The field a key names: a dotted key, or a bare field name (which warns, naming the key).

    ``fields`` are the config's own fields (a classifier's config has no ``anchor_scale``); an
    unknown key is a ValueError naming the closest keys.
    """
    fields = set(fields)
    field = FIELD_OF.get(key)
    if field is not None and field in fields:
        return field
    if key in fields:
        if key in KEY_OF:
            warnings.warn(
                f"{what} {key!r} is {KEY_OF[key]!r} now; the bare name still works, for now",
                FlatKeyWarning,
                stacklevel=3,
            )
        return key
    raise unknown_key(key, fields, what)


def unknown_key(key: str, fields: Iterable[str], what: str = "config key") -> ValueError:
    """The error for a key that names none of ``fields``, with the closest keys."""
    fields = set(fields)
    known = sorted(k for k, f in FIELD_OF.items() if f in fields)
    tail = key.rpartition(".")[2]  # the right name in the wrong section first
    moved = [k for k in known if k.rpartition(".")[2] == tail]
    close = difflib.get_close_matches(key, known + sorted(fields), n=3, cutoff=0.6)
    close = list(dict.fromkeys(moved + [KEY_OF.get(c, c) for c in close]))[:3]  # keys, once
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(f"unknown {what} {key!r}.{hint} Known keys: {', '.join(known)}")


def flatten(sections: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """``{"optim": {"lr": 0.1}, "data": {"shapes": {"train": 32}}}`` -> ``{"lr": 0.1,
    "shapes_train": 32}``; a section or key that names no field is a ValueError naming it."""
    fields = list(fields)
    flat: dict[str, Any] = {}
    for section, values in sections.items():
        if section not in SECTIONS:
            close = difflib.get_close_matches(section, list(SECTIONS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"unknown config section {section!r}.{hint} Sections: {', '.join(SECTIONS)}"
            )
        if not isinstance(values, Mapping):
            raise ValueError(f"config section {section!r} must be a dict of settings")
        for key, value in _dotted(values):
            field = FIELD_OF.get(f"{section}.{key}")
            if field is None or field not in fields:
                raise unknown_key(f"{section}.{key}", fields)
            if field in flat:
                raise ValueError(f"config key {section}.{key} is given twice")
            flat[field] = value
    return flat


def _dotted(values: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """Nested dicts of a section as (dotted key, value); a dict is a sub-section only where the
    table has keys under it (``shapes``), else it is a value."""
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and any(k.split(".", 1)[1].startswith(dotted + ".")
                                              for k in FIELD_OF):  # fmt: skip
            yield from _dotted(value, dotted + ".")
        else:
            yield dotted, value


def nest(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Flat field values -> sections (``shapes.train`` nested under ``data`` as ``shapes``)."""
    out: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for field, value in values.items():
        section, _, key = KEY_OF[field].partition(".")
        target = out[section]
        *parents, last = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[last] = value
    return {section: keys for section, keys in out.items() if keys}
