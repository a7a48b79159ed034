"""Prometheus metrics of one service process, in a registry of its own.

Requests by status, request latency, batch sizes and the queue depth (requests accepted and not
yet answered): what an operator needs to see load, errors and whether batching works.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServeMetrics:
    """The four series ``/metrics`` shows, and its text."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "effnet_requests", "Requests answered, by HTTP status", ["status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "effnet_request_duration_seconds", "Time from request to answer",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.batch_size = Histogram(
            "effnet_batch_size", "Images per inference batch", buckets=BATCH_BUCKETS,
            registry=self.registry,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "effnet_queue_depth", "Requests waiting for or in inference", registry=self.registry
        )

    def answered(self, status: int, started: float) -> None:
        self.requests.labels(status=str(status)).inc()
        self.latency.observe(time.perf_counter() - started)

    @contextmanager
    def queued(self) -> Iterator[None]:
        self.queue_depth.inc()
        try:
            yield
        finally:
            self.queue_depth.dec()

    def text(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
