"""Tabular files for batch scoring: CSV and Parquet read as a stream of record batches regrouped
into fixed-size chunks, and written atomically (a temporary file renamed into place)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from modelyard.core.errors import InvalidArgument

if TYPE_CHECKING:
    from modelyard.registry.signature import Signature

__all__ = [
    "FORMATS",
    "AtomicTableWriter",
    "arrow_message",
    "arrow_types",
    "csv_header",
    "file_format",
    "open_csv",
    "read_schema",
    "rechunk",
    "record_batches",
]

#: File extensions read and written, and their format.
FORMATS: dict[str, str] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_CSV_BLOCK_BYTES = 4 << 20
_CSV_COLUMN = re.compile(r"CSV column #(\d+)")


def file_format(path: str | os.PathLike[str], role: str) -> str:
    """``csv`` or ``parquet`` by extension; InvalidArgument naming the accepted ones otherwise."""
    suffix = Path(path).suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        accepted = ", ".join(FORMATS)
        raise InvalidArgument(f"{role} {os.fspath(path)!r} has extension {suffix or '(none)'!r}; expected {accepted}")
    return fmt


# -- reading ----------------------------------------------------------------------------------


def arrow_types(signature: Signature | None) -> dict[str, pa.DataType]:
    """Arrow types for the signature's numeric and boolean columns (how CSV blocks are parsed)."""
    if signature is None or signature.kind != "columns":
        return {}
    types: dict[str, pa.DataType] = {}
    for spec in signature.inputs:
        try:
            dtype = np.dtype(spec.dtype)
        except TypeError:
            continue
        if spec.name is not None and dtype.kind in "iufb":
            types[spec.name] = pa.from_numpy_dtype(dtype)
    return types


def read_schema(path: Path, fmt: str, column_types: Mapping[str, pa.DataType]) -> pa.Schema:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_schema(path)
    return open_csv(path, column_types).schema


def open_csv(path: Path, column_types: Mapping[str, pa.DataType]) -> Any:
    import pyarrow.csv as pacsv

    return pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
        convert_options=pacsv.ConvertOptions(column_types=dict(column_types)),
    )


def record_batches(
    files: Iterable[Path], fmt: str, chunk_rows: int, column_types: Mapping[str, pa.DataType]
) -> Iterator[pa.RecordBatch]:
    """The files' rows as record batches of at most ``chunk_rows`` (Parquet) or one CSV block."""
    for path in files:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            with pq.ParquetFile(path) as handle:
                yield from handle.iter_batches(batch_size=chunk_rows)
        else:
            reader = open_csv(path, column_types)
            try:
                yield from reader
            finally:
                reader.close()


def csv_header(path: Path) -> list[str]:
    """The column names on a CSV file's first line (to name a column pyarrow reports by number)."""
    import csv

    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        return next(csv.reader(handle), [])


def arrow_message(exc: Exception, names: list[str]) -> str:
    """pyarrow's error with ``CSV column #1`` replaced by the column's name."""
    return _CSV_COLUMN.sub(
        lambda m: f"column {names[int(m.group(1))]!r}" if int(m.group(1)) < len(names) else m.group(0), str(exc)
    )


def rechunk(batches: Iterable[pa.RecordBatch], chunk_rows: int) -> Iterator[pa.Table]:
    """Regroup record batches into tables of exactly ``chunk_rows`` rows (the last one fewer)."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        held.append(batch)
        count += batch.num_rows
        while count >= chunk_rows:
            table = pa.Table.from_batches(held)
            yield table.slice(0, chunk_rows)
            rest = table.slice(chunk_rows)
            held = rest.to_batches() if rest.num_rows else []
            count = rest.num_rows
    if count:
        yield pa.Table.from_batches(held)


# -- writing ----------------------------------------------------------------------------------


class AtomicTableWriter:
    """Writes tables to a temporary file beside ``target``; ``commit`` renames it into place."""

    def __init__(self, target: Path, fmt: str) -> None:
        self.target = target
        self.format = fmt
        self.tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
        self._writer: Any = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self.tmp, table.schema)
            else:
                import pyarrow.csv as pacsv

                self._writer = pacsv.CSVWriter(self.tmp, table.schema)
            self.schema = table.schema
        elif table.schema != self.schema:
            try:
                table = table.cast(self.schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                raise InvalidArgument(f"a chunk's columns changed type from the first chunk's: {exc}")
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def commit(self, empty_schema: pa.Schema) -> None:
        """Rename the file into place; with no rows written, an empty file of ``empty_schema``."""
        if self._writer is None and not self.tmp.exists():
            self.write(empty_schema.empty_table())
        self.close()
        os.replace(self.tmp, self.target)

    def discard(self) -> None:
        try:
            self.close()
        finally:
            self.tmp.unlink(missing_ok=True)
