"""The published EfficientDet weights as data: one entry per model, checksums from the names."""

import pytest

from effnet.detection.pretrained import COCO_CLASSES, DET_WEIGHTS, load_pretrained_detector
from effnet.detection.spec import DET_SPECS


def test_one_entry_per_model_with_url_checksum_and_ap():
    assert [w.model for w in DET_WEIGHTS.values()] == list(DET_SPECS)
    d0 = DET_WEIGHTS["efficientdet_d0.tf_coco"]
    assert d0.url.endswith("/v0.1/tf_efficientdet_d0_34-f153e0cf.pth") and d0.sha256 == "f153e0cf"
    aps = [w.coco_ap for w in DET_WEIGHTS.values()]
    assert aps == sorted(aps) and 34 < aps[0] < 35 and 53 < aps[-1] < 54  # grows with phi
    assert all(
        int(w.file.split("_")[-1].split("-")[0]) == int(w.coco_ap) for w in DET_WEIGHTS.values()
    )


def test_coco_has_90_ids_and_80_named_classes():
    assert len(COCO_CLASSES) == 90
    assert len([c for c in COCO_CLASSES if c != "N/A"]) == 80
    assert COCO_CLASSES[0] == "person" and COCO_CLASSES[89] == "toothbrush"


def test_unknown_and_offline_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("EFFNET_HOME", str(tmp_path))
    with pytest.raises(ValueError, match="unknown detector weights"):
        load_pretrained_detector("efficientdet_d9")
    with pytest.raises(FileNotFoundError):  # offline and not cached: says so, downloads nothing
        load_pretrained_detector("efficientdet_d0", offline=True)
