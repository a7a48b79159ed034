"""``effnet predict --out``: any number of images to a results file, streamed and resumable.

Nothing here grows with the number of images but their paths: a DataLoader decodes and
preprocesses in worker processes while the model runs in this one, and each batch's answers are
appended to the output as one chunk (:mod:`effnet.use.result_files`) and dropped. A rerun
resumes: the images the output already holds are skipped. Batches are cut at fixed positions of
the image list (:class:`~effnet.use.image_batches.AlignedBatches`), so a resumed run feeds the
model exactly the batches an uninterrupted one does and writes the same answers to the last bit.
``ray=True`` runs the same batches on Ray Data (:mod:`effnet.use.predict_ray`) and writes them
here the same way.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from queue import Full, Queue
from typing import TYPE_CHECKING, Any

from ..data.images import collect_images
from ..data.loading import Skipped, SkipWarner, worker_context
from ..data.preprocess import eval_transform
from ..weights.hub import preprocess_for
from .image_batches import AlignedBatches, Batch, ImageFiles, collate, model_device, score
from .predict import input_mismatch
from .result_files import ResultsFile, check_output, error_row, open_results, prediction_row

if TYPE_CHECKING:
    from ..deploy.artifact import DeployedModel
    from ..models import EfficientNet

#: Decoding processes by default: beyond four, PNG/JPEG decoding rarely outpaces the model.
MAX_DEFAULT_WORKERS = 4
#: Cores left to the model before decoding processes get any: measured on 2 cores, two worker
#: processes ran at 0.51x the model alone and a decoding thread at 0.71x (ONNX Runtime, Lite0).
MODEL_CORES = 2
#: An input with this suffix is a list of image paths, one per line.
LIST_SUFFIX = ".txt"


def default_workers() -> int:
    """Decoding processes for the cores beyond the model's (0: a thread beside the model)."""
    return max(0, min((os.cpu_count() or 1) - MODEL_CORES, MAX_DEFAULT_WORKERS))


def read_list(path: Path) -> list[Path]:
    """The images a list file names, one per line, relative to the list's folder unless absolute;
    blank lines and lines starting with ``#`` are ignored."""
    found = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            text = line.strip()
            if text and not text.startswith("#"):
                item = Path(text)
                found.append(item if item.is_absolute() else path.parent / item)
    if not found:
        raise ValueError(f"{path} lists no images (one path per line; '#' starts a comment)")
    return found


def expand_inputs(inputs: Sequence[str | os.PathLike]) -> tuple[list[Path], set[Path]]:
    """Files, folders, globs and ``LIST.txt`` files as (image paths, the files the user named).

    A named file that cannot be read is an error; images found in a folder, glob or list are
    skipped when unreadable (a missing file in a list included), as training and eval do.
    """
    if not inputs:
        return collect_images(inputs), set()  # its one-line error
    found: list[Path] = []
    named: set[Path] = set()
    for item in inputs:
        path = Path(item)
        if path.suffix.lower() == LIST_SUFFIX and path.is_file():
            found.extend(read_list(path))
            continue
        found.extend(collect_images([item]))
        if path.is_file():
            named.add(path)
    return list(dict.fromkeys(found)), named


def model_name(model: EfficientNet | DeployedModel) -> str:
    """What every row's ``model`` says: the network, its weights and, off PyTorch, its engine."""
    if hasattr(model, "describe"):
        return model.describe()
    return f"{model.spec.name} from {model.weights_source or 'random init'}"


def local_batches(
    model: Any, paths: Sequence[str], plan: AlignedBatches, k: int, workers: int
) -> Generator[Batch, None, None]:
    """The planned batches decoded by ``workers`` processes (0: this one), scored here while a
    thread fetches the next ones (:func:`prefetched`)."""
    from torch.utils.data import DataLoader

    loader = DataLoader(
        ImageFiles(paths, eval_transform(preprocess_for(model))),
        batch_sampler=plan,
        num_workers=workers,
        collate_fn=collate,
        multiprocessing_context=worker_context(workers),
    )
    model.eval()
    device = model_device(model)
    for batch in prefetched(loader):
        yield score(model, batch, k, device)


#: Batches a fetching thread keeps ready ahead of the model.
PREFETCH = 2
_END = object()


