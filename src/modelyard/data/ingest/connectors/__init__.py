"""Batch connectors, one small module per kind of source: ``open_source`` picks one.

A source is a path (CSV, Parquet, JSON Lines; the format from ``format`` or the extension) or a
SQLAlchemy URL with a query. Connector modules are imported only when used.
"""

from __future__ import annotations

from pathlib import Path

from modelyard.core.errors import InvalidArgument
from modelyard.data.ingest.connectors.base import (
    DEFAULT_CHUNK_ROWS,
    MalformedRow,
    Progress,
    Source,
    WatermarkFilter,
)

__all__ = ["DEFAULT_CHUNK_ROWS", "FORMATS", "MalformedRow", "Progress", "Source", "WatermarkFilter", "open_source"]

FORMATS = ("csv", "parquet", "jsonl", "sql")
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


def _guess_format(path: Path) -> str:
    if path.is_dir():
        for suffix, fmt in _SUFFIXES.items():
            if next(path.rglob(f"*{suffix}"), None) is not None:
                return fmt
        raise InvalidArgument(f"no csv, parquet or jsonl file under {path}: pass --format")
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz",)]
    found = _SUFFIXES.get(suffixes[-1]) if suffixes else None
    if found is None:
        raise InvalidArgument(f"cannot tell the format of {path.name} from its name: pass --format csv|parquet|jsonl")
    return found


def open_source(
    source: str | Path,
    *,
    format: str | None = None,
    query: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Source:
    """The connector for ``source``; a one-line ``InvalidArgument`` if it cannot be read."""
    from modelyard.data.ingest.connectors.sql import looks_like_url

    text = str(source)
    if format is not None and format not in FORMATS:
        raise InvalidArgument(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    if format == "sql" or (format is None and looks_like_url(text)):
        from modelyard.data.ingest.connectors.sql import SqlSource

        return SqlSource(text, query, chunk_rows=chunk_rows)
    if query is not None:
        raise InvalidArgument("--query applies to database sources (a SQLAlchemy URL) only")
    path = Path(text.removeprefix("file://"))
    if not path.exists():
        raise InvalidArgument(f"cannot read {path}: no such file or directory")
    fmt = format or _guess_format(path)
    if fmt == "csv":
        from modelyard.data.ingest.connectors.csv import CsvSource

        return CsvSource(path)
    if fmt == "parquet":
        from modelyard.data.ingest.connectors.parquet import ParquetSource

        return ParquetSource(path, chunk_rows=chunk_rows)
    from modelyard.data.ingest.connectors.jsonl import JsonLinesSource

    return JsonLinesSource(path, chunk_rows=chunk_rows)
