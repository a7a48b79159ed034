"""A loaded classifier answering batches of prepared images, one dict per request.

:class:`ModelCard` is what the HTTP side needs (name, classes, preprocessing) without an engine;
:class:`Classifier` holds the engine. :meth:`Classifier.answer` never raises: a failure inside the
engine becomes a 500 for the requests of that batch, and the next batch is served as usual.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from ..data.preprocess import Preprocess
from .options import ServeOptions


@dataclass(frozen=True)
class ModelCard:
    """What a served model is, as the routes report and prepare for it."""

    name: str
    class_names: tuple[str, ...]
    preprocess: Preprocess
    backend: str
    precision: str

    @classmethod
    def of(cls, model: Any) -> ModelCard:
        from ..weights.hub import preprocess_for

        backend = getattr(model, "backend", "eager")
        precision = getattr(model, "precision", "fp32")
        name = getattr(model, "name", None) or model.spec.name
        return cls(name, tuple(model.labels()), preprocess_for(model), backend, precision)


def load_model(options: ServeOptions, engine: bool = True) -> Any:
    """The model ``options`` name: on its engine (``engine=True``, what the inference worker
    runs) or as stored (for its card: the checkpoint in PyTorch, or the artifact on its own
    engine), through the one loader every command uses."""
    from ..deploy.artifact import load_for_inference

    if not engine:
        return load_for_inference(options.weights, options.model, "cpu")
    backend, precision = options.engine()
    return load_for_inference(
        options.weights, options.model, "cpu", backend, precision, None, options.threads
    )


class Classifier:
    """A model on its engine, answering lists of ``(pixels, top_k)`` requests as one batch."""

    def __init__(self, model: Any) -> None:
        self.model = model.eval()
        self.card = ModelCard.of(model)

    @classmethod
    def load(cls, options: ServeOptions) -> Classifier:
        return cls(load_model(options))

    def probabilities(self, pixels: list[Any]) -> Any:
        """Softmax over the classes for a list of uint8 ``(H, W, C)`` arrays, as one batch."""
        import numpy as np
        import torch

        from ..data.preprocess import normalize_batch

        batch = normalize_batch(torch.from_numpy(np.stack(pixels)), self.card.preprocess)
        with torch.no_grad():
            return self.model(batch).float().softmax(dim=1)

    def answer(self, requests: list[tuple[Any, int]]) -> list[dict[str, Any]]:
        """One reply per request, in order: ``{"status", "body", "batch", "first"}`` (the batch's
        size, and whether this is its first request, so that a batch is counted once); never
        raises."""
        try:
            probs = self.probabilities([pixels for pixels, _ in requests])
        except Exception as err:  # an engine failure must not take the service down
            message = f"inference failed: {_last_line(err)}"
            print(f"effnet serve: {message}", file=sys.stderr)
            failed = {"error": message}
            return [_reply(500, failed, len(requests), i) for i in range(len(requests))]
        return [
            _reply(200, self.reply(row, k), len(requests), i)
            for i, (row, (_, k)) in enumerate(zip(probs, requests, strict=True))
        ]

    def reply(self, probs: Any, top_k: int) -> dict[str, Any]:
        """The JSON body of one answer: the model and its ``top_k`` classes, most probable first."""
        top = probs.topk(min(top_k, len(self.card.class_names)))
        return {
            "model": self.card.name,
            "predictions": [
                {"label": self.card.class_names[i], "index": i, "probability": p}
                for p, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
            ],
        }

    def warm_up(self, max_batch: int) -> None:
        """Run batch sizes 1 and ``max_batch`` once, so the first requests pay no engine set-up
        (the service reports healthy only after this)."""
        import numpy as np

        size = self.card.preprocess.resolution
        shape = (size, size, len(self.card.preprocess.mean))
        noise = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        for n in sorted({1, max_batch}):
            self.probabilities([noise] * n)


def _reply(status: int, body: dict[str, Any], batch: int, position: int) -> dict[str, Any]:
    return {"status": status, "body": body, "batch": batch, "first": position == 0}


def _last_line(err: BaseException) -> str:
    """An engine's error as one line: a TorchScript or ONNX Runtime error's last line names the
    failure (the lines above it are the interpreter's traceback)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[-1] if lines else type(err).__name__
    return (text if ":" in text else f"{type(err).__name__}: {text}")[:200]
