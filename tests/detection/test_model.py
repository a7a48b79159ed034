"""The detector: exact parameter counts for D0-D7, output layout, detection API."""

import pytest
import torch

from effnet.detection.model import EfficientDet
from effnet.detection.spec import DET_SPECS, get_det_spec
from effnet.weights.convert import shapes_only

from .effdet_ref import effdet_model

#: effdet's tf_efficientdet_d0 ... d7 (90 COCO classes), the numbers the issue quotes.
EFFDET_PARAMS = {
    "efficientdet_d0": 3_880_067,
    "efficientdet_d1": 6_625_898,
    "efficientdet_d2": 8_097_039,
    "efficientdet_d3": 12_032_296,
    "efficientdet_d4": 20_723_675,
    "efficientdet_d5": 33_653_315,
    "efficientdet_d6": 51_871_782,
    "efficientdet_d7": 51_871_782,
}


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(DET_SPECS))
def test_parameter_counts_equal_effdets(name):
    with shapes_only():  # meta tensors: D7 builds in a second
        model = EfficientDet(name, num_classes=90)
    assert count(model) == EFFDET_PARAMS[name]


def test_d0_count_is_the_effdet_models_own():
    assert count(effdet_model("d0", 128)) == EFFDET_PARAMS["efficientdet_d0"]


def test_outputs_per_level_and_detect():
    spec = get_det_spec("d0").replace(image_size=96)
    model = EfficientDet(spec, num_classes=3).eval()
    class_maps, box_maps = model(torch.randn(2, 3, 96, 96))
    sizes = [(12, 12), (6, 6), (3, 3), (2, 2), (1, 1)]  # ceil-halving, as SAME padding gives
    assert [tuple(m.shape) for m in class_maps] == [(2, 9 * 3, *s) for s in sizes]
    assert [tuple(m.shape) for m in box_maps] == [(2, 9 * 4, *s) for s in sizes]
    # untrained: every anchor starts at the 0.01 prior (the class bias), so nothing passes 0.05
    assert all(len(d.scores) == 0 for d in model.detect(torch.randn(2, 3, 96, 96)))
    found = model.detect(torch.randn(1, 3, 96, 96), score_threshold=0.0, max_detections=7)[0]
    assert len(found.scores) == 7 and found.boxes.shape == (7, 4)
    assert (found.boxes >= 0).all() and (found.boxes <= 96).all()  # clipped to the input
    assert model.labels() == ["0", "1", "2"]


def test_rejects_no_classes():
    with pytest.raises(ValueError, match="at least one class"):
        EfficientDet("d0", num_classes=0)
