"""Export to ONNX and TorchScript: one file serves batch 3 and batch 1, and matches PyTorch.

The models get batch-norm statistics measured on inputs like the test batches first
(:func:`tests.use.checkpoints.calibrated`): a freshly initialised EfficientNet in eval mode outputs
logits near 1e-5, where a 1e-4 tolerance would prove nothing; calibrated, its logits are of order
1-10, as a trained model's are. Resolution is 128 instead of the variants' 224/240: the exported
graph has the same layers (input size is not part of the architecture), and the checks run in a
fraction of the time. The command (``effnet export``) is tested in tests/cli/test_export.py.
"""

import copy
import json

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from effnet.use.export import check_export, default_output_path, export_model, run_export
from tests.use import checkpoints

RESOLUTION = 128
TOLERANCE = 1e-4  # the acceptance bound on max |export - PyTorch|


def calibrated(name: str) -> torch.nn.Module:
    return checkpoints.calibrated(name, RESOLUTION)


def reference_and_inputs(model: torch.nn.Module):
    generator = torch.Generator().manual_seed(123)
    for batch in (3, 1):
        x = torch.randn(batch, 3, RESOLUTION, RESOLUTION, generator=generator)
        with torch.no_grad():
            yield batch, x, model(x)


def assert_onnx_graph_is_inference_only(path):
    graph = onnx.load(str(path)).graph
    ops = {node.op_type for node in graph.node}
    # Eval mode: batch norm folded or in inference form, no dropout; SiLU as standard ONNX ops.
    assert "Dropout" not in ops and "BatchNormalization" not in ops, ops
    assert {"Conv", "Sigmoid", "Mul"} <= ops
    assert all(node.domain in ("", "ai.onnx") for node in graph.node)
    batch_dim = graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value  # symbolic, not fixed


def test_the_check_reports_the_difference_from_other_weights(tmp_path):
    """check_export is real: against a model whose logits are shifted by 1 it reports 1."""
    model = calibrated("efficientnet_b0")
    path = export_model(model, tmp_path / "b0.pt", "torchscript", RESOLUTION)
    same = check_export(path, model, RESOLUTION)
    assert set(same.max_abs_diff) == {3, 1} and same.worst <= TOLERANCE
    assert 0.5 < same.max_abs_output < 100
    shifted = copy.deepcopy(model)
    with torch.no_grad():
        shifted.classifier.bias += 1.0
    check = check_export(path, shifted, RESOLUTION)
    assert check.worst == pytest.approx(1.0, abs=1e-4)
    assert "batch 3: " in same.format() and "batch 1: " in same.format()


def test_bad_requests_are_refused(tmp_path):
    model = calibrated("efficientnet_b0")
    with pytest.raises(ValueError, match="unknown format 'coreml'"):
        export_model(model, tmp_path / "x", "coreml", RESOLUTION)
    with pytest.raises(ValueError, match="torchscript is written at fp32, not int8"):
        export_model(model, tmp_path / "x.pt", "torchscript", RESOLUTION, precision="int8")
    with pytest.raises(ValueError, match="int8 needs calibration images"):
        export_model(model, tmp_path / "x.onnx", "onnx", RESOLUTION, precision="int8")
    with pytest.raises(ValueError, match="resolution must be at least 8"):
        export_model(model, tmp_path / "x.pt", "torchscript", 4)
    with pytest.raises(ValueError, match="unknown ONNX exporter 'fast'"):
        export_model(model, tmp_path / "x.onnx", "onnx", RESOLUTION, exporter="fast")
    with pytest.raises(FileNotFoundError, match=r".*gone.onnx does not exist"):
        run_export(tmp_path / "gone.onnx", torch.zeros(1, 3, 8, 8))
    assert not list(tmp_path.iterdir())  # nothing written by a refused request
    assert default_output_path("efficientnet_b0", "onnx").name == "efficientnet_b0.onnx"


def test_onnx_b1_matches_pytorch_at_batch_3_and_1(tmp_path):
    """B1 through the TorchScript-based exporter (the B0 test above covers the default one)."""
    model = calibrated("efficientnet_b1")
    model.class_names = [f"class {i}" for i in range(10)]
    path = export_model(model, tmp_path / "b1.onnx", "onnx", RESOLUTION, exporter="legacy")
    assert_onnx_graph_is_inference_only(path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    # The file says what it classifies and how to prepare its input, for users without effnet.
    meta = json.loads(session.get_modelmeta().custom_metadata_map["effnet.artifact"])
    assert meta["class_names"] == model.class_names
    pre = meta["preprocess"]
    # The preprocessing of the size it was exported at (B1 is 240 px; this file takes 128).
    assert (pre["resolution"], pre["resize_size"], pre["interpolation"]) == (128, 146, "bicubic")
    assert pre["mean"] == [0.485, 0.456, 0.406] and meta["model"] == "efficientnet_b1"
    assert (meta["format"], meta["engine"], meta["precision"]) == ("onnx", "onnxruntime", "fp32")
    assert meta["input"]["name"] == "images" and meta["input"]["shape"] == [3, 128, 128]
    for batch, x, expected in reference_and_inputs(model):
        (got,) = session.run(None, {"images": x.numpy()})
        assert got.shape == (batch, 10)
        assert 0.5 < float(expected.abs().max()) < 100  # logits of a realistic scale
        assert np.abs(got - expected.numpy()).max() <= TOLERANCE


@pytest.mark.filterwarnings(
    "ignore:`torch.jit.load` is deprecated:FutureWarning"
)  # the test reads the file back
@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_b1"])
def test_torchscript_matches_pytorch_at_batch_3_and_1(tmp_path, name):
    model = calibrated(name)
    path = export_model(model, tmp_path / f"{name}.pt", "torchscript", RESOLUTION)
    loaded = torch.jit.load(str(path))
    for batch, x, expected in reference_and_inputs(model):
        with torch.no_grad():
            got = loaded(x)
        assert got.shape == (batch, 10)
        assert 0.5 < float(expected.abs().max()) < 100  # logits of a realistic scale
        assert float((got - expected).abs().max()) <= TOLERANCE
    # The exported graph is the eval-mode one: no dropout or batch statistics at run time.
    assert not loaded.training


@pytest.mark.slow
def test_default_onnx_exporter_on_b1(tmp_path):
    model = calibrated("efficientnet_b1")
    path = export_model(model, tmp_path / "b1.onnx", "onnx", RESOLUTION)
    assert_onnx_graph_is_inference_only(path)
    check = check_export(path, model, RESOLUTION)
    assert check.worst <= TOLERANCE and check.max_abs_output > 0.5
