"""``effnet serve --ray``: the same routes as a Ray Serve deployment with two replicas on a local
Ray instance answer the same JSON as the one-machine service, refuse the same bad input, and stop
cleanly on SIGTERM."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

import effnet

from .service import COFFEE, LITE0, start

KEY = "ray-key"
#: Starts a local Ray: run by make test in a pass of its own (Makefile), not beside other tests,
#: since Ray Serve gives up on a proxy that does not start within its 60 s on busy cores.
pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_service():
    svc, _ = start(
        "--weights", LITE0, "--backend", "eager", "--ray", "--replicas", "2", "--threads", "1",
        key=KEY,
    )  # fmt: skip
    yield svc
    assert svc.stop(timeout=120) == 0, svc.output()


def test_ray_serve_answers_the_same_json(ray_service, tmp_path):
    path = tmp_path / "coffee.jpg"
    path.write_bytes(COFFEE)
    local = effnet.predict(effnet.load(LITE0), [path], top_k=5)[0]
    with ThreadPoolExecutor(8) as pool:  # both replicas get some
        replies = list(pool.map(lambda _: ray_service.predict(COFFEE), range(16)))
    for reply in replies:
        assert reply.status == 200, reply.body
        assert reply.body["model"] == "efficientnet_lite0"
        top = reply.body["predictions"]
        assert [p["label"] for p in top] == local.labels
        assert [p["index"] for p in top] == local.indices
        assert [p["probability"] for p in top] == pytest.approx(local.probabilities, abs=1e-6)
    multipart = ray_service.predict_multipart(COFFEE, query="?top_k=1")
    assert multipart.body["predictions"][0]["label"] == "espresso"


def test_ray_serve_refuses_bad_input_and_missing_key(ray_service):
    reply = ray_service.predict(b"not an image", "image/jpeg")
    assert reply.status == 400 and reply.body["error"].startswith("not an image")
    reply = ray_service.predict(COFFEE, "text/plain")
    assert reply.status == 415
    reply = ray_service.predict(COFFEE, key=None)
    assert reply.status == 401
    assert ray_service.predict(COFFEE).status == 200
    status, body, _ = ray_service.request("/metrics")
    assert status == 200 and b"effnet_requests_total" in body