def prefetched(batches: Iterable[Batch], depth: int = PREFETCH) -> Iterator[Batch]:
    """``batches``, taken from their iterator by a thread that stays ``depth`` batches ahead.

    With ``workers=0`` that thread decodes while the model runs (PIL's decoders and resizing, and
    torch, release the GIL); with worker processes it unpacks their batches meanwhile. On two
    cores this measured faster than worker processes, whose start and contention with the
    model's threads cost more than they save (benchmarks/RESULTS.md). An error in the thread is
    raised here; leaving early stops the thread and the DataLoader behind it.
    """
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            with contextlib.suppress(Full):
                queue.put(item, timeout=0.1)
                return True
        return False

    def fetch() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(_END)
        except BaseException as err:  # handed to the consumer, raised there
            put(err)

    thread = threading.Thread(target=fetch, name="effnet-predict-fetch", daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


class BatchWriter:
    """Turns scored batches into rows and appends them, one chunk per batch; counts what it wrote,
    warns once per unreadable image and stops at one the user named."""

    def __init__(
        self, results: ResultsFile, model: Any, named: Collection[Path], warn: Callable
    ) -> None:
        self.results, self.named, self.warn = results, named, warn
        self.names, self.preprocess = model.labels(), preprocess_for(model)
        self.written = self.skipped = 0
        self.mismatched: list[tuple[str, str]] = []

    def write(self, batch: Batch) -> None:
        rows, tops = [], zip(batch.values, batch.indices, strict=True)
        for path, error, size in zip(batch.paths, batch.errors, batch.sizes, strict=True):
            if error is not None:
                if Path(path) in self.named:
                    raise ValueError(f"{path} is not a readable image ({error})")
                self.warn(Skipped(path, error))
                self.skipped += 1
                rows.append(error_row(path, self.results.model, error))
                continue
            values, indices = next(tops)
            top = [
                {"label": self.names[i], "index": i, "probability": p}
                for p, i in zip(values, indices, strict=True)
            ]
            rows.append(prediction_row(path, self.results.model, top))
            if reason := input_mismatch(size, self.preprocess):
                self.mismatched.append((path, reason))
        self.results.append(rows)
        self.written += len(rows)

    def report_mismatch(self) -> None:
        """One line for the images unlike those a small-input model was trained on (as predict)."""
        if self.mismatched:
            (path, reason), others = self.mismatched[0], len(self.mismatched) - 1
            more = f" (and {others} more image{'s' * (others > 1)} like it)" if others else ""
            print(f"warning: {path}: {reason}{more}", file=sys.stderr)


@dataclass(frozen=True)
class StreamSummary:
    """What a run did: rows written (unreadable images included), how many of them were
    unreadable, how many the output held before, the images given, and the seconds it took."""

    out: Path
    written: int
    skipped: int
    resumed: int
    images: int
    seconds: float

    @property
    def images_per_s(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0

    def format(self) -> str:
        return (
            f"{self.written:,} images written, {self.skipped:,} skipped unreadable, "
            f"{self.images_per_s:.1f} img/s: {self.out}"
        )


def check_options(
    out: str | os.PathLike, top_k: int = 5, batch_size: int = 32, workers: int | None = None
) -> None:
    """Refuse a bad output suffix or count before anything is loaded or read."""
    check_output(out)
    if top_k < 1:
        raise ValueError(f"--top-k must be >= 1, got {top_k}")
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    if workers is not None and workers < 0:
        raise ValueError(f"--workers must be >= 0, got {workers}")


def predict_to_file(
    model: EfficientNet | DeployedModel,
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    top_k: int = 5,
    batch_size: int = 32,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    ray: bool = False,
    address: str | None = None,
    actors: int = 1,
    loader: Callable[[], Any] | None = None,
) -> StreamSummary:
    """Classify the images ``inputs`` name (files, folders, globs, ``LIST.txt``) into ``out``.

    ``out`` ends in .jsonl, .csv or .parquet. If it holds rows from an earlier run of the same
    model, those images are skipped (another model's rows are refused unless ``overwrite``, which
    starts afresh). ``workers``: decoding processes (default min(CPU count, 4); 0 decodes here).
    ``ray``: run on Ray Data instead, at ``address`` (None: a local Ray), with ``actors`` model
    replicas, each loading its model with ``loader()`` (default: ``model`` itself, pickled).
    ``progress``: a bar on stderr when it is a terminal.
    """
    check_options(out, top_k, batch_size, workers)
    paths, named = expand_inputs(inputs)
    results = open_results(out, model_name(model), overwrite)
    done = results.existing()
    texts = [str(path) for path in paths]
    plan = AlignedBatches(texts, batch_size, done.paths)
    resumed = len(texts) - plan.todo
    if done.paths:
        print(f"resuming: {resumed:,} of {len(texts):,} images already in {out}", file=sys.stderr)
    writer = BatchWriter(results, model, named, SkipWarner())
    k = min(top_k, len(writer.names))
    if ray:
        from .predict_ray import ray_batches

        batches = ray_batches(
            loader or _Given(model), texts, plan, writer.preprocess, k, address, actors
        )
    else:
        batches = local_batches(
            model, texts, plan, k, default_workers() if workers is None else workers
        )
    seconds = _write_all(batches, writer, plan.todo, resumed, len(texts), progress)
    results.finish()
    if texts and done.readable + writer.written - writer.skipped == 0:
        raise ValueError(f"none of the {len(texts)} images could be read")
    writer.report_mismatch()
    return StreamSummary(Path(out), writer.written, writer.skipped, resumed, len(texts), seconds)


def _write_all(
    batches: Generator[Batch, None, None],
    writer: BatchWriter,
    todo: int,
    resumed: int,
    total: int,
    progress: bool,
) -> float:
    """Write every batch as it comes, with a bar in images (rate and ETA); the seconds taken.

    ``batches`` is closed on the way out, an error included, so that the fetching thread and
    decoding workers (or a Ray started for the run) stop then, not when the error is forgotten.
    """
    from ..progress import bar as progress_bar

    start = time.perf_counter()
    bar = progress_bar(
        total=total, initial=resumed, unit="img", desc="predict", file=sys.stderr,
        disable=not (progress and todo), dynamic_ncols=True, leave=False,
    )  # fmt: skip
    with bar, contextlib.closing(batches):
        for batch in batches:
            writer.write(batch)
            bar.update(len(batch.paths))
    return time.perf_counter() - start


class _Given:
    """A loader that hands over an already loaded model (pickled to Ray's actors with it)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self) -> Any:
        return self.model
