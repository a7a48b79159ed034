"""The service's routes, written once for both servers (LitServe and Ray Serve).

Each server supplies ``infer``: an awaitable from one prepared request ``(pixels, top_k)`` to its
reply dict (:meth:`effnet.serve.classifier.Classifier.answer`), batched by that server's own
machinery. Everything before it (auth, body, content type, decoding in a thread off the event
loop) and after it (status, JSON, metrics) is here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .classifier import ModelCard
from .metrics import ServeMetrics
from .options import ServeOptions
from .uploads import RequestError, check_api_key, image_bytes, prepare, top_k_of

Infer = Callable[[tuple[Any, int]], Awaitable[dict[str, Any]]]


class Routes:
    """``POST /predict`` and ``GET /metrics`` of one service process."""

    def __init__(self, card: ModelCard, options: ServeOptions) -> None:
        self.card = card
        self.options = options
        self.api_key = options.resolved_api_key()
        self.metrics = ServeMetrics()

    async def predict(self, request: Request, infer: Infer) -> Response:
        started = time.perf_counter()
        try:
            status, body = await self._predict(request, infer)
        except Exception as err:  # the service answers; it never drops a connection
            status, body = 500, {"error": f"internal error: {type(err).__name__}: {err}"[:300]}
        self.metrics.answered(status, started)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(body, status_code=status, headers=headers)

    async def _predict(self, request: Request, infer: Infer) -> tuple[int, dict[str, Any]]:
        options = self.options
        try:
            check_api_key(request, self.api_key)
            top_k = top_k_of(request, options.top_k, len(self.card.class_names))
            data = await image_bytes(request, options.max_body_bytes)
            pixels = await asyncio.to_thread(
                prepare, data, self.card.preprocess, options.max_image_pixels
            )
        except RequestError as err:
            return err.status, {"error": err.message}
        with self.metrics.queued():
            reply = await infer((pixels, top_k))
        if reply.get("first"):
            self.metrics.batch_size.observe(reply["batch"])
        return reply["status"], reply["body"]

    async def metrics_text(self, request: Request) -> Response:
        try:
            check_api_key(request, self.api_key)
        except RequestError as err:
            return JSONResponse({"error": err.message}, status_code=err.status)
        text, content_type = self.metrics.text()
        return Response(text, media_type=content_type)
