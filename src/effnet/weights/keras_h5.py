"""Read Keras EfficientNet weight files with h5py alone (Keras itself is never imported).

Two on-disk layouts are in circulation:

- Keras 3 ``.weights.h5`` (``model.save_weights``): groups are named after the layer *class* with a
  counter (``layers/batch_normalization_7/vars/0``); the layer's own name (``block2a_expand_bn``)
  is the ``name`` attribute of each ``vars`` group, and tensors are numbered in creation order.
- The legacy HDF5 format of Keras 2 / tf.keras, which the published ImageNet files
  (``efficientnetb0.h5`` ...) use: one group per layer name, tensor paths listed in the group's
  ``weight_names`` attribute, optionally under ``model_weights`` (a whole saved model).

Both become ``{layer name: [arrays in creation order]}``, which is all the converter needs: Keras
creates a Conv2D's kernel before its bias and a BatchNormalization's gamma, beta, moving mean,
moving variance in that order, in both formats.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Keras's input normalisation layer, auto-named (``normalization``, ``normalization_3``, ...).
_NORMALIZATION = re.compile(r"^normalization(_\d+)?$")


@dataclass(frozen=True)
class KerasWeights:
    """The arrays of every layer that has any, keyed by the Keras layer name."""

    layers: dict[str, list[np.ndarray]]
    path: str

    def normalization(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(mean, variance) of the model's Normalization layer, if it has one."""
        for name, arrays in self.layers.items():
            if _NORMALIZATION.match(name) and len(arrays) >= 2:
                return np.asarray(arrays[0], np.float64), np.asarray(arrays[1], np.float64)
        return None


def read_keras_weights(path: str | os.PathLike) -> KerasWeights:
    """Load a Keras 3 ``.weights.h5`` or a legacy Keras ``.h5`` weight file."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Keras weight file {path} does not exist")
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path} is not a readable HDF5 file ({err})") from None
    with handle as f:
        if "layer_names" in f.attrs or "model_weights" in f:
            layers = _read_legacy(f.get("model_weights", f))
        elif "layers" in f:
            layers = {}
            _read_keras3(f["layers"], layers)
        else:
            raise ValueError(
                f"{path} is an HDF5 file but not a Keras weight file (no 'layers' group and no "
                "'layer_names' attribute)"
            )
    if not layers:
        raise ValueError(f"{path} holds no layer weights")
    return KerasWeights(layers, str(path))


def _read_keras3(group, out: dict[str, list[np.ndarray]]) -> None:
    """Walk ``layers/<class>_<n>/vars`` (recursively, for models nested in models)."""
    for key in group:
        item = group[key]
        if not hasattr(item, "keys"):
            continue
        if "vars" in item and hasattr(item["vars"], "keys"):
            variables = item["vars"]
            name = _text(variables.attrs.get("name", key))
            arrays = [variables[k][()] for k in sorted(variables, key=int)]
            if arrays and name not in out:
                out[name] = arrays
        if "layers" in item:
            _read_keras3(item["layers"], out)


def _read_legacy(group) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    for raw in group.attrs["layer_names"]:
        name = _text(raw)
        layer = group[name]
        names = [_text(n) for n in layer.attrs["weight_names"]]
        if names:
            out[name] = [layer[n][()] for n in names]
    return out


def _text(value: bytes | str) -> str:
    """h5py returns attribute strings as bytes or str depending on how they were written."""
    return value.decode() if isinstance(value, bytes) else str(value)
