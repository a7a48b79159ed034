"""``effnet quantize``: a checkpoint in, an int8 / bf16 file and its fidelity report out."""

import json

import pytest
import torch

import effnet
from effnet.cli import main
from effnet.data import Preprocess
from effnet.deploy.cpu import cpu_info
from effnet.weights import save_model
from tests.use.checkpoints import with_bn_from


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("quantize") / "b0.safetensors"
    pre = Preprocess(32)
    model = with_bn_from(effnet.create_model("efficientnet_b0", num_classes=10), pre)
    return save_model(path, model, [str(d) for d in range(10)], pre)


def test_int8_onnx_with_digits_report(checkpoint, tmp_path, capsys):
    out = tmp_path / "b0_int8"
    code = main(["quantize", "--weights", str(checkpoint), "--precision", "int8",
                 "--engine", "onnxruntime", "--calibration", "digits", "--calibration-size", "32",
                 "--eval", "digits", "--out", str(out)])  # fmt: skip
    printed, err = capsys.readouterr()
    if not cpu_info().has_vnni:  # no int8 units: refused, with the reason
        assert code == 2 and "has no int8 units" in err
        return
    assert code == 0
    assert (tmp_path / "b0_int8.onnx").is_file()
    (row,) = json.loads((tmp_path / "b0_int8.fidelity.json").read_text())
    assert row["name"] == "efficientnet_b0 onnxruntime int8" and row["images"] == 360
    assert 0 <= row["top1_agreement"] <= 1 and row["accuracy"] is not None
    table = (tmp_path / "b0_int8.fidelity.md").read_text()
    assert (
        "| efficientnet_b0 onnxruntime int8 | digits | 360 |" in table and table in printed + "\n"
    )
    assert "engine: onnxruntime int8 (onnxruntime int8 asked for)" in printed


def test_bf16_openvino_ir_or_a_clear_refusal(checkpoint, tmp_path, capsys):
    out = tmp_path / "b0_bf16"
    argv = ["quantize", "--weights", str(checkpoint), "--precision", "bf16", "--engine",
            "openvino", "--eval", "digits", "--out", str(out)]  # fmt: skip
    code = main(argv)
    if cpu_info().has_bf16:
        assert code == 0 and (tmp_path / "b0_bf16.xml").is_file()
        (row,) = json.loads((tmp_path / "b0_bf16.fidelity.json").read_text())
        assert row["name"] == "efficientnet_b0 openvino bf16" and row["images"] == 360
    else:
        assert code == 2 and "has no bf16 units" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--precision", "int8"], "int8 needs --calibration images"),
        (["--precision", "bf16", "--engine", "onnxruntime"], "bf16 is an OpenVINO precision"),
    ],
)
def test_bad_requests_are_one_line_errors(checkpoint, capsys, extra, message):
    assert main(["quantize", "--weights", str(checkpoint), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("effnet quantize: error: ") and message in err
    assert torch.get_num_threads() >= 1
