"""LiteRT (.tflite): real ImageNet Lite0 written at fp32, fp16 and int8 and run back by the LiteRT
interpreter gives PyTorch's answers on photographs; int8 is full integer and keeps the digits
Lite0's accuracy; the metadata travels inside the file, and a damaged file is a one-line error
naming it; any batch size runs; B0's asymmetric "SAME" padding converts too."""

import errno
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from ai_edge_litert.interpreter import Interpreter
from ai_edge_litert.tools import flatbuffer_utils
from torch import nn

import effnet
from effnet.data.preprocess import Preprocess
from effnet.deploy import litert
from effnet.deploy.metadata import (
    ArtifactError,
    ArtifactInfo,
    MissingEngineError,
    companion_path,
    info_for_model,
)
from tests.photo_inputs import photos, preprocessed, real_lite0, with_statistics

pytestmark = pytest.mark.engines

#: scikit-image's photographs: the ImageNet model's test images and its calibration set.
TEST_PHOTOS = ("chelsea", "coffee")
CALIBRATION_PHOTOS = (
    *("chelsea", "coffee", "astronaut", "rocket", "camera", "clock", "coins"),
    *("hubble_deep_field", "immunohistochemistry", "moon"),
)
#: Largest |logit - PyTorch's| allowed per float precision (int8 is judged by its classes).
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2}


@pytest.fixture(scope="module")
def lite0():
    return real_lite0()


@pytest.fixture(scope="module")
def test_photos(lite0):
    images = preprocessed(lite0, TEST_PHOTOS)
    with torch.no_grad():
        return images, lite0(images)


@pytest.fixture(scope="module")
def exported(lite0, tmp_path_factory):
    """Lite0 written at each precision (int8 calibrated on photographs), each in its own folder."""
    calibration = preprocessed(lite0, CALIBRATION_PHOTOS, views=4)
    files = {}
    for precision in ("fp32", "fp16", "int8"):
        path = tmp_path_factory.mktemp(precision) / "lite0.tflite"
        info = info_for_model(lite0, "tflite", precision)
        images = calibration if precision == "int8" else None
        files[precision] = litert.export(lite0, path, info, images)
    return files


def tensor_types(path: Path) -> tuple[set[str], set[str]]:
    """The dtypes of the constants (but int32 ones: shapes, axes, int8 biases) and of the outputs
    of the ops between the first and the last (the float input's quantize and the output's
    dequantize, if any) in the file's graph."""
    model = flatbuffer_utils.read_model(str(path))
    graph = model.subgraphs[0]
    weights, activations = set(), set()
    for op in graph.operators[1:-1]:
        for tensor in (graph.tensors[i] for i in op.inputs if i >= 0):
            if model.buffers[tensor.buffer].data is not None:
                weights.add(flatbuffer_utils.type_to_name(tensor.type))
        activations.update(flatbuffer_utils.type_to_name(graph.tensors[i].type) for i in op.outputs)
    return weights - {"INT32"}, activations


def test_export_writes_one_file_with_the_metadata_inside(exported):
    for files in exported.values():
        assert len(files) == 1
        tflite = files[0]
        assert sorted(p.name for p in tflite.parent.iterdir()) == ["lite0.tflite"]
        assert tflite.read_bytes()[4:8] == b"TFL3"  # the flatbuffer's file identifier
        assert not companion_path(tflite).exists()
    sizes = {p: files[0].stat().st_size for p, files in exported.items()}
    assert sizes["int8"] <= 5.5e6 and sizes["fp16"] < 0.55 * sizes["fp32"]


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_float_precisions_give_pytorchs_logits_on_photographs(exported, test_photos, precision):
    images, expected = test_photos
    info, run = litert.load(exported[precision][0], threads=2)
    assert info.precision == precision and info.input_dtype == "float32"
    got = run(images)
    assert got.dtype == torch.float32 and got.shape == expected.shape == (2, 1000)
    assert torch.equal(got.argmax(1), expected.argmax(1))  # tiger cat, espresso
    worst = (got - expected).abs().max()
    assert worst <= TOLERANCE[precision]
    if precision == "fp16":
        assert worst > 1e-4  # the interpreter ran the float16 weights, not the fp32 ones


