"""``effnet predict --out --ray``: the one-process run's batches on Ray Data.

Ray tasks decode and preprocess, model actors score, and this process writes each batch as it
arrives with the same writer and resume logic as the one-process run
(:func:`effnet.use.predict_stream.predict_to_file`). One Ray row is one planned batch of image
paths (:class:`~effnet.use.image_batches.AlignedBatches`), not one image: the actors then run the
model on exactly the batches the one-process run does, so the answers are the same to the last
bit, where Ray's own batching would regroup images and move the last bits of their
probabilities. A row travels as one pickled :class:`~effnet.use.image_batches.Batch`, a single
binary value to Ray. Each actor loads its model with ``loader()`` (a picklable function, such as
a partial of :func:`effnet.deploy.artifact.load_for_inference` over the weights path), because a
loaded model may hold an engine session that does not pickle; on a cluster, the weights and the
images must be at the same paths on every node.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from ..data.preprocess import Preprocess, eval_transform
from ..deploy.metadata import MissingEngineError
from .image_batches import AlignedBatches, Batch, decode_batch, model_device, score

RAY_HINT = "--ray needs Ray Data: pip install 'effnet[ray]'"
#: CPUs Ray reserves per decoding task: two tasks per CPU, as the one-process run has two decoding
#: workers beside the model on two cores; and a resource shape unlike the model actor's one CPU,
#: without which Ray fuses decoding into the actor and it no longer overlaps with the model.
DECODE_CPUS = 0.5


def import_ray() -> Any:
    """Ray, imported only when asked for; missing, one line saying how to install it."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise MissingEngineError(RAY_HINT) from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """The Ray this process is connected to, else a quiet local one (``address`` None) or the
    cluster at ``address``, shut down again on leaving."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address is None:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, **quiet)
    else:
        ray.init(address=address, **quiet)
    try:
        yield ray
    finally:
        ray.shutdown()


def _pack(batch: Batch) -> dict[str, np.ndarray]:
    return {"batch": np.array([pickle.dumps(batch)], dtype=object)}


def _unpack(rows: dict[str, np.ndarray]) -> Batch:
    (blob,) = rows["batch"]
    return pickle.loads(blob)


def decode_row(rows: dict[str, np.ndarray], preprocess: Preprocess) -> dict[str, np.ndarray]:
    """Ray task: one row's image paths decoded and preprocessed into a batch."""
    (paths,) = rows["paths"]
    return _pack(decode_batch([str(p) for p in paths], eval_transform(preprocess)))


class Scorer:
    """Ray actor: holds a model loaded with ``loader()`` and scores one batch row per call.

    ``threads``: the torch threads of the run that started it (Ray would leave a one-CPU actor
    one thread, half the one-process run's speed on two cores).
    """

    def __init__(self, loader: Callable[[], Any], k: int, threads: int) -> None:
        torch.set_num_threads(threads)
        self.model = loader()
        self.model.eval()
        self.device = model_device(self.model)
        self.k = k

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return _pack(score(self.model, _unpack(rows), self.k, self.device))


def ray_batches(
    loader: Callable[[], Any],
    paths: Sequence[str],
    plan: AlignedBatches,
    preprocess: Preprocess,
    k: int,
    address: str | None = None,
    actors: int = 1,
) -> Generator[Batch, None, None]:
    """The planned batches, decoded by Ray tasks and scored by ``actors`` model actors, in order."""
    if actors < 1:
        raise ValueError(f"--actors must be >= 1, got {actors}")
    threads = torch.get_num_threads()
    with ray_session(address) as ray, quiet_ordered(ray.data.DataContext.get_current()):
        items = [{"paths": [paths[i] for i in batch]} for batch in plan]
        data = ray.data.from_items(items).map_batches(
            decode_row,
            fn_kwargs={"preprocess": preprocess},
            batch_size=1,
            batch_format="numpy",
            num_cpus=DECODE_CPUS,
        )
        scored = data.map_batches(
            Scorer,
            fn_constructor_kwargs={"loader": loader, "k": k, "threads": threads},
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=1,
        )
        for row in scored.iter_rows():
            yield pickle.loads(row["batch"])


@contextlib.contextmanager
def quiet_ordered(context: Any) -> Iterator[None]:
    """Ray Data for one run: results in the order of the inputs (so the file is), no progress
    bars or log lines of its own (the run's bar counts images); the caller's settings after."""
    saved = context.execution_options.preserve_order, context.enable_progress_bars
    logger = logging.getLogger("ray.data")
    level = logger.level
    context.execution_options.preserve_order, context.enable_progress_bars = True, False
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars = saved
        logger.setLevel(level)
