"""Deployable files: each format written by its one exporter runs back on its own engine with the
fast path's numbers, says what it is, and a damaged or incomplete one is one clear error."""

import json
import shutil

import onnx
import pytest
import torch

import effnet
from effnet.deploy.artifact import export_artifact, fast_path, is_artifact, load_artifact
from effnet.deploy.cpu import cpu_info
from effnet.deploy.inference import optimize_for_inference
from effnet.deploy.metadata import ArtifactError, companion_path, write_companion
from effnet.deploy.runners import OnnxRuntimeRunner
from tests.deploy.test_inference import mini_efficientnet
from tests.photo_inputs import nineteen_views, photos, with_statistics


@pytest.fixture(scope="module")
def mini():
    images = photos(48)
    model = with_statistics(effnet.create_model(mini_efficientnet(), num_classes=10), images)
    model.class_names = [f"class {i}" for i in range(10)]
    return model.eval(), images


@pytest.mark.parametrize("precision", ["fp32", "bf16"] if cpu_info().has_bf16 else ["fp32"])
def test_openvino_ir_runs_back_at_its_precision(mini, tmp_path, precision):
    model, images = mini
    files = export_artifact(model, tmp_path / "model", "openvino", precision, resolution=48)
    assert [f.name for f in files] == ["model.xml", "model.bin"] and all(f.is_file() for f in files)
    loaded = load_artifact(files[0], 2)
    assert (loaded.backend, loaded.precision, loaded.labels()) == (
        "openvino",
        precision,
        model.labels(),
    )
    fast = optimize_for_inference(model, "openvino", precision, images)
    torch.testing.assert_close(loaded(images), fast(images), atol=1e-5, rtol=0)


def test_an_openvino_ir_runs_a_large_batch_in_chunks_as_the_fast_path_does(mini, tmp_path):
    model, images = mini
    batch = nineteen_views(images)  # split over two streams, the last chunk ragged
    loaded = load_artifact(export_artifact(model, tmp_path / "m", "openvino", resolution=48)[0], 2)
    with torch.no_grad():
        expected = model(batch)
    torch.testing.assert_close(loaded(batch), expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(loaded(batch[:3]), expected[:3], atol=1e-4, rtol=0)


def test_onnx_int8_file_is_qdq_and_runs_as_the_fast_path_does(mini, tmp_path):
    model, images = mini
    (path,) = export_artifact(model, tmp_path / "int8", "onnx", "int8", images, resolution=48)
    assert path.name == "int8.onnx"
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(path)).graph.node)
    fast = optimize_for_inference(model, "onnxruntime", "fp32", images)
    runner = OnnxRuntimeRunner(fast.module, 2, precision="int8", calibration=images)
    torch.testing.assert_close(load_artifact(path, 2)(images), runner(images), atol=1e-5, rtol=0)


def test_a_checkpoint_on_an_engine_without_a_file(mini):
    model, images = mini
    deployed = fast_path(model, "onnxruntime", "fp32", batch_size=len(images))
    assert (deployed.backend, deployed.precision, deployed.labels()) == (
        "onnxruntime",
        "fp32",
        model.labels(),
    )
    with torch.no_grad():
        torch.testing.assert_close(deployed(images), model(images), atol=1e-4, rtol=0)


def test_an_ir_without_its_bin_or_with_another_bin_names_the_file(mini, tmp_path):
    model, _ = mini
    xml, weights = export_artifact(model, tmp_path / "m", "openvino", resolution=48)
    other_xml, other_bin = export_artifact(model, tmp_path / "o", "openvino", resolution=32)
    weights.unlink()
    with pytest.raises(ArtifactError, match=r"m\.bin is missing"):
        load_artifact(xml)
    shutil.copyfile(other_bin, weights)
    other_xml.write_text(other_xml.read_text()[:200])  # damaged
    with pytest.raises(ArtifactError, match=r"o\.xml: OpenVINO cannot read this IR"):
        load_artifact(other_xml)


def test_damaged_or_foreign_onnx_files_name_the_file(mini, tmp_path):
    model, _ = mini
    (path,) = export_artifact(model, tmp_path / "m.onnx", resolution=48)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match=r"m\.onnx: not a readable ONNX model"):
        load_artifact(path)
    foreign = tmp_path / "foreign.onnx"
    proto = onnx.load_from_string(data)
    del proto.metadata_props[:]
    foreign.write_bytes(proto.SerializeToString())
    with pytest.raises(ArtifactError, match=r"foreign\.onnx: the ONNX file carries no effnet"):
        load_artifact(foreign)


def test_a_companion_file_is_checked_against_the_file_it_describes(mini, tmp_path):
    model, _ = mini
    (path,) = export_artifact(model, tmp_path / "m.onnx", resolution=48)
    info = load_artifact(path).info
    companion = write_companion(path, info)
    assert companion == companion_path(path) and companion.name == "m.onnx.json"
    assert json.loads(companion.read_text())["class_names"] == model.labels()
    from effnet.deploy.metadata import read_companion

    assert read_companion(path) == info
    path.write_bytes(path.read_bytes() + b"\0")  # the file changed after the companion was written
    with pytest.raises(ArtifactError, match=r"m\.onnx\.json does not match m\.onnx"):
        read_companion(path)
    companion.unlink()
    with pytest.raises(ArtifactError, match=r"m\.onnx\.json is missing"):
        read_companion(path)


def test_a_state_dict_named_pt_is_not_an_artifact(mini, tmp_path):
    model, _ = mini
    plain = tmp_path / "state.pt"
    torch.save(model.state_dict(), plain)
    (traced,) = export_artifact(model, tmp_path / "traced.pt", "torchscript", resolution=48)
    assert not is_artifact(plain) and is_artifact(traced)
    assert load_artifact(traced).backend == "torchscript"


def test_effnet_load_runs_a_file_only_on_its_engine_at_its_precision(mini, tmp_path):
    """The Python API refuses what the commands refuse: one rule, in one place."""
    model, _ = mini
    (path,) = export_artifact(model, tmp_path / "m.onnx", resolution=48)
    assert effnet.load(path, backend="onnxruntime").backend == "onnxruntime"
    with pytest.raises(ValueError, match="runs on onnxruntime, not --backend openvino"):
        effnet.load(path, backend="openvino")
    with pytest.raises(ValueError, match="was written at fp32, not --precision int8"):
        effnet.load(path, precision="int8")
