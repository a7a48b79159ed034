"""Deployable files: an OpenVINO IR records its precision and runs back at it; an ONNX int8 file is
QDQ; both reproduce the in-process model's logits."""

import pytest
import torch

import effnet
from effnet.deploy.artifact import artifact_precision, load_artifact, save_artifact
from effnet.deploy.cpu import cpu_info
from effnet.deploy.inference import optimize_for_inference
from tests.deploy.test_inference import mini_efficientnet
from tests.photo_inputs import nineteen_views, photos, with_statistics


@pytest.fixture(scope="module")
def mini():
    images = photos(48)
    model = with_statistics(effnet.create_model(mini_efficientnet(), num_classes=10), images)
    return model, images


@pytest.mark.parametrize("precision", ["fp32", "bf16"] if cpu_info().has_bf16 else ["fp32"])
def test_openvino_ir_runs_back_at_its_precision(mini, tmp_path, precision):
    model, images = mini
    fast = optimize_for_inference(model, "openvino", precision, images)
    files = save_artifact(fast, tmp_path / "model")
    assert [f.name for f in files] == ["model.xml", "model.bin"] and all(f.is_file() for f in files)
    assert artifact_precision(files[0]) == precision
    torch.testing.assert_close(load_artifact(files[0], 2)(images), fast(images), atol=1e-5, rtol=0)


def test_an_openvino_ir_runs_a_large_batch_in_chunks_as_the_fast_path_does(mini, tmp_path):
    model, images = mini
    batch = nineteen_views(images)  # split over two streams, the last chunk ragged
    fast = optimize_for_inference(model, "openvino", "fp32", images)
    loaded = load_artifact(save_artifact(fast, tmp_path / "model")[0], 2)
    with torch.no_grad():
        expected = model.eval()(batch)
    torch.testing.assert_close(loaded(batch), expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(loaded(batch[:3]), expected[:3], atol=1e-4, rtol=0)


def test_onnx_int8_file_is_qdq_and_runs_back(mini, tmp_path):
    model, images = mini
    fast = optimize_for_inference(model, "onnxruntime", "fp32", images)
    (path,) = save_artifact(fast, tmp_path / "fp32.onnx")
    assert artifact_precision(path) == "fp32"
    # int8 through the runner directly: optimize_for_inference refuses int8 on a CPU without VNNI,
    # the file format does not depend on it.
    from effnet.deploy.runners import OnnxRuntimeRunner

    runner = OnnxRuntimeRunner(fast.module, 2, precision="int8", calibration=images)
    expected = runner(images)
    fast.runner, fast.precision = runner, "int8"
    (path,) = save_artifact(fast, tmp_path / "int8")
    assert path.suffix == ".onnx" and artifact_precision(path) == "int8"
    torch.testing.assert_close(load_artifact(path, 2)(images), expected, atol=1e-5, rtol=0)


def test_eager_models_are_not_files(mini, tmp_path):
    fast = optimize_for_inference(mini[0], "eager", example=mini[1])
    with pytest.raises(ValueError, match="use backend openvino or onnxruntime"):
        save_artifact(fast, tmp_path / "x")
