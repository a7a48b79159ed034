"""The service's life: 503 until the model is warm, an engine failure answered with a 500 while
the next request is served, and SIGTERM with requests in flight (all answered, exit 0)."""

from __future__ import annotations

import io
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import effnet
from effnet.data import Preprocess
from effnet.deploy.metadata import info_for_model
from effnet.deploy.torchscript import EXTRA_FILE

from .service import COFFEE, LITE0, start


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


def test_sigterm_answers_every_request_in_flight_then_exits_0():
    """One engine thread and batches of one make 16 requests take about a second in all; the
    SIGTERM goes out while most are still queued."""
    service, seen = start(
        "--weights", LITE0, "--backend", "eager", "--threads", "1", "--max-batch", "1",
        "--drain-s", "60",
    )  # fmt: skip
    assert 200 in seen
    finished = []

    def call(_):
        reply = service.predict(COFFEE)
        finished.append(time.monotonic())
        return reply

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(call, i) for i in range(16)]
        time.sleep(0.3)  # every request sent and accepted
        signalled = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        replies = [f.result(timeout=120) for f in futures]
    assert service.process.wait(timeout=120) == 0, service.output()
    assert [r.status for r in replies] == [200] * 16
    assert {r.body["predictions"][0]["label"] for r in replies} == {"espresso"}
    assert max(finished) > signalled  # some were still in flight when the signal came
    assert "stopped" in service.output()
