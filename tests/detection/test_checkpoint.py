"""Detector files: the file alone rebuilds the detector, and is told from a classifier's."""

import pytest
import torch

from effnet.detection.checkpoint import is_detector_file, load_detector, save_detector
from effnet.detection.model import EfficientDet
from effnet.detection.spec import get_det_spec
from effnet.models import EfficientNet
from effnet.registry import get_spec
from effnet.weights.checkpoint import save_model


def test_round_trip_keeps_weights_spec_and_labels(tmp_path):
    spec = get_det_spec("d0").replace(image_size=64, anchor_scale=2.0)
    model = EfficientDet(spec, num_classes=2).eval()
    model.class_names = ["cat", "dog"]
    model.mean, model.std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    path = save_detector(tmp_path / "det.safetensors", model, extra={"val_map50": 0.5})
    loaded, extra = load_detector(path)
    assert loaded.spec == spec and loaded.labels() == ["cat", "dog"] and not loaded.training
    assert loaded.mean == (0.5, 0.5, 0.5) and extra == {"val_map50": 0.5}
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        (class_a, box_a), (class_b, box_b) = model(x), loaded(x)
    for a, b in zip(class_a + box_a, class_b + box_b, strict=True):
        assert torch.equal(a, b)


def test_classifier_files_and_others_are_not_detectors(tmp_path):
    classifier = save_model(tmp_path / "b0.safetensors", EfficientNet(get_spec("efficientnet_b0")))
    assert not is_detector_file(classifier)
    assert not is_detector_file("efficientnet_b0.tf_aa_in1k")  # a weight name, not a file
    with pytest.raises(ValueError, match="not an effnet detector checkpoint"):
        load_detector(classifier)
