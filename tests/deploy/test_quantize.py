"""int8 post-training quantization: calibration images, what stays fp32, and both engines' output.

On a small network holding every layer kind of B0 (tests/deploy/test_inference.mini_efficientnet);
accuracy on a trained model is tests/deploy/test_fidelity.py.
"""

import re

import onnx
import pytest
import torch

import effnet
from effnet.deploy.fuse import fold_batchnorm
from effnet.deploy.quantize import (
    KEEP_FP32,
    calibration_images,
    fingerprint,
    kept_fp32_pattern,
    quantize_onnx,
    quantize_openvino,
    remembered,
)
from tests.deploy.test_inference import mini_efficientnet
from tests.photo_inputs import photos, with_statistics


def mini(size: int = 48):
    images = photos(size)
    model = with_statistics(effnet.create_model(mini_efficientnet(), num_classes=10), images)
    return fold_batchnorm(model), images


def test_calibration_images_from_tensors_and_loaders():
    x = torch.randn(5, 3, 8, 8)
    assert calibration_images(x, (3, 8, 8)).shape == (5, 3, 8, 8)
    loader = [(x[:2], torch.tensor([0, 1])), (x[2:], torch.tensor([2, 3, 4]))]
    taken = calibration_images(loader, (3, 8, 8), limit=4)
    assert torch.equal(taken, x[:4])  # stops at the limit, in order
    assert calibration_images([x[0]], (3, 8, 8)).shape == (1, 3, 8, 8)  # single images too


@pytest.mark.parametrize(
    ("calibration", "message"),
    [
        (torch.randn(2, 3, 16, 16), r"calibration images are \(3, 16, 16\).*prepared for"),
        ([], "no calibration images"),
        ([["not", "images"]], "must be image tensors"),
    ],
)
def test_bad_calibration_is_refused(calibration, message):
    with pytest.raises(ValueError, match=message):
        calibration_images(calibration, (3, 8, 8))


def test_kept_modules_match_both_exporters_names():
    pattern = re.compile(kept_fp32_pattern())
    assert KEEP_FP32 == ("stem", "se", "classifier")
    kept = [
        "__module.blocks.1.0.se/aten::mul/Multiply",  # OpenVINO (module path with dots)
        "__module.blocks.1.0.se.reduce/aten::_convolution/Convolution",
        "__module.stem.conv/aten::_convolution/Convolution",
        "__module.classifier/aten::linear/MatMul",
        "/blocks/blocks.1.0/se/reduce/Conv",  # ONNX (slashes)
        "/stem/conv/Conv",
        "/classifier/Gemm",
    ]
    quantized = [
        "__module.blocks.1.0.expand.conv/aten::_convolution/Convolution",
        "/blocks/blocks.1.0/project/conv/Conv",
        "/head/conv/Conv",
        "/blocks/blocks.1.0/sequence/Conv",  # 'se' only as a prefix of a longer name
    ]
    assert all(pattern.fullmatch(name) for name in kept)
    assert not any(pattern.fullmatch(name) for name in quantized)


def onnx_bytes(model, images) -> bytes:
    from effnet.deploy.onnx import onnx_bytes as export

    return export(model, images[:2])


def test_onnx_int8_has_per_channel_weights_and_keeps_stem_se_classifier_fp32():
    model, images = mini()
    graph = onnx.load_from_string(quantize_onnx(onnx_bytes(model, images), images, (3, 48, 48)))
    graph = graph.graph
    producers = {out: node for node in graph.node for out in node.output}
    inits = {t.name: t for t in graph.initializer}
    pattern = re.compile(kept_fp32_pattern())
    convs = [n for n in graph.node if n.op_type in ("Conv", "Gemm")]
    quantized, kept = [], []
    for node in convs:
        weight = producers.get(node.input[1])
        is_int8 = weight is not None and weight.op_type == "DequantizeLinear"
        (quantized if is_int8 else kept).append(node.name)
        if is_int8:
            scale = onnx.numpy_helper.to_array(inits[weight.input[1]])
            assert scale.size > 1, node.name  # one scale per output channel
    assert quantized and all(not pattern.fullmatch(n) for n in quantized)
    assert kept and all(pattern.fullmatch(n) for n in kept)
    assert any("/se/" in n for n in kept) and any("classifier" in n for n in kept)


def weight_type(op) -> str:
    """The element type of the constant an OpenVINO conv / matmul takes its weights from."""
    node = op.input_value(1).get_node()
    while node.get_type_name() in ("Convert", "Multiply", "Subtract", "Reshape"):
        node = node.input_value(0).get_node()
    return node.get_output_element_type(0).get_type_name()


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::FutureWarning")
def test_openvino_int8_quantizes_weights_outside_the_kept_modules():
    from effnet.deploy.openvino import OpenVinoRunner

    model, images = mini(32)
    ov_model = OpenVinoRunner(model, 1).convert(images[:2])  # the fast path's one converter
    quantized = quantize_openvino(ov_model, images, (3, 32, 32))
    layers = {
        op.get_friendly_name(): weight_type(op)
        for op in quantized.get_ops()
        if op.get_type_name() in ("Convolution", "GroupConvolution", "MatMul")
    }
    pattern = re.compile(kept_fp32_pattern())
    int8 = [name for name, t in layers.items() if t == "i8"]
    fp32 = [name for name, t in layers.items() if t == "f32"]
    assert len(int8) + len(fp32) == len(layers)
    assert int8 and not any(pattern.fullmatch(name) for name in int8)
    assert fp32 and all(pattern.fullmatch(name) for name in fp32)
    assert any("depthwise" in name for name in int8) and any(".se." in name for name in fp32)
    assert sum(op.get_type_name() == "FakeQuantize" for op in quantized.get_ops()) > 0


def test_quantized_models_are_remembered_by_fingerprint():
    x = torch.arange(6.0).view(2, 3)
    assert fingerprint("a", x, b"graph", (3, 8)) == fingerprint("a", x.clone(), b"graph", (3, 8))
    changed = x.clone()
    changed[1, 2] += 1e-3
    assert fingerprint("a", x) != fingerprint("a", changed) != fingerprint("b", changed)
    assert fingerprint(x) != fingerprint(x.double())  # the dtype counts, not only the bytes
    builds = []
    key = fingerprint("test", x, torch.randn(3))
    first = remembered(key, lambda: builds.append(1) or "model")
    assert remembered(key, lambda: builds.append(2) or "other") == first == "model"
    assert builds == [1]
