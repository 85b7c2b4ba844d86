"""JSON Lines: one object per line, parsed with orjson in chunks of lines, so a line that is not a
JSON object is reported with its line number instead of failing the whole file."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from modelyard.core.errors import InvalidArgument
from modelyard.data.ingest.connectors.base import (
    DEFAULT_CHUNK_ROWS,
    MalformedRow,
    Progress,
    WatermarkFilter,
    source_files,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["JsonLinesSource"]


class JsonLinesSource:
    format = "jsonl"
    query: str | None = None

    def __init__(self, path: str | Path, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        self.path = Path(path)
        self.files = source_files(self.path, (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz"))
        self.description = str(self.path.absolute())
        self.chunk_rows = chunk_rows
        self.malformed: list[MalformedRow] = []

    def read(self, progress: Progress, newer_than: WatermarkFilter | None = None) -> Iterator[pa.Table]:
        total = sum(f.stat().st_size for f in self.files)
        progress.phase(f"reading {self.path.name}", total)
        for file in self.files:
            opener: Any = gzip.open if file.name.endswith(".gz") else open
            with opener(file, "rb") as handle:
                yield from self._read_file(file, handle, progress)

    def _read_file(self, file: Path, handle: IO[bytes], progress: Progress) -> Iterator[pa.Table]:
        rows: list[dict[str, Any]] = []
        for number, line in enumerate(handle, start=1):
            progress.advance(len(line))
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                self.malformed.append(MalformedRow(file.name, number, f"not JSON: {exc}", _text(line)))
                continue
            if not isinstance(value, dict):
                self.malformed.append(
                    MalformedRow(
                        file.name, number, f"expected a JSON object, found {type(value).__name__}", _text(line)
                    )
                )
                continue
            rows.append(value)
            if len(rows) >= self.chunk_rows:
                yield _table(rows, file)
                rows = []
        if rows:
            yield _table(rows, file)


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace").rstrip("\r\n")


def _table(rows: list[dict[str, Any]], file: Path) -> pa.Table:
    import pyarrow as pa

    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidArgument(f"cannot read {file.name} as JSON Lines: {str(exc).splitlines()[0]}")
