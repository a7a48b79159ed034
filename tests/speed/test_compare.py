"""What to deploy here: engine x precision rows of one model, timed in turn, with what each keeps,
and a recommendation that never picks a row that lost accuracy."""

import pytest
import torch

import effnet
from effnet.deploy.fidelity import Fidelity
from effnet.speed.compare import EngineRow, compare_engines, format_rows, recommend
from tests.deploy.test_inference import mini_efficientnet
from tests.photo_inputs import photos, with_statistics

pytestmark = pytest.mark.engines


@pytest.fixture(scope="module")
def mini():
    images = photos(48)
    model = with_statistics(effnet.create_model(mini_efficientnet(), num_classes=10), images)
    model.preprocess = effnet.data.Preprocess(48)
    return model.eval(), images


def test_every_row_runs_the_same_model_and_is_measured_against_fp32(mini):
    model, images = mini
    with torch.no_grad():
        labels = model(images).argmax(1)  # fp32 is right on every image by construction
    rows, _ = compare_engines(
        model, 2, 1, rounds=2, images=images, labels=labels, formats=["onnx", "torchscript"],
        precisions=["fp32"],
    )  # fmt: skip
    assert [(r.engine, r.format) for r in rows] == [
        ("eager", "-"),
        ("onnxruntime", "onnx"),
        ("torchscript", "torchscript"),
    ]
    for row in rows:
        assert row.ms_per_batch > 0 and row.images_per_s == pytest.approx(2e3 / row.ms_per_batch)
        assert row.fidelity.top1_agreement == 1.0 and row.fidelity.accuracy == 1.0
        assert row.fidelity.max_abs_diff < 1e-4
    assert rows[1].file_mb > 0 and rows[0].file_mb is None
    table = format_rows(rows, 2, 1)
    assert "top-1 %" in table and "onnxruntime" in table and "100.00" in table


def row(engine, ips, accuracy=None, agreement=1.0, precision="fp32"):
    fidelity = Fidelity(engine, "eval", 100, agreement, None, 0.0, accuracy, 0.9)
    return EngineRow(engine, precision, engine, 1e3 / ips, ips, 1.0, fidelity)


def test_the_fastest_row_within_tolerance_is_recommended_and_the_line_says_why():
    rows = [row("eager", 10, 0.9), row("a", 30, 0.897), row("b", 50, 0.88, precision="int8")]
    best, why = recommend(rows, tolerance=0.5)
    assert best.engine == "a"  # b is faster but lost 2 points
    assert "within 0.5 points" in why and "1 faster or slower row(s) lost" in why and "3.00x" in why
    best, _ = recommend(rows, tolerance=3)
    assert best.engine == "b"


def test_without_labels_agreement_decides():
    rows = [row("eager", 10), row("a", 30, agreement=0.95), row("b", 20, agreement=0.995)]
    best, why = recommend(rows)
    assert best.engine == "b" and "agreeing with fp32" in why
