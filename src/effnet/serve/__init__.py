"""``effnet serve``: a classification service over HTTP, on one machine or on Ray Serve.

The pieces, each with one job: :mod:`.options` (what a service is configured with, checked
before anything starts), :mod:`.uploads` (an HTTP request -> model-ready pixels, or a 4xx with a
one-line reason), :mod:`.classifier` (a loaded model answering batches), :mod:`.metrics`
(Prometheus text), :mod:`.endpoints` (the routes, shared by both servers), :mod:`.lit` (LitServe:
batching and an inference worker process on one machine) and :mod:`.ray_app` (the same routes as
a Ray Serve deployment with replicas).
"""

from __future__ import annotations

from .options import ServeOptions

__all__ = ["ServeOptions", "serve"]


def serve(options: ServeOptions, ray_address: str | None = None) -> int:
    """Run the service until SIGTERM or Ctrl-C (blocking); ``ray_address`` ("local" or an address
    such as ``ray://head:10001``) runs it as a Ray Serve deployment instead. Returns the exit code:
    0 after a clean drain."""
    options.validate()
    _require("serve", "litserve", "prometheus_client", "python_multipart", "fastapi")
    if ray_address is not None:
        _require("ray", "ray")
        from .ray_app import run_ray

        return run_ray(options, ray_address)
    from .lit import run_lit

    return run_lit(options)


def _require(extra: str, *modules: str) -> None:
    """A one-line install hint (:class:`MissingEngineError`) for a missing serving package."""
    import importlib.util

    from ..deploy.metadata import MissingEngineError

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingEngineError(
            f"effnet serve needs {', '.join(missing)}: pip install 'effnet[{extra}]'"
        )
