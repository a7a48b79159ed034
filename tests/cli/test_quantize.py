"""``effnet quantize``: a checkpoint in, an int8 / bf16 file and its fidelity report out."""

import json

import pytest

import effnet
from effnet.cli import main
from effnet.data import Preprocess
from effnet.weights import save_model
from tests.use.checkpoints import with_bn_from


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("quantize") / "b0.safetensors"
    pre = Preprocess(32)
    model = with_bn_from(effnet.create_model("efficientnet_b0", num_classes=10), pre)
    return save_model(path, model, [str(d) for d in range(10)], pre)


def test_int8_onnx_with_digits_report(checkpoint, tmp_path, capsys):
    out = tmp_path / "b0_int8.onnx"
    code = main(["quantize", "--weights", str(checkpoint), "--precision", "int8",
                 "--format", "onnx", "--calibration", "digits", "--calibration-size", "32",
                 "--eval", "digits", "--out", str(out)])  # fmt: skip
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert out.is_file() and effnet.load(out).precision == "int8"
    (row,) = json.loads((tmp_path / "b0_int8.onnx.fidelity.json").read_text())
    assert row["name"] == "efficientnet_b0 b0_int8.onnx" and row["images"] == 360
    assert 0 <= row["top1_agreement"] <= 1 and row["accuracy"] is not None
    table = (tmp_path / "b0_int8.onnx.fidelity.md").read_text()
    assert "| efficientnet_b0 b0_int8.onnx | digits | 360 |" in table and table in printed + "\n"


def test_bf16_openvino_ir_with_its_report(checkpoint, tmp_path, capsys):
    """Writing a bf16 IR needs no bf16 units; running it does (OpenVINO then emulates)."""
    out = tmp_path / "b0_bf16"
    argv = ["quantize", "--weights", str(checkpoint), "--precision", "bf16", "--format",
            "openvino", "--eval", "digits", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    assert (tmp_path / "b0_bf16.xml").is_file() and (tmp_path / "b0_bf16.bin").is_file()
    (row,) = json.loads((tmp_path / "b0_bf16.xml.fidelity.json").read_text())
    assert row["name"] == "efficientnet_b0 b0_bf16.xml" and row["images"] == 360


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--precision", "int8"], "int8 needs --calibration images"),
        (["--precision", "bf16", "--format", "onnx"], "onnx is written at fp32, int8, not bf16"),
        (["--precision", "fp16", "--format", "executorch"], "executorch is written at fp32, int8"),
    ],
)
def test_bad_requests_are_one_line_errors(checkpoint, capsys, tmp_path, extra, message):
    out = tmp_path / "x"
    assert main(["quantize", "--weights", str(checkpoint), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("effnet quantize: error: ") and message in err
    assert not list(tmp_path.iterdir())  # nothing written
