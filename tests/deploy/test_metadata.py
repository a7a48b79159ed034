"""Artifact metadata: what a deployed file says about itself, and the clear errors when it says
something wrong or nothing at all."""

import json

import pytest
import torch

import effnet
from effnet.data import Preprocess
from effnet.deploy.metadata import (
    FORMATS,
    ArtifactError,
    ArtifactInfo,
    MissingEngineError,
    companion_path,
    format_for_path,
    info_for_model,
    read_companion,
    require_engine,
    write_companion,
)

LITE = Preprocess(224, 0.875, "bicubic", (127 / 255,) * 3, (128 / 255,) * 3)


def info(**changes) -> ArtifactInfo:
    fields = dict(
        model="efficientnet_lite0",
        class_names=("cat", "dog"),
        preprocess=LITE,
        precision="int8",
        format="tflite",
        input_shape=(3, 224, 224),
    )
    return ArtifactInfo(**{**fields, **changes})


def test_the_info_round_trips_through_json_and_says_how_to_feed_the_model():
    original = info()
    data = json.loads(original.to_json())
    assert data["engine"] == "litert" and data["input"]["name"] == "images"
    assert data["preprocess"]["resize_size"] == 256 and data["preprocess"]["mean"][0] == 127 / 255
    assert ArtifactInfo.from_json(original.to_json(), "x") == original


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("preprocess"), "missing field 'preprocess'"),
        (lambda d: d.update(precision="bf16"), "precision 'bf16' is not one tflite is written at"),
        (lambda d: d.update(format="coreml"), "unknown format 'coreml'"),
        (lambda d: d["input"].update(shape=[3, 224]), "is not (channels, height, width)"),
        (lambda d: d.update(schema=99), "written by a newer effnet"),
    ],
)
def test_malformed_metadata_names_its_source(change, message):
    data = json.loads(info().to_json())
    change(data)
    with pytest.raises(ArtifactError, match=r"^m\.tflite\.json: .*") as caught:
        ArtifactInfo.from_dict(data, "m.tflite.json")
    assert message in str(caught.value)
    with pytest.raises(ArtifactError, match="not valid JSON"):
        ArtifactInfo.from_json("{", "m.json")


def test_info_for_a_model_carries_its_weights_metadata_at_the_exported_size():
    model = effnet.create_model("efficientnet_b0", num_classes=3)
    model.class_names, model.preprocess = ["a", "b", "c"], Preprocess(224)
    got = info_for_model(model, "onnx", "fp32", resolution=128)
    assert (got.model, got.class_names, got.input_shape) == (
        "efficientnet_b0",
        ("a", "b", "c"),
        (3, 128, 128),
    )
    assert got.preprocess.resolution == 128 and got.preprocess.crop_pct == 0.875


def test_formats_are_told_by_suffix_and_a_state_dict_is_not_torchscript(tmp_path):
    assert (
        format_for_path("m.TFLITE").name == "tflite" and format_for_path("m.xml").name == "openvino"
    )
    assert format_for_path("m.safetensors") is None
    state = tmp_path / "state.pt"
    torch.save({"w": torch.zeros(2)}, state)
    assert format_for_path(state) is None
    assert {f.suffix for f in FORMATS.values()} == {".onnx", ".xml", ".pt", ".tflite", ".pte"}


def test_a_companion_file_names_the_file_and_its_problem(tmp_path):
    artifact = tmp_path / "m.pte"
    artifact.write_bytes(b"program")
    with pytest.raises(ArtifactError, match=r"m\.pte\.json is missing"):
        read_companion(artifact)
    assert write_companion(artifact, info(format="executorch")) == companion_path(artifact)
    assert read_companion(artifact).format == "executorch"
    artifact.write_bytes(b"another program")
    with pytest.raises(ArtifactError, match=r"m\.pte\.json does not match m\.pte"):
        read_companion(artifact)
    assert not list(tmp_path.glob("*.tmp"))  # written atomically, nothing left behind


def test_a_missing_engine_is_one_line_with_the_install_hint():
    with pytest.raises(MissingEngineError, match=r"pip install 'effnet\[litert\]'"):
        require_engine("tflite", "no_such_module_for_effnet")
    require_engine("onnx", "onnx")  # installed: no error
