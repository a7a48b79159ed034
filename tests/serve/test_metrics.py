"""ServeMetrics: the four series, in Prometheus text that Prometheus's own parser reads."""

from __future__ import annotations

import time

from effnet.serve.metrics import ServeMetrics

from .service import parse_metrics


def samples(metrics: ServeMetrics) -> dict:
    text, content_type = metrics.text()
    assert content_type.startswith("text/plain")
    return parse_metrics(text.decode())


def test_requests_latency_batches_and_queue_depth():
    metrics = ServeMetrics()
    started = time.perf_counter()
    metrics.answered(200, started)
    metrics.answered(200, started)
    metrics.answered(413, started)
    metrics.batch_size.observe(8)
    with metrics.queued(), metrics.queued():
        assert samples(metrics)["effnet_queue_depth"] == 2
    found = samples(metrics)
    assert found["effnet_requests_total{status=200}"] == 2
    assert found["effnet_requests_total{status=413}"] == 1
    assert found["effnet_request_duration_seconds_count"] == 3
    assert found["effnet_batch_size_sum"] == 8 and found["effnet_batch_size_bucket{le=4.0}"] == 0
    assert found["effnet_queue_depth"] == 0


def test_each_service_has_its_own_registry():
    first, second = ServeMetrics(), ServeMetrics()
    first.answered(200, time.perf_counter())
    assert "effnet_requests_total{status=200}" not in samples(second)
