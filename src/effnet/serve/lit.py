"""The service on one machine: LitServe's HTTP server, batching loop and inference worker.

LitServe runs the model in a worker process of its own and batches the requests waiting for it
(up to ``max_batch``, within ``max_wait_ms``). Its own ``/predict`` reads every non-form body as
JSON, so the routes here are a LitServe *spec*: they read the raw or multipart image, decode it in
a thread of the HTTP process (off the event loop, and in parallel with the worker's inference),
and put 8-bit pixels on LitServe's request queue. ``/healthz`` is LitServe's health check, which
turns 200 once the worker has loaded and warmed the model.

SIGTERM drains: the HTTP server stops accepting and finishes what is in flight (up to
``drain_s``), then LitServe stops the worker, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import uuid
from typing import Any

import litserve as ls
from litserve.specs.base import LitSpec
from litserve.utils import LitAPIStatus, ResponseBufferItem
from starlette.requests import Request
from starlette.responses import Response

from .classifier import Classifier, ModelCard, load_model
from .endpoints import Routes
from .options import ServeOptions

HEALTH_PATH = "/healthz"


class ImageRoutes(LitSpec):
    """``/predict`` and ``/metrics`` on LitServe's app and queues (see the module docstring)."""

    def __init__(self, card: ModelCard, options: ServeOptions) -> None:
        super().__init__()
        self.card, self.options = card, options
        self._routes: Routes | None = None  # made in the HTTP process, never pickled
        self.api_path = "/predict"  # LitServe's name for this API's request queue
        self.add_endpoint("/predict", self.predict, ["POST"])
        self.add_endpoint("/metrics", self.metrics, ["GET"])

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_routes"] = None
        return state

    @property
    def routes(self) -> Routes:
        if self._routes is None:
            self._routes = Routes(self.card, self.options)
        return self._routes

    async def predict(self, request: Request) -> Response:
        return await self.routes.predict(request, self._infer)

    async def metrics(self, request: Request) -> Response:
        return await self.routes.metrics_text(request)

    async def _infer(self, item: tuple[Any, int]) -> dict[str, Any]:
        """Put one request on LitServe's queue and wait for the worker's reply."""
        uid, event = uuid.uuid4(), asyncio.Event()
        self.response_buffer[uid] = ResponseBufferItem(event=event)
        self.request_queue.put_nowait((self.response_queue_id, uid, time.monotonic(), item))
        await event.wait()
        reply, status = self.response_buffer.pop(uid).response
        if status == LitAPIStatus.ERROR or not isinstance(reply, dict):
            # LitServe's own refusals (a request queued past its timeout) or a lost worker.
            code = getattr(reply, "status_code", 500)
            detail = getattr(reply, "detail", None) or "the inference worker did not answer"
            return {"status": code, "body": {"error": str(detail)}, "batch": 0, "first": False}
        return reply

    def decode_request(self, request: Any, context_kwargs: Any = None) -> Any:
        return request

    def encode_response(self, output: Any, context_kwargs: Any = None) -> Any:
        return output


class ClassifierAPI(ls.LitAPI):
    """The inference worker: loads and warms the model, answers batches of prepared requests."""

    def __init__(self, card: ModelCard, options: ServeOptions) -> None:
        super().__init__(
            max_batch_size=options.max_batch,
            batch_timeout=options.max_wait_ms / 1000,
            spec=ImageRoutes(card, options),
        )
        self.options = options

    def setup(self, device: Any) -> None:
        self.classifier = Classifier.load(self.options)
        self.classifier.warm_up(self.options.max_batch)

    def decode_request(self, request: Any, **kwargs: Any) -> Any:
        return request

    def predict(self, x: Any, **kwargs: Any) -> Any:
        # LitServe hands a list when it batches (max_batch > 1) and one request when it does not.
        if self.options.max_batch > 1:
            return self.classifier.answer(x)
        return self.classifier.answer([x])[0]

    def encode_response(self, output: Any, **kwargs: Any) -> Any:
        return output


def build_server(options: ServeOptions) -> ls.LitServer:
    """A LitServer for ``options``; the weights are read here first, so a wrong file is one
    error line before any process starts."""
    card = ModelCard.of(load_model(options, engine=False))
    server = ls.LitServer(
        ClassifierAPI(card, options),
        accelerator="cpu",
        devices=1,
        workers_per_device=1,
        healthcheck_path=HEALTH_PATH,
        disable_openapi_url=True,
        fast_queue=True,  # ZeroMQ: measured 20% more img/s at 8 clients than its default queues
    )
    server.uvicorn_graceful_timeout = options.drain_s
    return server


def run_lit(options: ServeOptions) -> int:
    """Serve until SIGTERM or Ctrl-C, then drain and return 0."""
    server = build_server(options)
    logging.getLogger("litserve").setLevel(logging.WARNING)
    draining = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if not draining.is_set():
            draining.set()
            threading.Thread(target=_drain, args=(server, options.drain_s), daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    url = f"http://{options.host}:{options.port}"
    print(f"effnet serve: {options.weights} at {url} (POST /predict, GET {HEALTH_PATH}, "
          "GET /metrics); healthy once the model is warm", file=sys.stderr)  # fmt: skip
    server.run(
        host=options.host, port=options.port, num_api_servers=1, log_level="warning",
        generate_client_file=False,
    )  # fmt: skip
    print("effnet serve: stopped", file=sys.stderr)
    return 0


def _drain(server: ls.LitServer, drain_s: float) -> None:
    """Stop the HTTP processes first (each stops accepting and finishes its requests in flight,
    which still need the worker), then let LitServe stop the rest."""
    http = [p for p in mp.active_children() if p.name.startswith("LitServer-")]
    for process in http:
        os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + drain_s + 2
    for process in http:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
    while server._shutdown_event is None:  # a signal during start-up
        time.sleep(0.05)
    server._shutdown_event.set()
