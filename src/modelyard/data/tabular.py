"""Reading a dataset version as a table (Arrow, pandas), by file extension, with pyarrow.

CSV, TSV, Parquet and JSON Lines cover what ingestion will write; a directory dataset is read as
the concatenation of its tabular files (in path order), which must share one format. Anything
else is an ``InvalidArgument`` naming the files it cannot read, not a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.core.errors import InvalidArgument

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["TABULAR_FORMATS", "read_schema", "read_table", "table_format"]

#: suffix -> format; compressed CSV/JSON (``.csv.gz``...) is decompressed by pyarrow from the name.
TABULAR_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_COMPRESSED = (".gz", ".bz2", ".zst", ".lz4")


def table_format(path: str | Path) -> str | None:
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    return TABULAR_FORMATS.get(suffixes[-1]) if suffixes else None


def _read_one(path: Path, fmt: str) -> pa.Table:
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.json as pa_json
    import pyarrow.parquet as pq

    try:
        if fmt == "parquet":
            return pq.read_table(path)
        if fmt == "jsonl":
            return pa_json.read_json(path)
        delimiter = "\t" if fmt == "tsv" else ","
        return pa_csv.read_csv(path, parse_options=pa_csv.ParseOptions(delimiter=delimiter))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidArgument(f"cannot read {path.name} as {fmt}: {str(exc).splitlines()[0]}")


def read_table(files: Sequence[Path]) -> pa.Table:
    """One Arrow table from the tabular files among ``files`` (sorted by path)."""
    import pyarrow as pa

    formats = {f: table_format(f) for f in files}
    tabular = sorted(f for f, fmt in formats.items() if fmt is not None)
    if not tabular:
        shown = ", ".join(sorted(f.name for f in files)[:5]) or "no files"
        raise InvalidArgument(f"no tabular file (csv, tsv, parquet, jsonl) in this dataset version: {shown}")
    kinds = {str(formats[f]) for f in tabular}
    if len(kinds) > 1:
        raise InvalidArgument(f"the dataset mixes formats {sorted(kinds)}: read its files one by one with .files()")
    fmt = kinds.pop()
    tables = [_read_one(f, fmt) for f in tabular]
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidArgument(f"the dataset's files do not share one schema: {str(exc).splitlines()[0]}")


def read_schema(data: bytes, fmt: str) -> pa.Schema:
    """The schema of one tabular file's bytes: Parquet from its footer, CSV/TSV from the first
    block the streaming reader infers types from, JSON Lines by reading it."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.json as pa_json
    import pyarrow.parquet as pq

    buffer = pa.BufferReader(data)
    try:
        if fmt == "parquet":
            return pq.read_schema(buffer)
        if fmt == "jsonl":
            return pa_json.read_json(buffer).schema
        delimiter = "\t" if fmt == "tsv" else ","
        return pa_csv.open_csv(buffer, parse_options=pa_csv.ParseOptions(delimiter=delimiter)).schema
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidArgument(f"cannot read a {fmt} schema: {str(exc).splitlines()[0]}")
