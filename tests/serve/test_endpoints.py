"""The shared routes, through Starlette's test client with a stand-in for the batching server:
statuses, JSON, headers and metrics come from here whichever server batches."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from effnet.data import Preprocess
from effnet.serve.classifier import ModelCard
from effnet.serve.endpoints import Routes
from effnet.serve.options import ServeOptions

CARD = ModelCard("tiny", ("a", "b", "c"), Preprocess(32), "eager", "fp32")


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(out, format="PNG")
    return out.getvalue()


def client(infer, **options) -> tuple[TestClient, Routes]:
    routes = Routes(CARD, ServeOptions(weights="w", **options))

    async def predict(request):
        return await routes.predict(request, infer)

    app = Starlette(
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/metrics", routes.metrics_text),
        ]
    )
    return TestClient(app), routes


@pytest.fixture
def seen():
    return []


def test_a_prepared_request_reaches_infer_and_its_reply_is_the_answer(seen):
    async def infer(item):
        seen.append(item)
        return {"status": 200, "body": {"model": "tiny"}, "batch": 4, "first": True}

    http, _ = client(infer, top_k=2)
    reply = http.post("/predict?top_k=9", content=png(), headers={"content-type": "image/png"})
    assert reply.status_code == 200 and reply.json() == {"model": "tiny"}
    ((pixels, top_k),) = seen
    assert pixels.shape == (32, 32, 3) and pixels.dtype.name == "uint8"
    assert top_k == 3  # capped at the number of classes
    metrics = http.get("/metrics").text
    assert 'effnet_requests_total{status="200"} 1.0' in metrics
    assert "effnet_batch_size_sum 4.0" in metrics


def test_refusals_never_reach_infer(seen):
    async def infer(item):
        seen.append(item)
        raise AssertionError("a refused request reached the model")

    http, _ = client(infer, api_key="k", max_body_mb=0.001)
    headers = {"content-type": "image/png", "authorization": "Bearer k"}
    assert (
        http.post("/predict", content=png(), headers={"content-type": "image/png"}).status_code
        == 401
    )
    big = http.post("/predict", content=b"x" * 5000, headers=headers)
    assert big.status_code == 413 and "limit of 1,048" in big.json()["error"]
    assert http.get("/metrics").status_code == 401
    assert http.get("/metrics", headers=headers).status_code == 200
    assert seen == []


def test_a_failure_after_the_request_was_read_is_a_500_with_a_message():
    async def infer(item):
        raise RuntimeError("worker queue closed")

    http, routes = client(infer)
    reply = http.post("/predict", content=png(), headers={"content-type": "image/png"})
    assert reply.status_code == 500
    assert reply.json() == {"error": "internal error: RuntimeError: worker queue closed"}
    assert routes.metrics.queue_depth._value.get() == 0  # released despite the failure
