"""CSV (and TSV) files: streamed block by block with pyarrow; rows with the wrong number of fields
are collected with their line number instead of aborting the read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.core.errors import InvalidArgument
from modelyard.data.ingest.connectors.base import MalformedRow, Progress, WatermarkFilter, source_files

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["CsvSource"]

_BLOCK_BYTES = 8 << 20  # pyarrow infers column types from the first block: keep it large


class CsvSource:
    format = "csv"
    query: str | None = None

    def __init__(self, path: str | Path, *, delimiter: str = ",", block_bytes: int = _BLOCK_BYTES) -> None:
        self.path = Path(path)
        self.files = source_files(self.path, (".csv", ".tsv", ".csv.gz", ".tsv.gz"))
        self.description = str(self.path.absolute())
        self.delimiter = delimiter
        self.block_bytes = block_bytes
        self.malformed: list[MalformedRow] = []

    def read(self, progress: Progress, newer_than: WatermarkFilter | None = None) -> Iterator[pa.Table]:
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        total = sum(f.stat().st_size for f in self.files)
        progress.phase(f"reading {self.path.name}", total)
        for file in self.files:
            delimiter = "\t" if file.name.lower().endswith((".tsv", ".tsv.gz")) else self.delimiter

            def on_invalid(row: pa_csv.InvalidRow, file: Path = file) -> str:
                self.malformed.append(
                    MalformedRow(
                        file.name,
                        row.number,
                        f"expected {row.expected_columns} fields, found {row.actual_columns}",
                        row.text,
                    )
                )
                return "skip"

            with pa.OSFile(str(file), "rb") as raw:
                stream = pa.CompressedInputStream(raw, "gzip") if file.name.endswith(".gz") else raw
                try:
                    # One thread: pyarrow then knows each invalid row's line number.
                    reader = pa_csv.open_csv(
                        stream,
                        read_options=pa_csv.ReadOptions(use_threads=False, block_size=self.block_bytes),
                        parse_options=pa_csv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
                    )
                    done = 0
                    for batch in reader:
                        position = raw.tell()
                        progress.advance(position - done)
                        done = position
                        yield pa.Table.from_batches([batch])
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    raise InvalidArgument(f"cannot read {file.name} as CSV: {str(exc).splitlines()[0]}")
