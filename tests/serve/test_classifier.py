"""The classifier behind the routes: one reply per request, in order, never an exception; an
engine failure is a 500 for its batch while the next request is served (end to end through a
real service)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import effnet
from effnet.data import Preprocess
from effnet.deploy.metadata import info_for_model
from effnet.deploy.torchscript import EXTRA_FILE
from effnet.serve.classifier import Classifier

from .service import COFFEE, start


class FailsOnFlatImages(nn.Module):
    """A classifier whose engine raises on an image of one colour, as a broken engine would."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x.amax(dim=(2, 3)) == x.amin(dim=(2, 3))).all()):  # every channel constant
            raise RuntimeError("engine failure on a flat image")
        return self.net(x)


@pytest.fixture(scope="module")
def failing_file(tmp_path_factory):
    """A TorchScript file with effnet's metadata whose engine fails on flat images."""
    torch.manual_seed(0)
    net = effnet.create_model("efficientnet_b0", num_classes=3).eval()
    net.class_names, net.preprocess = ["a", "b", "c"], Preprocess(32)
    info = info_for_model(net, "torchscript", "fp32")
    traced = torch.jit.trace(net, torch.randn(2, 3, 32, 32), check_trace=False)
    scripted = torch.jit.script(FailsOnFlatImages(traced))
    path = tmp_path_factory.mktemp("failing") / "model.pt"
    torch.jit.save(scripted, str(path), _extra_files={EXTRA_FILE: info.to_json()})
    return path


def png(color) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 40), color).save(out, format="PNG")
    return out.getvalue()


def test_engine_failure_is_a_500_and_the_next_request_is_served(failing_file):
    service, _ = start("--weights", str(failing_file), "--max-batch", "1")
    try:
        reply = service.predict(png((10, 200, 30)), "image/png")
        assert reply.status == 500
        assert "inference failed" in reply.body["error"] and "flat image" in reply.body["error"]
        photo = np.asarray(Image.open(io.BytesIO(COFFEE)))
        ok = service.predict(COFFEE)
        assert ok.status == 200 and len(ok.body["predictions"]) == 3, ok.body
        assert photo.std() > 0  # the photo is not flat, so the engine took it
        assert service.metrics()["effnet_requests_total{status=500}"] == 1
    finally:
        assert service.stop() == 0


def test_answer_replies_in_order_and_marks_each_batch_once():
    torch.manual_seed(0)
    net = effnet.create_model("efficientnet_b0", num_classes=3).eval()
    net.class_names, net.preprocess = ["a", "b", "c"], Preprocess(32)
    classifier = Classifier(net)
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    replies = classifier.answer([(pixels[0], 1), (pixels[1], 3), (pixels[2], 2)])
    assert [len(r["body"]["predictions"]) for r in replies] == [1, 3, 2]
    assert [r["first"] for r in replies] == [True, False, False]
    assert {r["batch"] for r in replies} == {3} and {r["status"] for r in replies} == {200}
    alone = classifier.answer([(pixels[1], 3)])[0]["body"]["predictions"]
    together = replies[1]["body"]["predictions"]
    assert [p["index"] for p in alone] == [p["index"] for p in together]
    assert [p["probability"] for p in alone] == pytest.approx(
        [p["probability"] for p in together], abs=1e-6
    )


def test_an_engine_error_becomes_one_line_500s_for_its_batch():
    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("first line of a traceback\n  more\nValueError: the real cause")

    broken = Broken()
    broken.spec = effnet.get_spec("efficientnet_b0")
    broken.class_names, broken.preprocess = ["a", "b"], Preprocess(32)
    broken.labels = lambda: ["a", "b"]
    pixels = np.zeros((32, 32, 3), np.uint8)
    replies = Classifier(broken).answer([(pixels, 1), (pixels, 1)])
    assert [r["status"] for r in replies] == [500, 500]
    assert replies[0]["body"] == {"error": "inference failed: ValueError: the real cause"}
