"""What a service is configured with, validated before any process starts.

Every limit here is one a public endpoint needs: the body size and pixel count bound the memory a
single request can claim, the batch and wait bound latency, the drain bounds how long a SIGTERM
waits for requests in flight.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: The environment variable read when no ``--api-key`` is given (so the key stays out of ``ps``).
API_KEY_ENV = "EFFNET_API_KEY"
#: The hosts LitServe can bind; any other interface is named through ``--host 0.0.0.0``.
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ServeOptions:
    """How ``effnet serve`` runs: the weights and engine, batching, request limits and binding.

    ``backend``/``precision`` apply to a checkpoint (run on the fast path; ``auto`` measures the
    engines here and takes the fastest); an exported file always runs on its own engine. Left as
    None they mean "auto at fp32" for a checkpoint and "its own" for a file (:meth:`engine`).
    """

    weights: str
    model: str | None = None
    backend: str | None = None
    precision: str | None = None
    threads: int | None = None
    max_batch: int = 32
    max_wait_ms: float = 5.0
    max_image_pixels: int = 50_000_000
    max_body_mb: float = 20.0
    top_k: int = 5
    api_key: str | None = None
    host: str = LOOPBACK
    port: int = 8000
    drain_s: float = 30.0
    replicas: int = 1

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    def engine(self) -> tuple[str | None, str | None]:
        """(backend, precision) to load with: the defaults of a checkpoint filled in, a file's
        left to the file (an int8 file must not be asked for fp32)."""
        if _is_artifact(self.weights):
            return self.backend, self.precision
        return self.backend or "auto", self.precision or "fp32"

    def resolved_api_key(self) -> str | None:
        """``api_key``, else ``$EFFNET_API_KEY``; an empty value means no key."""
        return self.api_key or os.environ.get(API_KEY_ENV) or None

    def validate(self) -> None:
        """One ValueError naming the option for the first value that cannot work."""
        checks = [
            (self.max_batch >= 1, f"--max-batch must be >= 1, got {self.max_batch}"),
            (self.max_wait_ms > 0, f"--max-wait-ms must be > 0 (at 0 the worker would poll its "
             f"queue without a pause), got {self.max_wait_ms}"),
            (self.max_image_pixels >= 1, "--max-image-pixels must be positive"),
            (0 < self.max_body_mb <= 1024, f"--max-body-mb must be in (0, 1024], got "
             f"{self.max_body_mb}"),
            (self.top_k >= 1, f"--top-k must be >= 1, got {self.top_k}"),
            (1024 <= self.port <= 65535, f"--port must be in 1024-65535, got {self.port}"),
            (self.drain_s >= 0, f"--drain-s must be >= 0, got {self.drain_s}"),
            (self.replicas >= 1, f"--replicas must be >= 1, got {self.replicas}"),
            (self.threads is None or self.threads >= 1, "--threads must be positive"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if self.host not in (LOOPBACK, "0.0.0.0", "::"):
            raise ValueError(
                f"--host must be 127.0.0.1 (this machine only), 0.0.0.0 or :: (every interface), "
                f"got {self.host}"
            )
        if self.precision == "int8" and not _is_artifact(self.weights):
            raise ValueError(
                "serving int8 needs an int8 file: 'effnet export --precision int8 --calibration "
                "DATA' first, then serve that file"
            )


def _is_artifact(weights: str) -> bool:
    from ..deploy.metadata import format_for_path

    return format_for_path(weights) is not None
