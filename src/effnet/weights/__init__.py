"""Checkpoint interop: effnet's self-describing safetensors format, peers' layouts, downloads.

Names are resolved on first use (PEP 562), so ``import effnet`` stays free of torch until a model
or checkpoint is actually touched.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "CheckpointMismatchError": "checkpoint",
    "load_model": "checkpoint",
    "load_state_dict_checked": "checkpoint",
    "read_metadata": "checkpoint",
    "save_model": "checkpoint",
    "convert_checkpoint": "convert",
    "export_state_dict": "export",
    "infer_model": "convert",
    "read_checkpoint": "convert",
    "read_state_dict": "convert",
    "create_model": "factory",
    "load": "factory",
    "ChecksumError": "fetch",
    "DownloadError": "fetch",
    "OfflineError": "fetch",
    "download": "fetch",
    "load_pretrained": "hub",
    "preprocess_for": "hub",
    "transforms_for": "hub",
    "PEERS": "peers",
    "WEIGHTS": "pretrained",
    "WeightSet": "pretrained",
    "default_weights": "pretrained",
    "get_weights": "pretrained",
    "list_weights": "pretrained",
    "register_weights": "pretrained",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
