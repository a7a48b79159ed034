"""The published EfficientDet weights (COCO, ported from the official TensorFlow release), as data.

Each entry is one file that the ``effdet`` package's author serves, with the COCO val2017 AP it
reports, and what converting it needs: the model and the COCO class names (90 ids, unused ids
named "N/A"; label k is category id k + 1). :func:`load_pretrained_detector` downloads (sha256
prefix checked, cached; ``EFFNET_OFFLINE=1`` uses the cache only) and converts with
:func:`~effnet.detection.convert.convert_effdet`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import os

    import torch

    from .model import EfficientDet

RELEASES = "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1"
REFERENCE = "https://github.com/rwightman/efficientdet-pytorch#models"  # the AP table

#: COCO's 90 category ids in order (id k + 1 is label k), "N/A" where COCO has no category.
COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "N/A", "stop sign", "parking meter", "bench", "bird", "cat",
    "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "N/A", "backpack",
    "umbrella", "N/A", "N/A", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
    "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "N/A", "wine glass", "cup", "fork", "knife", "spoon", "bowl",
    "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut",
    "cake", "chair", "couch", "potted plant", "bed", "N/A", "dining table", "N/A", "N/A", "toilet",
    "N/A", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven",
    "toaster", "sink", "refrigerator", "N/A", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip


@dataclass(frozen=True)
class DetWeights:
    model: str
    file: str  # name under RELEASES; its digits after "-" are the sha256 prefix
    coco_ap: float  # COCO val2017 AP@[.5:.95] (%) of this file, as effdet's README reports it
    tf_test_dev_ap: float  # the official TensorFlow model's test-dev AP (same README table)

    @property
    def name(self) -> str:
        return f"{self.model}.tf_coco"

    @property
    def url(self) -> str:
        return f"{RELEASES}/{self.file}"

    @property
    def sha256(self) -> str:
        return self.file.rsplit("-", 1)[1].split(".")[0]


DET_WEIGHTS: dict[str, DetWeights] = {
    w.name: w
    for w in (
        DetWeights("efficientdet_d0", "tf_efficientdet_d0_34-f153e0cf.pth", 34.2, 34.6),
        DetWeights("efficientdet_d1", "tf_efficientdet_d1_40-a30f94af.pth", 40.1, 40.5),
        DetWeights("efficientdet_d2", "tf_efficientdet_d2_43-8107aa99.pth", 43.4, 43.0),
        DetWeights("efficientdet_d3", "tf_efficientdet_d3_47-0b525f35.pth", 47.1, 47.5),
        DetWeights("efficientdet_d4", "tf_efficientdet_d4_49-f56376d9.pth", 49.2, 49.7),
        DetWeights("efficientdet_d5", "tf_efficientdet_d5_51-c79f9be6.pth", 51.2, 51.5),
        DetWeights("efficientdet_d6", "tf_efficientdet_d6_52-4eda3773.pth", 52.0, 52.6),
        DetWeights("efficientdet_d7", "tf_efficientdet_d7_53-6d1d7a95.pth", 53.1, 53.7),
    )
}


def load_pretrained_detector(name: str, offline: bool | None = None) -> EfficientDet:
    """Download (or find in the cache) a published detector and convert it."""
    from ..weights.fetch import download
    from .convert import convert_effdet

    key = name if name.endswith(".tf_coco") else f"{name}.tf_coco"
    if key not in DET_WEIGHTS:
        raise ValueError(f"unknown detector weights {name!r}; known: {', '.join(DET_WEIGHTS)}")
    weights = DET_WEIGHTS[key]
    path = download(weights.url, weights.sha256, offline=offline)
    net = convert_effdet(path, weights.model, class_names=list(COCO_CLASSES))
    net.weights_source = weights.name
    return net.eval()


def is_detector_name(name: object) -> bool:
    """Whether ``name`` is a detector's model or weight name (``efficientdet_d0``,
    ``efficientdet_d0.tf_coco``), what ``create_model`` and ``load`` hand to this module."""
    if not isinstance(name, str):
        return False
    from .spec import DET_SPECS

    return name in DET_SPECS or name in DET_WEIGHTS


def create_detector(
    name: str,
    pretrained: bool | str = False,
    num_classes: int | None = None,
    **spec_changes: object,
) -> EfficientDet:
    """``effnet.create_model`` for a detector: a fresh ``name`` (D0-D7) with ``num_classes``
    (default COCO's 90), or, with ``pretrained`` (``True`` or the tag ``"tf_coco"``), the
    published COCO weights, downloaded once into the cache the classifiers' weights share.

    ``spec_changes`` replace fields of the spec (``image_size=64``, ``anchor_scale=2.0``) of a
    fresh detector; the published weights come with their own.
    """
    from .model import EfficientDet
    from .spec import get_det_spec

    spec = get_det_spec(name.split(".", 1)[0])
    if not pretrained and "." not in name:
        return EfficientDet(
            spec.replace(**spec_changes), 90 if num_classes is None else num_classes
        )
    tag = name.split(".", 1)[1] if "." in name else pretrained
    if tag not in (True, "tf_coco"):
        raise ValueError(f"unknown weights {tag!r} for {spec.name}; known: tf_coco")
    if spec_changes or num_classes not in (None, len(COCO_CLASSES)):
        raise ValueError(
            f"{spec.name}.tf_coco is a {len(COCO_CLASSES)}-class COCO detector with its own "
            "spec; build a fresh detector to change the classes or the spec"
        )
    try:
        return load_pretrained_detector(spec.name)
    except FileNotFoundError:
        raise
    except OSError as err:  # no network, offline mode: one line with the fetcher's reason
        raise ValueError(f"could not get pretrained weights {spec.name}.tf_coco: {err}") from None


def load_any_detector(
    path_or_name: str | os.PathLike, device: str | torch.device = "cpu"
) -> EfficientDet:
    """An eval-mode detector on ``device`` from a detector file or a published weight name
    (``efficientdet_d0.tf_coco``): what ``effnet.load`` and the commands run."""
    from ..models import resolve_device
    from .checkpoint import load_detector

    if is_detector_name(str(path_or_name)):
        model = create_detector(str(path_or_name), pretrained=True)
    else:
        model = load_detector(path_or_name)[0]
    return model.eval().to(resolve_device(device))


def detector_availability(name: str) -> str:
    """``cached`` or ``download`` (:mod:`effnet.weights.available`'s words): the published
    detectors are plain downloads into the cache the classifiers' weights share."""
    from ..weights.available import CACHED, DOWNLOAD
    from ..weights.fetch import weights_dir

    return CACHED if (weights_dir() / DET_WEIGHTS[name].file).is_file() else DOWNLOAD
