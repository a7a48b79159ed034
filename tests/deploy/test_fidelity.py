"""Fidelity of reduced precision (issue 13, acceptance 1): every backend x precision agrees with
fp32 eager on >= 99% of the digits test set, fp32 backends return its logits, and int8 loses at
most 0.5 points of accuracy. Judged on B0 trained on digits (tests/deploy/digits_model.py); the
report's arithmetic is checked on hand-made logits first."""

import json

import pytest
import torch

from effnet.deploy.cpu import cpu_info
from effnet.deploy.fidelity import Fidelity, format_fidelity, measure_fidelity, write_fidelity
from effnet.deploy.fuse import fold_batchnorm
from effnet.deploy.inference import BACKEND_PRECISIONS, _build, available_backends
from tests.deploy.digits_model import load_digits

#: Calibration images for int8: NNCF's default subset size.
CALIBRATION = 300


def fixed(logits):
    """A 'model' that ignores its input and returns the next rows of ``logits``."""
    rows = iter(logits)
    return lambda images: torch.stack([next(rows) for _ in range(len(images))])


def test_agreement_accuracy_and_top5_on_known_logits():
    reference = torch.tensor([[5.0, 4, 3, 2, 1, 0], [0, 1, 2, 3, 4, 5], [1, 0, 0, 0, 0, 0]])
    # Row 0: same top-1, top-5 loses class 4 for class 5; row 1: top-1 swapped, same top-5 set;
    # row 2: identical.
    candidate = torch.tensor([[5.0, 4, 3, 2, 0, 1], [0, 1, 2, 3, 5.5, 5], [1, 0, 0, 0, 0, 0]])
    labels = torch.tensor([0, 5, 1])
    images = torch.zeros(3, 1)
    row = measure_fidelity(fixed(candidate), fixed(reference), [(images, labels)], "c", "toy")
    assert row.images == 3
    assert row.top1_agreement == pytest.approx(2 / 3)
    assert row.top5_agreement == pytest.approx((4 / 5 + 1 + 1) / 3)
    assert row.accuracy == pytest.approx(1 / 3) and row.reference_accuracy == pytest.approx(2 / 3)
    assert row.accuracy_drop == pytest.approx(100 / 3)
    assert row.max_abs_diff == pytest.approx(1.5)


def test_unlabelled_images_have_no_accuracy(tmp_path):
    logits = torch.randn(4, 10)
    row = measure_fidelity(fixed(logits), fixed(logits), torch.zeros(4, 1), "same", "photos")
    assert row.top1_agreement == 1.0 and row.top5_agreement == 1.0 and row.max_abs_diff == 0
    assert row.accuracy is None and row.accuracy_drop is None
    table = format_fidelity([row])
    assert "| same | photos | 4 | 100.00 | 100.00 | - | - | - | 0 |" in table
    write_fidelity(tmp_path / "r.json", [row])
    assert json.loads((tmp_path / "r.json").read_text())[0]["top1_agreement"] == 1.0
    assert (tmp_path / "r.md").read_text().startswith("| model | data |")


def test_no_images_is_an_error():
    with pytest.raises(ValueError, match="no images"):
        measure_fidelity(fixed([]), fixed([]), [])


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def pairs() -> list[tuple[str, str]]:
    """Every installed backend at every precision it runs (compile: tests/deploy/test_inference);
    int8 everywhere (quantization is the same arithmetic without VNNI, only slower), bf16 where
    the CPU has it (elsewhere OpenVINO refuses it and eager bf16 is emulated)."""
    return [
        (b, p)
        for b in available_backends()
        if b != "compile"
        for p in BACKEND_PRECISIONS[b]
        if p != "bf16" or cpu_info().has_bf16
    ]


@pytest.mark.parametrize(("backend", "precision"), pairs())
def test_every_backend_and_precision_is_faithful_on_digits(digits, backend, precision):
    model = digits.model
    folded = fold_batchnorm(model, strict=False).to(memory_format=torch.channels_last)
    runner = _build(backend, folded, 2, precision, digits.calibration(CALIBRATION))
    row: Fidelity = measure_fidelity(runner, model, digits.test_batches(), backend, "digits test")
    assert row.images == 360
    assert row.reference_accuracy >= 0.97  # a trained model, so agreement means something
    assert row.top1_agreement >= 0.99, row
    if precision == "fp32":
        with torch.no_grad():
            scale = max(1.0, float(model(digits.test_images[:64]).abs().max()))
        assert row.top1_agreement == 1.0 and row.max_abs_diff <= 1e-4 * scale, row
    if precision == "int8":
        assert row.accuracy_drop <= 0.5, row
