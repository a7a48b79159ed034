"""``effnet serve`` on one machine (LitServe), with the real ImageNet Lite0 weights: right answers
as raw body and multipart, health and metrics, batching under 32 concurrent clients, every kind of
bad input refused with its 4xx while the service keeps serving, the API key, and SIGTERM with
requests in flight (all answered, exit 0)."""

from __future__ import annotations

import io
import signal
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from .service import COFFEE, LITE0, jpeg, start

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def service():
    # --max-body-mb 1 and --max-image-pixels 1,000,000 make the limits testable with small bodies
    # (the coffee photo is 600x400 = 240,000 pixels, 60 KB).
    svc, seen = start(
        "--weights", LITE0, "--backend", "eager", "--max-batch", "16", "--max-wait-ms", "20",
        "--max-body-mb", "1", "--max-image-pixels", "1000000", key=KEY,
    )  # fmt: skip
    svc.health_seen = seen
    yield svc
    assert svc.stop() == 0, svc.output()


def assert_espresso(reply, top_k=5):
    assert reply.status == 200, reply.body
    assert reply.body["model"] == "efficientnet_lite0"
    top = reply.body["predictions"]
    assert len(top) == top_k
    assert top[0]["label"] == "espresso" and top[0]["index"] == 967
    assert top[0]["probability"] > 0.5
    probs = [p["probability"] for p in top]
    assert probs == sorted(probs, reverse=True)


def test_coffee_is_espresso_as_raw_body_and_as_multipart(service):
    raw = service.predict(COFFEE)
    assert_espresso(raw)
    multipart = service.predict_multipart(COFFEE)
    assert_espresso(multipart)
    assert multipart.body == raw.body  # the same pixels whatever the envelope
    assert_espresso(service.predict(COFFEE, "image/png", query="?top_k=2"), top_k=2)


def test_served_probabilities_equal_effnet_predict(service, tmp_path):
    """The service's split preprocessing (crop in the HTTP process, normalise per batch) gives
    the probabilities the one-image path of ``effnet predict`` gives."""
    import effnet

    path = tmp_path / "coffee.jpg"
    path.write_bytes(COFFEE)
    local = effnet.predict(effnet.load(LITE0), [path], top_k=3)[0]
    served = service.predict(COFFEE, query="?top_k=3").body["predictions"]
    assert [p["index"] for p in served] == local.indices
    assert [p["probability"] for p in served] == pytest.approx(local.probabilities, abs=1e-6)


def test_health_and_metrics(service):
    assert service.health_seen[-1] == 200
    assert set(service.health_seen) <= {None, 503, 200}  # refused, then not ready, then ready
    assert service.request("/healthz", key=None)[0] == 200  # health needs no key
    service.predict(COFFEE)
    metrics = service.metrics()
    assert metrics["effnet_requests_total{status=200}"] >= 1
    assert metrics["effnet_request_duration_seconds_count"] >= 1
    assert metrics["effnet_batch_size_count"] >= 1
    assert metrics["effnet_queue_depth"] == 0  # nothing in flight now


def test_32_concurrent_clients_are_batched(service):
    before = service.metrics()
    with ThreadPoolExecutor(32) as pool:
        replies = list(pool.map(lambda _: service.predict(COFFEE), range(64)))
    for reply in replies:
        assert_espresso(reply)
    after = service.metrics()
    batches = after["effnet_batch_size_count"] - before["effnet_batch_size_count"]
    images = after["effnet_batch_size_sum"] - before["effnet_batch_size_sum"]
    assert images == 64
    assert batches < 64  # some batches held more than one request
    assert after["effnet_batch_size_bucket{le=1.0}"] - before[
        "effnet_batch_size_bucket{le=1.0}"
    ] < (batches)


def truncated_jpeg() -> bytes:
    return COFFEE[: len(COFFEE) // 2]


def png_bomb(width=100_000, height=100_000) -> bytes:
    """A 100-byte PNG whose header declares 10^10 pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def big_image() -> bytes:
    """1,200 x 1,000 = 1.2 M pixels: over the fixture's --max-image-pixels, under its body limit."""
    out = io.BytesIO()
    Image.new("RGB", (1200, 1000), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


BAD_INPUTS = {
    "not an image": (b"hello, this is text", "image/jpeg", 400, "not an image"),
    "truncated image": (truncated_jpeg(), "image/jpeg", 400, "damaged image"),
    "decompression bomb": (png_bomb(), "image/png", 413, "pixels"),
    "over --max-image-pixels": (big_image(), "image/png", 413, "1,000,000 pixels"),
    "over --max-body-mb": (np.random.default_rng(0).bytes(2 << 20), "image/jpeg", 413, "limit"),
    "wrong content type": (COFFEE, "text/plain", 415, "not an image"),
    "no content type": (COFFEE, "", 415, "not an image"),
    "empty body": (b"", "image/jpeg", 400, "empty body"),
    "bad multipart": (b"--x\r\nnot really", "multipart/form-data; boundary=x", 400, "multipart"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_gets_its_4xx_and_the_next_request_succeeds(service, case):
    data, content_type, status, words = BAD_INPUTS[case]
    reply = service.predict(data, content_type)
    assert reply.status == status, reply.body
    assert list(reply.body) == ["error"] and words in reply.body["error"]
    assert "\n" not in reply.body["error"]
    assert_espresso(service.predict(COFFEE))


def test_multipart_without_the_file_field_and_bad_top_k(service):
    reply = service.predict_multipart(COFFEE, field="image")
    assert reply.status == 400 and "'file'" in reply.body["error"]
    for bad in ("0", "-1", "two"):
        reply = service.predict(COFFEE, query=f"?top_k={bad}")
        assert reply.status == 400 and "top_k" in reply.body["error"]
    assert_espresso(service.predict(COFFEE))


def test_api_key(service):
    for key in (None, "wrong-key"):
        reply = service.predict(COFFEE, key=key)
        assert reply.status == 401 and "API key" in reply.body["error"]
        assert reply.headers.get("www-authenticate") == "Bearer"
        assert service.request("/metrics", key=key)[0] == 401
    assert_espresso(service.predict(COFFEE))
    metrics = service.metrics()
    assert metrics["effnet_requests_total{status=401}"] >= 2


def test_jpeg_helper_is_a_real_photo():
    """The fixture's photo decodes to the coffee picture (guards the helper the tests rely on)."""
    assert Image.open(io.BytesIO(jpeg(np.zeros((8, 8, 3), np.uint8)))).size == (8, 8)


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
