"""Prediction results as a file that grows batch by batch and survives a kill at any moment.

``effnet predict --out`` writes JSON lines, CSV or Parquet. Each batch is one chunk written whole:
for JSON lines and CSV one ``write`` of complete lines, then ``fsync``, so a kill leaves at most a
torn last line, which the next run cuts off; Parquet cannot be appended to, so each batch is an
atomic part file in ``OUT.parts/``, and the parts become ``OUT`` (atomically, duplicates dropped)
when the run ends. A rerun reads what is there, checks it came from the same model, and skips the
images it holds: one image is never written twice, and a million-image run killed at 90% loses
one batch, not the run.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..deploy.metadata import MissingEngineError
from ..fileio import atomic_write, write_error

SUFFIXES = (".jsonl", ".csv", ".parquet")
#: The flat columns of CSV and Parquet: the top class, then the whole top-k list as JSON text.
COLUMNS = ("path", "model", "label", "index", "probability", "top_k", "error")
PYARROW_HINT = "pip install 'effnet[ray]' (or pip install pyarrow)"


def check_output(out: str | os.PathLike) -> str:
    """The format of ``out`` from its suffix; anything else is refused before a model is loaded."""
    suffix = Path(out).suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(
            f"cannot write results to {out}: give a file ending in {', '.join(SUFFIXES)}"
        )
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise MissingEngineError(
                f"{out}: .parquet results need pyarrow: {PYARROW_HINT}"
            ) from None
    return suffix


def prediction_row(path: str, model: str, top: list[dict[str, Any]]) -> dict[str, Any]:
    """One image's record: ``top`` is ``[{"label", "index", "probability"}, ...]``."""
    return {"path": path, "model": model, "top": top}


def error_row(path: str, model: str, error: str) -> dict[str, Any]:
    return {"path": path, "model": model, "error": error}


def flat(row: dict[str, Any]) -> dict[str, Any]:
    """A record as the CSV and Parquet columns (None where a column does not apply)."""
    top = row.get("top")
    first = top[0] if top else {}
    return {
        "path": row["path"],
        "model": row["model"],
        "label": first.get("label"),
        "index": first.get("index"),
        "probability": first.get("probability"),
        "top_k": json.dumps(top) if top is not None else None,
        "error": row.get("error"),
    }


def record(columns: dict[str, Any]) -> dict[str, Any]:
    """The record behind a CSV or Parquet row (its ``top_k`` JSON text parsed back)."""
    if columns.get("error"):
        return error_row(columns["path"], columns["model"], columns["error"])
    return prediction_row(columns["path"], columns["model"], json.loads(columns["top_k"]))


@dataclass
class Existing:
    """What an earlier run left in the output: the image paths done and how many were readable."""

    paths: set[str] = field(default_factory=set)
    readable: int = 0

    def add(self, path: str, error: Any) -> None:
        if path not in self.paths:
            self.paths.add(path)
            self.readable += not error


