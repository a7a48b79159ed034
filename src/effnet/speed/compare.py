"""What to deploy here: every engine x precision of one model, timed side by side, with the
accuracy each keeps on the user's labelled images and a recommendation.

Each row is the file a user would ship, written by the one exporter of its format and run by its
own engine (:mod:`effnet.deploy.artifact`), beside PyTorch eager fp32 as the reference. int8 rows
are calibrated on the user's images. Rows are timed in turn (:func:`time_interleaved`), so load
from elsewhere on the machine hits all of them alike. The recommendation is the fastest row whose
accuracy is within ``tolerance`` points of fp32 (and whose top-1 agreement with fp32 is at least
99% when there are no labels), and the line says why.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from ..deploy.artifact import DeployedModel, export_artifact, load_artifact
from ..deploy.cpu import cpu_info
from ..deploy.fidelity import Fidelity, measure_fidelity
from ..deploy.metadata import FORMATS, MissingEngineError
from ..deploy.timing import time_interleaved, torch_threads

#: Top-1 agreement with fp32 a row needs to be recommended when there are no labels.
MIN_AGREEMENT = 0.99


@dataclass
class EngineRow:
    """One engine at one precision: speed, file size and (with images) what it keeps."""

    engine: str
    precision: str
    format: str
    ms_per_batch: float
    images_per_s: float
    file_mb: float | None
    fidelity: Fidelity | None = None

    @property
    def name(self) -> str:
        return f"{self.engine} {self.precision}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["fidelity"] = self.fidelity.to_dict() if self.fidelity else None
        return data


def candidate_formats(
    precisions: Sequence[str] | None = None, formats: Sequence[str] | None = None
) -> tuple[list[tuple[str, str]], list[str]]:
    """Every (format, precision) to try here, and notes on what was left out and why: a missing
    engine package, or a reduced precision this CPU has no units for (it would be emulated)."""
    import importlib.util

    cpu = cpu_info()
    pairs, notes = [], []
    for fmt in FORMATS.values():
        if formats is not None and fmt.name not in formats:
            continue
        module = {"onnx": "onnxruntime", "openvino": "openvino", "tflite": "ai_edge_litert"}
        needed = module.get(fmt.name, fmt.engine if fmt.name == "executorch" else "torch")
        if importlib.util.find_spec(needed) is None:
            notes.append(f"{fmt.name} left out: not installed ({fmt.install})")
            continue
        for p in fmt.precisions:
            if precisions is not None and p not in precisions:
                continue
            if p in ("bf16", "int8") and fmt.name in ("onnx", "openvino") and not cpu.supports(p):
                notes.append(f"{fmt.name} {p} left out: no {p} units on this CPU ({cpu.kind})")
                continue
            pairs.append((fmt.name, p))
    return pairs, notes


def _build_rows(
    model: torch.nn.Module,
    pairs: list[tuple[str, str]],
    folder: Path,
    calibration: torch.Tensor | None,
    threads: int,
    notes: list[str],
) -> dict[tuple[str, str, str], tuple[Callable[[torch.Tensor], Any], float | None]]:
    """Export and load each pair (the eager reference first); a pair that fails is a note."""
    from ..progress import bar

    if isinstance(model, DeployedModel):  # an artifact: itself only, on its own engine
        assert model.info is not None
        files = [Path(model.source)]
        if model.info.format == "openvino":
            files.append(files[0].with_suffix(".bin"))  # an IR's weights
        size = sum(f.stat().st_size for f in files) / 1e6
        return {(model.backend, model.precision, model.info.format): (model, size)}
    built: dict[tuple[str, str, str], tuple[Callable[[torch.Tensor], Any], float | None]] = {
        ("eager", "fp32", "-"): (model, None)
    }
    for fmt, precision in bar(pairs, desc="export", unit="file", leave=False, file=sys.stderr):
        if precision == "int8" and calibration is None:
            notes.append(f"{fmt} int8 left out: no calibration images")
            continue
        try:
            files = export_artifact(
                model, folder / f"{fmt}_{precision}", fmt, precision, calibration
            )
            loaded: DeployedModel = load_artifact(files[0], threads)
        except (MissingEngineError, RuntimeError, ValueError) as err:
            notes.append(f"{fmt} {precision} left out: {str(err).splitlines()[0]}")
            continue
        size = sum(f.stat().st_size for f in files if not f.name.endswith(".json")) / 1e6
        built[loaded.backend, precision, fmt] = (loaded, size)
    return built


def compare_engines(
    model: torch.nn.Module,
    batch_size: int = 1,
    threads: int | None = None,
    rounds: int = 5,
    images: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    calibration: torch.Tensor | None = None,
    precisions: Sequence[str] | None = None,
    formats: Sequence[str] | None = None,
) -> tuple[list[EngineRow], list[str]]:
    """Time every engine x precision of ``model`` at ``batch_size`` (``rounds`` turns each) and,
    with ``images`` (and ``labels``), measure each against eager fp32; returns rows and notes."""
    by_batch, notes = compare_at_batches(
        model, [batch_size], threads, rounds, images, labels, calibration, precisions, formats
    )
    return by_batch[batch_size], notes


def compare_at_batches(
    model: torch.nn.Module,
    batch_sizes: Sequence[int],
    threads: int | None = None,
    rounds: int = 5,
    images: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    calibration: torch.Tensor | None = None,
    precisions: Sequence[str] | None = None,
    formats: Sequence[str] | None = None,
) -> tuple[dict[int, list[EngineRow]], list[str]]:
    """:func:`compare_engines` at several batch sizes, each file exported and measured once."""
    model = model.cpu().eval()
    threads = threads or torch.get_num_threads()
    pairs, notes = candidate_formats(precisions, formats)
    if isinstance(model, DeployedModel):
        notes = [
            f"{model.source}: the file only, on its own engine (bench the checkpoint to compare)"
        ]
    with torch_threads(threads), tempfile.TemporaryDirectory(prefix="effnet-bench-") as tmp:
        built = _build_rows(model, pairs, Path(tmp), calibration, threads, notes)
        fidelity = {
            key: _fidelity(fn, model, images, labels, key) for key, (fn, _) in built.items()
        }
        by_batch = {}
        for batch in batch_sizes:
            seconds = _median_seconds(built, model, batch, rounds)
            by_batch[batch] = [
                EngineRow(*key[:2], key[2], s * 1e3, batch / s, built[key][1], fidelity[key])
                for key, s in seconds.items()
            ]
    return by_batch, notes


def _median_seconds(built: dict, model: Any, batch: int, rounds: int) -> dict[Any, float]:
    """Median seconds per batch of ``batch`` random images for each built row, timed in turn."""
    pre = model.preprocess
    x = torch.randn(batch, model.in_chans, pre.resolution, pre.resolution)
    calls = {key: partial(fn, x) for key, (fn, _) in built.items()}
    with torch.no_grad():
        times = time_interleaved(calls, rounds, warmup=1, per_turn=3 if batch == 1 else 1)
    return {key: sorted(t)[len(t) // 2] for key, t in times.items()}


def _fidelity(
    fn: Callable[[torch.Tensor], Any],
    model: Any,
    images: torch.Tensor | None,
    labels: torch.Tensor | None,
    key: tuple[str, str, str],
) -> Fidelity | None:
    """``fn`` against the reference ``model`` on the labelled ``images`` (None without images)."""
    if images is None:
        return None
    batches = [
        (images[i : i + 64], None if labels is None else labels[i : i + 64])
        for i in range(0, len(images), 64)
    ]
    return measure_fidelity(fn, model, batches, f"{key[0]} {key[1]}", "eval")


def recommend(rows: Sequence[EngineRow], tolerance: float = 0.5) -> tuple[EngineRow, str]:
    """The fastest row that keeps the accuracy within ``tolerance`` points of fp32 (top-1
    agreement >= 99% without labels; speed alone without images), and why."""

    def keeps(row: EngineRow) -> bool:
        f = row.fidelity
        if f is None:
            return True
        if f.accuracy_drop is not None:
            return f.accuracy_drop <= tolerance
        return f.top1_agreement >= MIN_AGREEMENT

    kept = [r for r in rows if keeps(r)]
    best = max(kept or rows, key=lambda r: r.images_per_s)
    reference = next((r for r in rows if r.engine == "eager"), None)
    speedup = "" if reference is None else f"; {best.images_per_s / reference.images_per_s:.2f}x"
    speedup += " PyTorch eager fp32" if reference is not None else ""
    if best.fidelity is None:
        why = "fastest measured (no --eval images: accuracy not checked)"
    elif best.fidelity.accuracy_drop is not None:
        f = best.fidelity
        why = (
            f"fastest of the rows within {tolerance:g} points of fp32 accuracy "
            f"({100 * (f.accuracy or 0):.2f}% vs {100 * (f.reference_accuracy or 0):.2f}%)"
        )
    else:
        why = f"fastest of the rows agreeing with fp32 on >= {MIN_AGREEMENT:.0%} of the images"
    dropped = len(rows) - len(kept)
    if dropped:
        why += f"; {dropped} faster or slower row(s) lost too much accuracy"
    if not kept:
        why = f"none keeps the accuracy within {tolerance:g} points; the fastest is shown"
    return best, why + speedup


def format_rows(rows: Sequence[EngineRow], batch_size: int, threads: int) -> str:
    """The table bench prints, under the CPU's header."""
    head = (
        f"{'engine':<13}{'precision':>10}{'format':>12}{'ms/batch':>10}{'img/s':>9}{'MB':>7}"
        f"{'top-1 %':>9}{'agree %':>9}{'top-5 agr':>10}{'drop':>7}"
    )
    lines = [cpu_info().header(), f"batch {batch_size}, {threads} thread(s)", head, "-" * len(head)]
    for r in rows:
        f = r.fidelity
        acc = "-" if f is None or f.accuracy is None else f"{100 * f.accuracy:.2f}"
        agree = "-" if f is None else f"{100 * f.top1_agreement:.2f}"
        agree5 = "-" if f is None or f.top5_agreement is None else f"{100 * f.top5_agreement:.2f}"
        drop = "-" if f is None or f.accuracy_drop is None else f"{f.accuracy_drop:+.2f}"
        size = "-" if r.file_mb is None else f"{r.file_mb:.1f}"
        lines.append(
            f"{r.engine:<13}{r.precision:>10}{r.format:>12}{r.ms_per_batch:>10.1f}"
            f"{r.images_per_s:>9.1f}{size:>7}{acc:>9}{agree:>9}{agree5:>10}{drop:>7}"
        )
    return "\n".join(lines)