def test_int8_gives_pytorchs_classes_on_photographs(exported, test_photos):
    """The espresso (fp32's margin: 4.2 logits) keeps its class. The cat is a near-tie in fp32
    (tiger cat 9.25, Egyptian cat 9.14, tabby 8.40): int8's logit error (a few tenths) may swap
    the first two, and which comes first depends on the calibration images, so int8 must rank
    fp32's class in its top two and fp32's top three in its top five."""
    images, expected = test_photos
    info, run = litert.load(exported["int8"][0], threads=2)
    assert info.precision == "int8" and info.input_dtype == "float32"
    got = run(images)
    assert got.dtype == torch.float32 and got.shape == (2, 1000)
    assert got[1].argmax() == expected[1].argmax() == 967  # espresso
    assert expected[0].argmax() == 282 and 282 in got[0].topk(2).indices
    for row in range(2):
        assert set(expected[row].topk(3).indices.tolist()) <= set(got[row].topk(5).indices.tolist())
    assert 1e-3 < (got - expected).abs().max() < 0.5  # int8, and close


def test_the_precisions_store_what_they_say(exported):
    """fp32 holds float32 weights; fp16 float16 ones (computed in fp32; the depthwise kernels stay
    float32); int8 is full integer: int8 weights and activations from the float input's quantize
    op to the output's dequantize op."""
    assert tensor_types(exported["fp32"][0]) == ({"FLOAT32"}, {"FLOAT32"})
    assert tensor_types(exported["fp16"][0]) == ({"FLOAT16", "FLOAT32"}, {"FLOAT32"})
    assert tensor_types(exported["int8"][0]) == ({"INT8"}, {"INT8"})


def test_the_metadata_round_trips_inside_the_file(exported, lite0):
    info, _ = litert.load(exported["int8"][0], threads=1)
    assert info == info_for_model(lite0, "tflite", "int8")
    assert info.model == "efficientnet_lite0" and info.format == "tflite"
    assert info.class_names == tuple(lite0.labels()) and len(info.class_names) == 1000
    assert info.preprocess.mean == pytest.approx((127 / 255,) * 3, abs=1e-3)  # (x - 127) / 128
    assert (info.input_name, info.input_shape) == ("images", (3, 224, 224))
    tflite = Interpreter(model_path=str(exported["fp32"][0]))
    assert tflite.get_signature_list()["serving_default"] == {
        "inputs": ["images"],
        "outputs": ["logits"],
    }


def test_any_batch_size_runs_and_agrees_with_pytorch(exported, lite0, test_photos):
    images, expected = test_photos
    batch = torch.cat([images, images[:1].flip(3)])
    with torch.no_grad():
        wanted = lite0(batch)
    _, run = litert.load(exported["fp32"][0], threads=2)
    torch.testing.assert_close(run(batch), wanted, atol=1e-4, rtol=0)  # 3
    torch.testing.assert_close(run(batch[2:]), wanted[2:], atol=1e-4, rtol=0)  # then 1
    torch.testing.assert_close(run(batch[:2]), expected, atol=1e-4, rtol=0)  # then 2
    assert run(batch[:0]).shape == (0, 1000)
    with pytest.raises(ValueError, match=r"expected images \(N, 3, 224, 224\), got \(1, 3, 64, 64"):
        run(torch.zeros(1, 3, 64, 64))