class ResultsFile:
    """One output file: read what is there (:meth:`existing`), :meth:`append` batches, then
    :meth:`finish`. ``model`` names the model behind every row; rows of another are refused."""

    def __init__(self, out: str | os.PathLike, model: str) -> None:
        self.out = Path(out)
        self.model = model

    def check_model(self, found: Any, where: str) -> None:
        if found != self.model:
            raise ValueError(
                f"{where} holds predictions of {found}, not of {self.model}; pass --overwrite to "
                "start afresh, or give another --out"
            )

    def existing(self) -> Existing:
        raise NotImplementedError

    def append(self, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Make the output complete (Parquet: combine the parts); a no-op for line formats."""

    def discard(self) -> None:
        """Remove what an earlier run wrote (``--overwrite``)."""
        self.out.unlink(missing_ok=True)


class LineFile(ResultsFile):
    """JSON lines and CSV: complete lines appended, one ``write`` and ``fsync`` per batch."""

    def existing(self) -> Existing:
        found = Existing()
        if not self.out.exists():
            return found
        if drop_partial_line(self.out):
            print(f"dropped the incomplete last line of {self.out}", file=sys.stderr, flush=True)
        for row in self.rows():
            self.check_model(row["model"], str(self.out))
            found.add(row["path"], row.get("error"))
        return found

    def rows(self) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def encode(self, rows: list[dict[str, Any]]) -> str:
        raise NotImplementedError

    def append(self, rows: list[dict[str, Any]]) -> None:
        append_durably(self.out, self.encode(rows).encode())


class JsonLines(LineFile):
    def rows(self) -> Iterator[dict[str, Any]]:
        with open(self.out, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    row = None
                if not isinstance(row, dict) or "path" not in row or "model" not in row:
                    raise ValueError(
                        f"{self.out} line {number} is not a prediction row; remove it, or pass "
                        "--overwrite to start afresh"
                    )
                yield row

    def encode(self, rows: list[dict[str, Any]]) -> str:
        return "".join(json.dumps(row) + "\n" for row in rows)


class CsvFile(LineFile):
    def rows(self) -> Iterator[dict[str, Any]]:
        with open(self.out, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is not None and tuple(header) != COLUMNS:
                raise ValueError(
                    f"{self.out} is not an effnet predictions CSV (its header is "
                    f"{','.join(header)}); pass --overwrite to replace it, or give another --out"
                )
            for values in reader:
                yield record(dict(zip(COLUMNS, values, strict=False)))

    def encode(self, rows: list[dict[str, Any]]) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if not self.out.exists() or self.out.stat().st_size == 0:
            writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(["" if v is None else v for v in flat(row).values()])
        return buffer.getvalue()


def parquet_schema() -> Any:
    import pyarrow as pa

    text = pa.string()
    types = (text, text, text, pa.int64(), pa.float64(), text, text)
    return pa.schema(list(zip(COLUMNS, types, strict=True)))


class ParquetParts(ResultsFile):
    """Parquet: each batch an atomic part file in ``OUT.parts/``, combined into ``OUT`` at the end.

    A resume reads ``OUT`` (a finished earlier run) and the parts; a kill while combining leaves
    rows in both, so rows are told apart by path, here and when combining.
    """

    #: Rows per row group of the combined file (parts are one batch each: too small to keep).
    ROW_GROUP = 65_536

    def __init__(self, out: str | os.PathLike, model: str) -> None:
        super().__init__(out, model)
        self.parts = self.out.with_name(self.out.name + ".parts")
        self.next_part = 1 + max((int(p.stem[5:]) for p in self.part_files()), default=-1)

    def part_files(self) -> list[Path]:
        return sorted(self.parts.glob("part-*.parquet")) if self.parts.is_dir() else []

    def sources(self) -> list[Path]:
        return ([self.out] if self.out.exists() else []) + self.part_files()

    def existing(self) -> Existing:
        import pyarrow.parquet as pq

        found = Existing()
        for source in self.sources():
            for batch in pq.ParquetFile(source).iter_batches(columns=["path", "model", "error"]):
                for model in set(batch.column("model").to_pylist()):
                    self.check_model(model, str(source))
                paths, errors = batch.column("path").to_pylist(), batch.column("error").to_pylist()
                for path, error in zip(paths, errors, strict=True):
                    found.add(path, error)
        return found

    def append(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([flat(row) for row in rows], schema=parquet_schema())
        part = self.parts / f"part-{self.next_part:06d}.parquet"
        with atomic_write(part, durable=True) as tmp:
            pq.write_table(table, tmp)
        self.next_part += 1

    def finish(self) -> None:
        import pyarrow.parquet as pq

        if self.out.exists() and not self.part_files():
            return
        with (
            atomic_write(self.out, durable=True) as tmp,
            pq.ParquetWriter(tmp, parquet_schema()) as writer,
        ):
            for group in self.row_groups():
                writer.write_table(group)
        shutil.rmtree(self.parts, ignore_errors=True)

    def row_groups(self) -> Iterator[Any]:
        """Every row of ``OUT`` and the parts once, in tables of :attr:`ROW_GROUP` rows."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        seen: set[str] = set()
        pending: list[Any] = []
        for source in self.sources():
            for batch in pq.ParquetFile(source).iter_batches():
                keep = [p not in seen for p in batch.column("path").to_pylist()]
                seen.update(batch.column("path").to_pylist())
                pending.append(batch.filter(pa.array(keep)).cast(parquet_schema()))
                if sum(b.num_rows for b in pending) >= self.ROW_GROUP:
                    yield pa.Table.from_batches(pending)
                    pending = []
        yield pa.Table.from_batches(pending, schema=parquet_schema())

    def discard(self) -> None:
        super().discard()
        shutil.rmtree(self.parts, ignore_errors=True)
        self.next_part = 0


def open_results(out: str | os.PathLike, model: str, overwrite: bool = False) -> ResultsFile:
    """The writer for ``out``'s format; with ``overwrite``, whatever an earlier run left is gone."""
    kind = {".jsonl": JsonLines, ".csv": CsvFile, ".parquet": ParquetParts}[check_output(out)]
    results = kind(out, model)
    if overwrite:
        results.discard()
    return results


def read_rows(out: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Every record of a finished output file, in the JSON-lines shape, whatever its format."""
    suffix = check_output(out)
    if suffix == ".jsonl":
        yield from JsonLines(out, "").rows()
    elif suffix == ".csv":
        yield from CsvFile(out, "").rows()
    else:
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(out).iter_batches():
            yield from map(record, batch.to_pylist())


def drop_partial_line(path: Path) -> bool:
    """Cut ``path`` after its last newline (what a kill mid-write leaves); whether it was cut."""
    with open(path, "rb+") as f:
        end = f.seek(0, os.SEEK_END)
        if end == 0 or _read_at(f, end - 1, 1) == b"\n":
            return False
        keep, position = 0, end
        while position > 0:
            start = max(0, position - 65_536)
            newline = _read_at(f, start, position - start).rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            position = start
        f.truncate(keep)
        os.fsync(f.fileno())
    return True


def _read_at(f: Any, offset: int, size: int) -> bytes:
    f.seek(offset)
    return f.read(size)


def append_durably(path: Path, data: bytes) -> None:
    """Append ``data`` with one ``write`` (repeated only if the OS writes less) and ``fsync``."""
    existed = path.exists()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as err:
        raise write_error(err, path, existed) from None
