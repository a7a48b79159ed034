"""The same service as a Ray Serve deployment: replicas on a local Ray or on a cluster.

Each replica loads and warms the model, serves the routes of :mod:`.endpoints` (decoding in a
thread, off its event loop) and batches with ``serve.batch``; the model runs in a thread too, so a
replica keeps accepting while it computes. Ray Serve's proxy spreads requests over the replicas;
``/metrics`` reports the replica that answers it.
"""

# No ``from __future__ import annotations``: FastAPI reads the route methods' annotations as
# objects through Ray Serve's ingress wrapper.
import asyncio
import os
import signal
import sys
import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

# Ray's native crash handler turns the SIGTERM that stops a service into a stack dump and an
# abort; Ray reads this switch when it is first imported, so it is set before that.
os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
from ray import serve
from starlette.responses import Response

from .classifier import Classifier
from .endpoints import Routes
from .options import ServeOptions

APP_NAME = "effnet"
app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@serve.deployment(name="classifier")
@serve.ingress(app)
class ClassifierDeployment:
    """One replica: the model on its engine behind the shared routes."""

    def __init__(self, options: ServeOptions) -> None:
        self.classifier = Classifier.load(options)
        self.classifier.warm_up(options.max_batch)
        self.routes = Routes(self.classifier.card, options)
        self.infer.set_max_batch_size(options.max_batch)
        self.infer.set_batch_wait_timeout_s(options.max_wait_ms / 1000)

    @app.post("/predict")
    async def predict(self, request: Request) -> Response:
        return await self.routes.predict(request, self.infer)

    @app.get("/healthz")
    async def healthz(self) -> Response:
        return JSONResponse({"status": "ok"})

    @app.get("/metrics")
    async def metrics(self, request: Request) -> Response:
        return await self.routes.metrics_text(request)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.01)
    async def infer(self, items: list[tuple[Any, int]]) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.classifier.answer, items)


def deployment(options: ServeOptions) -> Any:
    """The bound application for ``options`` (what ``serve.run`` takes)."""
    return ClassifierDeployment.options(
        num_replicas=options.replicas,
        max_ongoing_requests=max(4 * options.max_batch, 64),
        graceful_shutdown_timeout_s=options.drain_s,
        ray_actor_options={"num_cpus": options.threads or 1},
    ).bind(options)


def start(options: ServeOptions, address: str, stopping: threading.Event | None = None) -> None:
    """Connect to Ray (``"local"`` starts one on this machine) and deploy; returns when every
    replica is warm. ``stopping`` is set by SIGTERM or Ctrl-C from the moment Ray is connected
    (``ray.init`` installs a handler of its own that would exit at once, and the first replica
    serves requests while ``serve.run`` still waits for the others)."""
    import ray

    if address == "local":
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)
    if stopping is not None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
    serve.start(http_options={"host": options.host, "port": options.port})
    serve.run(deployment(options), name=APP_NAME, route_prefix="/", blocking=False)


def stop(local: bool) -> None:
    """Remove the deployment (replicas finish their requests first); stop a local Ray."""
    import ray

    serve.shutdown()
    if local:
        ray.shutdown()


def run_ray(options: ServeOptions, address: str) -> int:
    """Serve on Ray until SIGTERM or Ctrl-C, then drain and return 0."""
    stopping = threading.Event()
    start(options, address, stopping)
    where = "a local Ray" if address == "local" else f"Ray at {address}"
    print(f"effnet serve: {options.weights} on {where}, {options.replicas} replica(s), at "
          f"http://{options.host}:{options.port}", file=sys.stderr)  # fmt: skip
    stopping.wait()
    stop(address == "local")
    print("effnet serve: stopped", file=sys.stderr)
    return 0
