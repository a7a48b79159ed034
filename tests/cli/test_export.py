"""``effnet export``: the file it writes runs in its own runtime and matches PyTorch."""

import numpy as np
import onnxruntime
import pytest
import torch

from effnet.cli import main
from effnet.data import Preprocess
from effnet.weights import save_model
from tests.use.checkpoints import calibrated
from tests.use.test_export import assert_onnx_graph_is_inference_only, reference_and_inputs

RESOLUTION = 128
TOLERANCE = 1e-4


def test_onnx_b0_through_the_cli_matches_pytorch_at_batch_3_and_1(tmp_path, capsys):
    model = calibrated("efficientnet_b0", RESOLUTION)
    weights = save_model(tmp_path / "b0.safetensors", model, preprocess=Preprocess(RESOLUTION))
    out = tmp_path / "b0.onnx"
    assert main(["export", "--weights", str(weights), "--format", "onnx", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    shape = f"(batch, 3, {RESOLUTION}, {RESOLUTION})"
    assert f"wrote {out} (onnx fp32, input 'images' {shape})" in printed
    assert "max abs difference vs PyTorch: batch 3:" in printed and "batch 1:" in printed
    assert not list(tmp_path.glob("*.data"))  # one self-contained file

    assert_onnx_graph_is_inference_only(out)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for batch, x, expected in reference_and_inputs(model):
        (got,) = session.run(None, {"images": x.numpy()})
        assert got.shape == (batch, 10)
        assert 0.5 < float(expected.abs().max()) < 100  # logits of a realistic scale
        assert np.abs(got - expected.numpy()).max() <= TOLERANCE


@pytest.mark.filterwarnings(
    "ignore:`torch.jit.load` is deprecated:FutureWarning"
)  # the test reads the file back
def test_random_weights_need_model_and_say_so(tmp_path, capsys):
    out = tmp_path / "b0.pt"
    argv = ["export", "--model", "efficientnet_b0", "--format", "torchscript", "--out", str(out)]
    assert main([*argv, "--resolution", "64", "--no-check"]) == 0
    printed = capsys.readouterr().out
    assert "note: no --weights given; exporting a randomly initialised efficientnet_b0" in printed
    assert "(batch, 3, 64, 64)" in printed and "max abs difference" not in printed
    loaded = torch.jit.load(str(out))
    assert loaded(torch.zeros(2, 3, 64, 64)).shape == (2, 1000)
    assert main(["export", "--format", "torchscript"]) == 2
    assert "give --model (a registered name) or --weights" in capsys.readouterr().err
