"""EfficientDet: compound scaling applied to detection (Tan, Pang & Le, CVPR 2020).

The detector is built from the same pieces as the classifiers: :mod:`.spec` (D0-D7 as data),
:mod:`.bifpn` and :mod:`.head` (modules), :mod:`.model` (the torch module on an effnet backbone),
:mod:`.anchors`, :mod:`.loss`, :mod:`.postprocess` (training targets and decoding),
:mod:`.shapes` and :mod:`.coco` (data), :mod:`.metrics` and :mod:`.evaluate` (COCO mAP through
pycocotools), :mod:`.convert` and :mod:`.pretrained` (the effdet checkpoints), :mod:`.config` and
:mod:`.task` (what the one training loop needs from a detector), :mod:`.train` (the training
run's entry point).

The public names below are imported on first use, so ``import effnet.detection`` (which a config
file importing :mod:`effnet.detection.config` does) loads no torch.
"""

from __future__ import annotations

from ..lazy import lazy_exports

#: Public name -> the module that defines it.
_EXPORTS = {
    "DET_SPECS": "spec",
    "DET_WEIGHTS": "pretrained",
    "DetSpec": "spec",
    "DetectionConfig": "config",
    "DetectionResult": "evaluate",
    "DetectionTask": "task",
    "Detections": "postprocess",
    "EfficientDet": "model",
    "create_detector": "pretrained",
    "detect_image": "predict",
    "evaluate_detector": "evaluate",
    "export_detector": "export",
    "get_det_spec": "spec",
    "is_detector_file": "checkpoint",
    "load_any_detector": "pretrained",
    "load_detector": "checkpoint",
    "load_pretrained_detector": "pretrained",
    "save_detector": "checkpoint",
    "train_detector": "train",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
