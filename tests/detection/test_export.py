"""ONNX export of the detector computes what PyTorch computes."""

from effnet.detection.export import export_detector
from effnet.detection.model import EfficientDet
from effnet.detection.spec import get_det_spec


def test_onnx_matches_pytorch(tmp_path):
    spec = get_det_spec("d0").replace(image_size=64)
    model = EfficientDet(spec, num_classes=4).eval()
    path, check = export_detector(model, tmp_path / "d0.onnx")
    assert path.is_file()
    assert set(check.max_abs_diff) == {3, 1}  # batches of 3 and 1 through one file
    assert check.max_abs_output > 1.0  # real outputs (logits near the -4.6 prior), not zeros
    assert check.worst < 1e-4
