"""The eager, compile and ONNX Runtime runners at their precisions (their fp32 logits against eager
on B0 and B2 are tests/deploy/test_inference.py)."""

import sys

import pytest
import torch

import effnet
from effnet.deploy.cpu import cpu_info
from effnet.deploy.fuse import fold_batchnorm
from effnet.deploy.runners import EagerRunner, OnnxRuntimeRunner, import_onnxruntime
from tests.deploy.test_inference import mini_efficientnet
from tests.photo_inputs import photos, with_statistics


@pytest.fixture(scope="module")
def mini():
    images = photos(48)
    model = with_statistics(effnet.create_model(mini_efficientnet(), num_classes=10), images)
    folded = fold_batchnorm(model).to(memory_format=torch.channels_last)
    with torch.no_grad():
        return folded, images, model(images)


def test_eager_bf16_computes_in_bf16_and_returns_fp32(mini):
    folded, images, expected = mini
    runner = EagerRunner(folded, "bf16")
    assert runner.module is not folded and next(runner.module.parameters()).dtype == torch.bfloat16
    assert next(folded.parameters()).dtype == torch.float32  # the fp32 module is untouched
    got = runner(images)
    assert got.dtype == torch.float32 and torch.equal(got.argmax(1), expected.argmax(1))
    assert 0 < (got - expected).abs().max() < 0.1 * expected.abs().max()
    assert EagerRunner(folded).module is folded  # fp32: no copy
    with pytest.raises(ValueError, match="eager runs fp32 or bf16, not 'int8'"):
        EagerRunner(folded, "int8")


def test_onnxruntime_int8_keeps_the_top1_and_its_graph(mini):
    folded, images, expected = mini
    runner = OnnxRuntimeRunner(folded, threads=2, precision="int8", calibration=images)
    got = runner(images)
    assert torch.equal(got.argmax(1), expected.argmax(1))
    assert 0 < (got - expected).abs().max() < 0.2 * expected.abs().max()
    (graph,) = runner.graphs.values()
    assert b"QuantizeLinear" in graph  # the QDQ model is what the session runs


def test_onnxruntime_precisions_and_missing_install(mini, monkeypatch):
    folded = mini[0]
    with pytest.raises(ValueError, match="int8 needs calibration images"):
        OnnxRuntimeRunner(folded, 2, precision="int8")
    with pytest.raises(ValueError, match="onnxruntime runs fp32 or int8, not 'bf16'"):
        OnnxRuntimeRunner(folded, 2, precision="bf16")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match="pip install onnxruntime"):
        import_onnxruntime()
    assert cpu_info().supports("fp32")
