"""A detector checkpoint goes through the commands a classifier's does: ``eval`` scores COCO mAP
as detection's own evaluation does, ``export`` writes an ONNX file that ONNX Runtime runs as
PyTorch does, ``detect --out`` draws, ``predict`` points to ``detect``, ``models`` lists D0-D7."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from effnet.cli import main
from effnet.detection.checkpoint import load_detector
from effnet.detection.evaluate import evaluate_detector
from effnet.detection.export import FlatOutputs
from tests.cli.test_startup import run_without_torch
from tests.detection.cocofiles import detector, shapes_folder


@pytest.fixture(scope="module")
def det(tmp_path_factory):
    """A D0 at 32 px (seeded, untrained) and a COCO folder of 3 shapes images."""
    root = tmp_path_factory.mktemp("detector")
    shapes_folder(root / "val", "val")
    return root / "val", detector(root / "det.safetensors", seed=3)


def test_eval_scores_as_detections_own_evaluation(det, capsys):
    folder, weights = det
    expected = evaluate_detector(load_detector(weights)[0], folder)
    assert expected.map50 > 0  # some box of the random detector hits, so equality means something
    assert main(["eval", str(folder), "--weights", str(weights), "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out) == expected.to_dict()
    assert main(["eval", str(folder), "--weights", str(weights)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"efficientdet_d0 at 32px from {weights}\n") and "(3 images)" in out
    args = ["eval", str(folder), "--weights", str(weights), "--backend", "onnxruntime"]
    assert main(args) == 2
    assert "evaluated in PyTorch only" in capsys.readouterr().err


@pytest.mark.engines
def test_export_writes_onnx_that_onnxruntime_runs_as_pytorch(det, tmp_path, capsys):
    import onnxruntime

    _, weights = det
    out = tmp_path / "det.onnx"
    assert main(["export", "--weights", str(weights), "--format", "onnx", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out} (onnx fp32" in printed and "4 class logits + 4 box codes" in printed
    model = FlatOutputs(load_detector(weights)[0]).eval()
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        expected = model(x).numpy()
    assert got.shape == expected.shape == (2, expected.shape[1], 8)
    assert np.abs(got - expected).max() < 1e-4 and np.abs(expected).max() > 1.0
    assert main(["export", "--weights", str(weights), "--format", "tflite"]) == 2
    assert "exported to onnx at fp32 only" in capsys.readouterr().err
    # A detector named by --model takes the same route (a random one, as for classifiers).
    assert main(["export", "--model", "efficientdet_d0", "--format", "openvino"]) == 2
    assert "efficientdet_d0 is a detector: it is exported to onnx" in capsys.readouterr().err
    assert main(["export", "--weights", str(weights), "--opset", "18"]) == 2
    assert "drop --opset" in capsys.readouterr().err


def test_detect_writes_to_out_and_output_is_a_deprecated_alias(det, tmp_path, capsys):
    folder, weights = det
    image = folder / "images" / "000000.png"
    out = tmp_path / "boxes.png"
    args = ["detect", str(image), "--weights", str(weights), "--threshold", "0.01"]
    assert main([*args, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"detections above 0.01: {out}" in captured.out and captured.err == ""
    assert Image.open(out).format == "PNG"
    old = tmp_path / "old.png"
    assert main([*args, "-o", str(old)]) == 0
    captured = capsys.readouterr()
    assert captured.err == "effnet detect: -o/--output is deprecated; use --out\n"
    assert old.read_bytes() == out.read_bytes()  # the same drawing
    assert main([*args, "--out", str(out), "--output", str(old)]) == 2


def test_predict_on_a_detector_points_to_detect_in_one_line(det, capsys):
    folder, weights = det
    image = str(folder / "images" / "000000.png")
    assert main(["predict", image, "--weights", str(weights)]) == 2
    err = capsys.readouterr().err
    assert f"run 'effnet detect IMAGE --weights {weights}'" in err and err.count("\n") == 1
    # Commands that run classifiers only say so, instead of asking for --model.
    assert main(["cam", image, "--weights", str(weights)]) == 2
    err = capsys.readouterr().err
    assert "is a detector checkpoint, not a classifier's" in err and err.count("\n") == 1


def test_models_lists_detectors_without_torch(capsys):
    assert main(["models", "efficientdet*"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["detector", "res", "backbone"]
    rows = {line.split()[0]: line.split() for line in lines[1:9]}
    assert list(rows) == [f"efficientdet_d{i}" for i in range(8)]
    # D3: 896 px on B3, BiFPN 160 x 6, the paper's 12M parameters and 25B FLOPs, 47.1 COCO AP.
    assert rows["efficientdet_d3"][1:] == [
        "896",
        "efficientnet_b3",
        "160x6",
        "12.0",
        "25.0",
        "47.1",
    ]
    assert main(["models", "--pretrained", "efficientdet_d0"]) == 0
    out = capsys.readouterr().out
    assert "efficientdet_d0.tf_coco    512     34.2  download" in out
    argvs = [["models", "efficientdet*"], ["models", "--pretrained", "efficientdet*"], ["models"]]
    result = run_without_torch(argvs, codes={"models": 0})
    assert result.stdout.strip() == "ok", result.stderr
