"""Parquet files (or a directory of them), read batch by batch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

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

__all__ = ["ParquetSource"]


class ParquetSource:
    format = "parquet"
    query: str | None = None

    def __init__(self, path: str | Path, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        self.path = Path(path)
        self.files = source_files(self.path, (".parquet", ".pq"))
        self.description = str(self.path.absolute())
        self.chunk_rows = chunk_rows
        self.malformed: list[MalformedRow] = []  # Parquet is typed: a bad file fails as a whole

    def read(self, progress: Progress, newer_than: WatermarkFilter | None = None) -> Iterator[pa.Table]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            opened = [pq.ParquetFile(f) for f in self.files]
            progress.phase(f"reading {self.path.name}", sum(f.metadata.num_rows for f in opened))
            for parquet in opened:
                for batch in parquet.iter_batches(batch_size=self.chunk_rows):
                    progress.advance(batch.num_rows)
                    yield pa.Table.from_batches([batch])
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidArgument(f"cannot read {self.path.name} as Parquet: {str(exc).splitlines()[0]}")