def test_a_damaged_file_is_one_line_naming_it(exported, tmp_path):
    good = exported["fp32"][0].read_bytes()
    for name, data in [
        ("half.tflite", good[: len(good) // 2]),
        ("tail.tflite", good[:-1000]),
        ("empty.tflite", b""),
        ("text.tflite", b"not a model at all\n" * 20),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(
            ArtifactError, match=f"^{re.escape(str(path))}: not a loadable LiteRT model"
        ) as err:
            litert.load(path, threads=1)
        assert "\n" not in str(err.value)


def test_missing_or_foreign_metadata_is_refused(exported, tmp_path):
    good = exported["fp16"][0].read_bytes()
    key = b"effnet.artifact"
    assert good.count(key) == 1
    unnamed = tmp_path / "unnamed.tflite"
    unnamed.write_bytes(good.replace(key, b"someone.elses.x"))
    with pytest.raises(
        ArtifactError, match=f"^{re.escape(str(unnamed))}: this .tflite carries no effnet"
    ):
        litert.load(unnamed, threads=1)
    newer = tmp_path / "newer.tflite"
    newer.write_bytes(good.replace(b'"schema": 1', b'"schema": 7'))
    with pytest.raises(ArtifactError, match=f"^{re.escape(str(newer))}: written by a newer effnet"):
        litert.load(newer, threads=1)


def tiny_model() -> tuple[nn.Module, ArtifactInfo, torch.Tensor]:
    """A small conv net with non-trivial BN statistics, its info and images it was measured on."""
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, 2, 1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU6(),
        nn.Conv2d(8, 8, 3, 1, 1, groups=8, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    )
    images = photos(32)
    model = with_statistics(model, images)
    pre = Preprocess(32, 1.0, "bilinear", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    info = ArtifactInfo("tiny", ("a", "b", "c", "d"), pre, "int8", "tflite", (3, 32, 32))
    return model, info, images


def test_int8_input_and_output_are_quantized_by_the_runtime(tmp_path):
    model, info, images = tiny_model()
    info = replace(info, input_dtype="int8")
    views = torch.cat([images, images.flip(3), images.flip(2)])
    path = tmp_path / "tiny.tflite"
    litert.export(model, path, info, views)
    details = Interpreter(model_path=str(path))
    assert details.get_input_details()[0]["dtype"] == np.int8
    assert details.get_output_details()[0]["dtype"] == np.int8
    got, run = litert.load(path, threads=1)
    assert got.input_dtype == "int8"
    with torch.no_grad():
        expected = model(views)
    out = run(views)
    assert out.dtype == torch.float32
    assert (out - expected).abs().max() < 0.05 * expected.abs().max()


def test_export_refuses_what_it_cannot_write(lite0, tmp_path, monkeypatch):
    model, info, images = tiny_model()
    with pytest.raises(ValueError, match=r"int8 .tflite export needs calibration images"):
        litert.export(model, tmp_path / "m.tflite", info)
    with pytest.raises(ValueError, match=r"calibration images are \(3, 16, 16\)"):
        litert.export(model, tmp_path / "m.tflite", info, torch.zeros(2, 3, 16, 16))
    with pytest.raises(ValueError, match=r"must end in .tflite"):
        litert.export(model, tmp_path / "m.onnx", info, images)
    fp16 = replace(info, precision="fp16", input_dtype="int8")
    with pytest.raises(ValueError, match=r"input dtype 'int8' needs precision int8"):
        litert.export(model, tmp_path / "m.tflite", fp16)
    with pytest.raises(ValueError, match=r"written at fp32, fp16, int8, not as onnx fp32"):
        litert.export(lite0, tmp_path / "m.tflite", info_for_model(lite0, "onnx", "fp32"))
    assert not any(tmp_path.iterdir())
    monkeypatch.setitem(sys.modules, "litert_torch", None)  # as if not installed
    with pytest.raises(MissingEngineError, match=r"pip install 'effnet\[litert\]'"):
        litert.export(model, tmp_path / "m.tflite", info, images)


def test_a_write_that_fails_halfway_leaves_the_previous_file(tmp_path, monkeypatch):
    model, info, images = tiny_model()
    path = tmp_path / "tiny.tflite"
    litert.export(model, path, replace(info, precision="fp32"))
    before = path.read_bytes()

    def half_then_disk_full(self: Path, data: bytes) -> int:
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_disk_full)
    with pytest.raises(
        OSError, match=f"cannot write {path}: No space left on device; the previous"
    ):
        litert.export(model, path, info, images)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_b0_with_asymmetric_same_padding_converts_exactly(tmp_path):
    """TensorFlow's "SAME" pads stride-2 convs of even inputs by 0 on top and 1 at the bottom."""
    images = photos(64)
    model = with_statistics(effnet.create_model("efficientnet_b0", padding="same"), images)
    path = tmp_path / "b0.tflite"
    litert.export(model, path, info_for_model(model, "tflite", "fp32", resolution=64))
    _, run = litert.load(path, threads=2)
    with torch.no_grad():
        expected = model(images)
    assert expected.abs().max() > 0.1  # logits of a network that computes something
    torch.testing.assert_close(run(images), expected, atol=1e-4, rtol=0)
