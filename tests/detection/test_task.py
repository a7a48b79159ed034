"""A checkpoint's header says its task, and the model surface (``effnet.load``,
``create_model``, ``list_models``, ``effnet.detection``'s names) serves detectors as classifiers."""

import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

import effnet
from effnet.detection.checkpoint import is_detector_file, load_detector
from effnet.detection.model import EfficientDet
from effnet.detection.shapes import SHAPE_CLASSES
from effnet.detection.spec import DET_SPECS
from effnet.models import EfficientNet
from effnet.registry import get_spec
from effnet.weights.checkpoint import read_task, save_model
from tests.detection.cocofiles import detector


def header(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata())


def rewritten(path, target, **changes):
    """``path``'s tensors under ``target`` with header fields changed (None drops a field)."""
    meta = {**header(path), **changes}
    save_file(load_file(str(path)), str(target), {k: v for k, v in meta.items() if v is not None})
    return target


def test_both_saves_write_the_task_and_read_task_reads_it(tmp_path):
    classifier = save_model(tmp_path / "b0.safetensors", EfficientNet(get_spec("efficientnet_b0")))
    det = detector(tmp_path / "det.safetensors")
    assert (
        header(classifier)["task"] == "classification" and read_task(classifier) == "classification"
    )
    assert header(det)["task"] == "detection" and read_task(det) == "detection"
    # Files written before the field: a detector by its format, anything else a classifier.
    old_det = rewritten(det, tmp_path / "old_det.safetensors", task=None)
    old_classifier = rewritten(classifier, tmp_path / "old_b0.safetensors", task=None)
    assert read_task(old_det) == "detection" and is_detector_file(old_det)
    assert read_task(old_classifier) == "classification"
    assert read_task("efficientnet_b0.tf_aa_in1k") == "classification"  # a name, not a file
    (tmp_path / "damaged.safetensors").write_bytes(b"\x00" * 10)
    assert read_task(tmp_path / "damaged.safetensors") == "classification"  # its loader says why
    bad = rewritten(det, tmp_path / "bad.safetensors", task="segmentation")
    with pytest.raises(ValueError, match=r"bad.safetensors: header field 'task' is invalid"):
        read_task(bad)


def test_load_returns_the_detector_ready_to_use(tmp_path):
    path = detector(tmp_path / "det.safetensors")
    loaded = effnet.load(path)
    reference, _ = load_detector(path)
    assert isinstance(loaded, EfficientDet) and not loaded.training
    assert loaded.labels() == list(SHAPE_CLASSES) and loaded.spec == reference.spec
    assert loaded.spec.image_size == 32 and loaded.mean == reference.mean
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        for a, b in zip(loaded(x)[0], reference(x)[0], strict=True):
            assert torch.equal(a, b)
    # A file written before the task field loads the same way.
    old = rewritten(path, tmp_path / "old.safetensors", task=None)
    assert isinstance(effnet.load(old), EfficientDet)
    with pytest.raises(
        ValueError, match="detector checkpoint for efficientdet_d0, not efficientnet_b0"
    ):
        effnet.load(path, "efficientnet_b0")
    with pytest.raises(ValueError, match="runs in PyTorch only"):
        effnet.load(path, backend="onnxruntime")


def test_create_model_builds_detectors_by_name():
    model = effnet.create_model("efficientdet_d0", num_classes=4, image_size=64)
    assert isinstance(model, EfficientDet) and model.num_classes == 4
    assert model.spec == DET_SPECS["efficientdet_d0"].replace(image_size=64)
    assert model.backbone.spec.name == "efficientnet_b0"
    d1 = effnet.create_model("efficientdet_d1")
    assert d1.num_classes == 90 and d1.spec.fpn_channels == 88  # COCO's class count by default
    assert isinstance(effnet.create_model("efficientnet_b0"), EfficientNet)  # classifiers as before
    assert effnet.create_model("efficientnet_b0").num_classes == 1000
    with pytest.raises(ValueError, match="build a fresh detector to change the classes"):
        effnet.create_model("efficientdet_d0", pretrained=True, num_classes=4)
    with pytest.raises(ValueError, match="unknown weights 'in1k' for efficientdet_d0"):
        effnet.create_model("efficientdet_d0", pretrained="in1k")


def test_pretrained_detector_offline_is_one_line(monkeypatch):
    monkeypatch.setenv("EFFNET_OFFLINE", "1")
    with pytest.raises(OSError) as caught:
        effnet.create_model("efficientdet_d0", pretrained=True)
    message = str(caught.value)
    assert "tf_efficientdet_d0_34-f153e0cf.pth" in message and "offline" in message
    assert "\n" not in message


def test_list_models_lists_detectors_and_their_weights():
    names = [f"efficientdet_d{i}" for i in range(8)]
    assert effnet.list_models("efficientdet*") == names
    assert set(names) <= set(effnet.list_models()) and "efficientnet_b0" in effnet.list_models()
    weights = effnet.list_models("efficientdet*", pretrained=True)
    assert weights == [f"{name}.tf_coco" for name in names]
    assert effnet.list_models("efficientdet_d3", pretrained=True) == ["efficientdet_d3.tf_coco"]
    assert effnet.list_models("efficientdet*", pretrained=True, include_tags=False) == names
    assert effnet.list_models("efficientdet*", available=True) == []  # nothing cached here


def test_detection_package_names_its_api_and_imports_no_torch():
    script = (
        "import sys, effnet, effnet.detection as d\n"
        "assert 'EfficientDet' in dir(d) and 'load_detector' in d.__all__, dir(d)\n"
        "assert 'torch' not in sys.modules\n"
        "d.DetectionConfig; d.DET_SPECS; effnet.list_models('efficientdet*', pretrained=True)\n"
        "assert 'torch' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    import effnet.detection

    assert effnet.detection.save_detector.__module__ == "effnet.detection.checkpoint"
    assert effnet.detection.EfficientDet is EfficientDet
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        effnet.detection.nothing  # noqa: B018


def test_evaluate_scores_a_detector_and_predict_points_to_detect_image(tmp_path):
    from tests.detection.cocofiles import shapes_folder

    shapes_folder(tmp_path / "val", "val")
    path = detector(tmp_path / "det.safetensors", seed=3)
    result = effnet.evaluate(path, tmp_path / "val", device="cpu")
    expected = effnet.detection.evaluate_detector(load_detector(path)[0], tmp_path / "val")
    assert result.to_dict() == expected.to_dict() and result.images == 3
    with pytest.raises(ValueError, match=r"is a detector, whose output is boxes.*detect_image"):
        effnet.predict(path, tmp_path / "val" / "images" / "000000.png")
