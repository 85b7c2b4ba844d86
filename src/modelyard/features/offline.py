"""Point-in-time-correct training sets: one DuckDB query of ASOF LEFT JOINs over the sources, or
the in-memory numpy engine (``features/asof.py``) with the same rules.

For every row of the entity frame (join keys + a timestamp) and every requested view, the value
taken is the one from the view's newest row with the same keys whose timestamp is at or before the
entity row's (``ASOF ... ON keys = keys AND entity_ts >= view_ts``): never a value from after the
entity row's timestamp. A value older than the view's TTL is null. The joins are LEFT joins, one
per view, so a row keeps its features from one view when another view has none, and no entity
row is ever dropped. Rows come back in the entity frame's order.

Engines (``DuckConfig.engine``, ``"auto"`` by default): numpy when every view reads Parquet and
the values the join reads (rows from the Parquet footers × the columns read, 8 bytes each) fit in a
quarter of the memory limit; DuckDB otherwise (a SQL or CSV source, or inputs too big). DuckDB
reads the Parquet sources itself (never through pandas), and spills to ``temp_directory`` past
``memory_limit``, so a join larger than RAM runs on one machine; its ``to_parquet`` streams the
result to a file without building it in memory, ``to_batches`` as Arrow record batches. The numpy
engine builds the result as one Arrow table.

Checks before the query runs (each an ``InvalidArgument`` naming what is wrong): the entity frame
has every join key and the timestamp column; a view's source has its keys, its timestamp field
and every declared feature with a compatible type; timestamps are either all time-zone aware or
all naive; keys compare like with like (numbers with numbers, text with text; a key column of
nulls only, typed NULL, with anything: it matches nothing). Rows of one view
with the same keys and the same timestamp are a tie: which of them is taken is unspecified.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidArgument
from modelyard.core.features import FeatureType, FeatureViewVersion

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "DuckConfig",
    "TrainingSet",
    "ViewRequest",
    "build_training_set",
    "quote",
    "source_files",
    "source_sql",
]

_ROW = "__modelyard_row"
_TS = "__modelyard_ts"
_INTS = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
}
_FLOATS = {"FLOAT", "DOUBLE", "REAL"}
_TIMESTAMPS = {"TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE", "TIMESTAMP WITH TIME ZONE"}


def quote(name: str) -> str:
    """A DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def _family(duck_type: str) -> str:
    t = duck_type.upper()
    if t.strip('"') == "NULL":  # a column of nulls only (pandas: an all-None object column)
        return "null"
    if t in _INTS:
        return "int"
    if t in _FLOATS or t.startswith("DECIMAL"):
        return "float"
    if t == "VARCHAR" or t.startswith("VARCHAR"):
        return "string"
    if t == "BOOLEAN":
        return "bool"
    if t in _TIMESTAMPS or t.startswith("TIMESTAMP"):
        return "timestamp"
    return t.lower()


_ACCEPTS: dict[FeatureType, set[str]] = {
    "int64": {"int"},
    "float64": {"float", "int"},
    "string": {"string"},
    "bool": {"bool"},
    "timestamp": {"timestamp"},
}


def _is_aware(duck_type: str) -> bool:
    """A time-zone aware timestamp: ``TIMESTAMP WITH TIME ZONE`` (``TIMESTAMPTZ``), or
    ``TIMESTAMPTZ_NS``, DuckDB's type of a Parquet nanosecond column annotated
    ``isAdjustedToUTC`` (what pandas writes for ``datetime64[ns, UTC]``)."""
    t = duck_type.upper()
    return "TIME ZONE" in t or t.startswith("TIMESTAMPTZ")


def _is_ns(duck_type: str) -> bool:
    """A timestamp in nanoseconds (naive ``TIMESTAMP_NS`` or aware ``TIMESTAMPTZ_NS``)."""
    return duck_type.upper().endswith("_NS")


_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40}
_MEMORY = r"([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?I?)B"
ENGINES = ("auto", "numpy", "duckdb")


@dataclass(frozen=True)
class DuckConfig:
    """How a retrieval may use the machine: where DuckDB spills, how much memory it may take
    (DuckDB's syntax, ``"2GB"``; None: DuckDB's default of 80% of RAM), threads, and which engine
    joins (``"auto"``: the in-memory numpy engine when the inputs fit a quarter of that memory,
    else the DuckDB ASOF query; ``"numpy"`` or ``"duckdb"`` to force one)."""

    temp_directory: Path | None = None
    memory_limit: str | None = None
    threads: int | None = None
    engine: str = "auto"

    def memory_bytes(self) -> int:
        """The memory a retrieval may take, in bytes."""
        if self.memory_limit is not None:
            match = re.fullmatch(_MEMORY, self.memory_limit.strip().upper())
            if match is None:
                raise InvalidArgument(f"invalid memory limit {self.memory_limit!r}: e.g. '2GB' or '512MB'")
            return int(float(match.group(1)) * _UNITS[match.group(2)])
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.8)

    def connect(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        if self.engine not in ENGINES:
            raise InvalidArgument(f"invalid engine {self.engine!r}: one of {', '.join(ENGINES)}")
        if self.memory_limit is not None:
            self.memory_bytes()  # checks the syntax before a connection is opened
        con = duckdb.connect(":memory:")
        if self.temp_directory is not None:
            self.temp_directory.mkdir(parents=True, exist_ok=True)
            con.execute(f"SET temp_directory = {literal(str(self.temp_directory))}")
        if self.memory_limit is not None:
            con.execute(f"SET memory_limit = {literal(self.memory_limit)}")
        if self.threads is not None:
            con.execute(f"SET threads = {int(self.threads)}")
        return con


@dataclass(frozen=True)
class ViewRequest:
    """The features read from one view version, and the columns they come out as."""

    view: FeatureViewVersion
    features: tuple[str, ...]
    columns: tuple[str, ...]
    source: str  # the SQL of the view's rows (``source_sql``)
    files: str | None = None  # the Parquet files it reads (``source_files``), None if unknown

    @property
    def label(self) -> str:
        return self.view.ref


def _source_path(view: FeatureViewVersion, location: str | None) -> str:
    path = location if location is not None else view.definition.source.location
    return os.path.join(path, "**", "*.parquet") if os.path.isdir(path) else path


def _is_csv(path: str) -> bool:
    return path.lower().endswith((".csv", ".csv.gz"))


def source_files(view: FeatureViewVersion, location: str | None = None) -> str | None:
    """The Parquet file, glob or folder glob a view reads (its transformation aside), or None for a
    SQL or CSV source: the engine choice counts its rows from the Parquet footers."""
    if view.definition.source.kind == "sql":
        return None
    path = _source_path(view, location)
    return None if _is_csv(path) else path


def source_sql(view: FeatureViewVersion, location: str | None = None) -> str:
    """The SQL relation of a view's rows: its source (``location`` replaces a dataset reference
    with the local path of the version's files), then its transformation over ``source``."""
    src = view.definition.source
    if src.kind == "sql":
        base = src.location
    else:
        path = _source_path(view, location)
        reader = "read_csv_auto" if _is_csv(path) else "read_parquet"
        base = f"SELECT * FROM {reader}({literal(path)})"
    if view.definition.transformation:
        return f"WITH source AS ({base}) {view.definition.transformation}"
    return base


@dataclass
class TrainingSet:
    """A point-in-time join, ready to run: ``to_arrow``, ``to_pandas``, ``to_parquet``,
    ``to_batches``. ``views`` are the view versions read, ``columns`` the output columns, ``engine``
    the one that runs it (``"numpy"`` in memory, or ``"duckdb"``: ``sql``, streamed)."""

    sql: str
    views: tuple[FeatureViewVersion, ...]
    columns: tuple[str, ...]
    _con: duckdb.DuckDBPyConnection = field(repr=False)
    _keep: list[Any] = field(default_factory=list, repr=False)  # registered frames stay alive
    engine: str = "duckdb"
    _in_memory: Callable[[], pa.Table] | None = field(default=None, repr=False)

    def to_arrow(self) -> pa.Table:
        if self._in_memory is not None:
            return self._in_memory()
        return self._con.sql(self.sql).to_arrow_table()

    def to_pandas(self) -> pd.DataFrame:
        if self._in_memory is not None:
            return self._in_memory().to_pandas()
        relation = self._con.sql(self.sql)
        frame = relation.df()
        for name, duck_type in zip(relation.columns, relation.types, strict=True):
            # DuckDB gives TIMESTAMPTZ_NS to pandas as naive UTC wall-clock times: the instants
            if str(duck_type).upper() == "TIMESTAMPTZ_NS" and frame[name].dt.tz is None:
                frame[name] = frame[name].dt.tz_localize("UTC")
        return frame

    def to_batches(self, rows_per_batch: int = 100_000) -> pa.RecordBatchReader:
        if self._in_memory is not None:
            import pyarrow as pa

            table = self._in_memory()
            return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=rows_per_batch))
        return self._con.sql(self.sql).to_arrow_reader(rows_per_batch)

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        """Write the result into one Parquet file (written beside, then renamed: atomic); the
        DuckDB engine streams it without building it in memory."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            if self._in_memory is not None:
                import pyarrow.parquet as pq

                pq.write_table(self._in_memory(), tmp)
            else:
                self._con.execute(f"COPY ({self.sql}) TO {literal(str(tmp))} (FORMAT parquet)")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> TrainingSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _describe(con: duckdb.DuckDBPyConnection, sql: str, what: str) -> dict[str, str]:
    import duckdb

    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM ({sql})").fetchall()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidArgument(f"cannot read {what}: {first}") from None
    return {str(r[0]): str(r[1]) for r in rows}


def _entity_relation(con: duckdb.DuckDBPyConnection, entity: Any, keep: list[Any]) -> tuple[str, list[str], str]:
    """The entity rows as SQL with a row-number column, their own columns, and the ORDER BY."""
    import pyarrow as pa

    if isinstance(entity, str | os.PathLike):
        path = str(entity)
        if not os.path.exists(path) and not any(ch in path for ch in "*?["):
            raise InvalidArgument(f"entity file {path!r} does not exist")
        rel = f"SELECT * FROM read_parquet({literal(path)}, filename = true, file_row_number = true)"
        columns = [
            c for c in _describe(con, rel, f"the entity file {path!r}") if c not in ("filename", "file_row_number")
        ]
        select = ", ".join(quote(c) for c in columns)
        sql = f"SELECT {select}, row_number() OVER (ORDER BY filename, file_row_number) AS {_ROW} FROM ({rel})"
        return sql, columns, _ROW
    if isinstance(entity, pa.Table):
        table = entity
    else:
        import pandas as pd

        if not isinstance(entity, pd.DataFrame):
            raise InvalidArgument(
                "the entity rows are a pandas DataFrame, a pyarrow Table or a Parquet path, "
                f"got {type(entity).__name__}"
            )
        table = pa.Table.from_pandas(entity, preserve_index=False)
    if _ROW in table.column_names:
        raise InvalidArgument(f"the entity frame must not have a column named {_ROW!r}")
    import numpy as np

    table = table.append_column(_ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    keep.append(table)
    con.register("__modelyard_entities", table)
    return "SELECT * FROM __modelyard_entities", [c for c in table.column_names if c != _ROW], _ROW


def build_training_set(
    entity: Any,
    requests: Sequence[ViewRequest],
    *,
    timestamp_column: str = "event_timestamp",
    config: DuckConfig | None = None,
) -> TrainingSet:
    """Check the inputs and build the query (nothing runs until the result is asked for)."""
    if not requests:
        raise InvalidArgument("no features requested")
    con = (config or DuckConfig()).connect()
    keep: list[Any] = []
    try:
        entity_sql, entity_columns, row = _entity_relation(con, entity, keep)
        entity_types = _describe(con, entity_sql, "the entity rows")
        if timestamp_column not in entity_types:
            raise InvalidArgument(
                f"the entity rows have no timestamp column {timestamp_column!r} (columns: {', '.join(entity_columns)})"
            )
        entity_ts_type = entity_types[timestamp_column]
        if _family(entity_ts_type) != "timestamp":
            raise InvalidArgument(
                f"the entity timestamp column {timestamp_column!r} is {entity_ts_type}, not a timestamp"
            )
        taken = set(entity_columns)
        joins: list[str] = []
        reads: list[_Read] = []
        outputs: list[str] = []
        for index, request in enumerate(requests):
            join, read = _join(con, request, index, entity_types, timestamp_column)
            joins.append(join)
            reads.append(read)
            alias = f"v{index}"
            ttl = request.view.definition.ttl_seconds
            for feature, column in zip(request.features, request.columns, strict=True):
                if column in taken:
                    raise InvalidArgument(
                        f"output column {column!r} ({request.label}:{feature}) is already an entity column or "
                        "another feature: pass full_feature_names=True"
                    )
                taken.add(column)
                value = f"{alias}.{quote(feature)}"
                if ttl is not None:
                    entity_ts = f"e.{quote(timestamp_column)}"
                    value = f"CASE WHEN {alias}.{_TS} >= {entity_ts} - INTERVAL {int(ttl)} SECOND THEN {value} END"
                outputs.append(f"{value} AS {quote(column)}")
        select = ", ".join([*(f"e.{quote(c)}" for c in entity_columns), *outputs])
        sql = f"SELECT {select} FROM ({entity_sql}) e {' '.join(joins)} ORDER BY e.{row}"
        columns = (*entity_columns, *(c for r in requests for c in r.columns))
        views = tuple(r.view for r in requests)
        registered = keep[0] if keep else None  # the entity rows in memory (with the row number)
        path = None if registered is not None else str(entity)
        engine = _engine(con, config or DuckConfig(), registered, path, len(entity_columns), requests)
        if engine == "duckdb":
            return TrainingSet(sql, views, tuple(columns), con, keep)

        def in_memory() -> pa.Table:
            plain = f"SELECT * FROM read_parquet({literal(path)})" if path is not None else ""
            return _join_in_memory(
                con, registered, plain, row, timestamp_column, reads, (config or DuckConfig()).threads
            )

        return TrainingSet(sql, views, tuple(columns), con, keep, "numpy", in_memory)
    except BaseException:
        con.close()
        raise


@dataclass(frozen=True)
class _Read:
    """What the in-memory engine reads of one view: its keys, its times as integers and its
    features (``sql``), in ``unit`` (``"us"`` or ``"ns"``), and the TTL in that unit."""

    request: ViewRequest
    sql: str
    unit: str
    ttl: int | None


def _join(
    con: duckdb.DuckDBPyConnection,
    request: ViewRequest,
    index: int,
    entity_types: dict[str, str],
    timestamp_column: str,
) -> tuple[str, _Read]:
    """The view's ASOF clause of the DuckDB query, and what the in-memory engine reads of it."""
    view = request.view
    definition = view.definition
    types = _describe(con, request.source, f"the source of {view.ref}")
    missing_keys = [k for k in view.join_keys if k not in entity_types]
    if missing_keys:
        raise InvalidArgument(
            f"the entity rows have no join key {', '.join(map(repr, missing_keys))} (needed by {view.ref}; "
            f"columns: {', '.join(c for c in entity_types if c != _ROW)})"
        )
    for column in (*view.join_keys, definition.timestamp_field, *request.features):
        if column not in types:
            raise InvalidArgument(f"the source of {view.ref} has no column {column!r} (it has: {', '.join(types)})")
    for key in view.join_keys:
        ours, theirs = _family(entity_types[key]), _family(types[key])
        # A key of nulls only compares with any type: it matches nothing, its rows are kept.
        if ours != theirs and {ours, theirs} != {"int", "float"} and "null" not in (ours, theirs):
            raise InvalidArgument(
                f"join key {key!r} is {entity_types[key]} in the entity rows "
                f"but {types[key]} in the source of {view.ref}"
            )
    ts_type = types[definition.timestamp_field]
    if _family(ts_type) != "timestamp":
        raise InvalidArgument(
            f"the timestamp field {definition.timestamp_field!r} of {view.ref} is {ts_type}, not a timestamp"
        )
    entity_ts_type = entity_types[timestamp_column]
    if _is_aware(ts_type) != _is_aware(entity_ts_type):
        aware, naive = ("the entity rows", view.ref) if _is_aware(entity_ts_type) else (view.ref, "the entity rows")
        raise InvalidArgument(
            f"time zones mixed: the timestamps of {aware} are time-zone aware but those of {naive} are naive "
            "(localize both, or neither)"
        )
    for name in request.features:
        declared = definition.feature(name).dtype
        found = types[name]
        if _family(found) not in _ACCEPTS[declared]:
            raise InvalidArgument(
                f"type mismatch: feature {name!r} of {view.ref} is declared {declared} but its source column is {found}"
            )
    ts = quote(definition.timestamp_field)
    if ts_type != entity_ts_type:  # compare like with like, at the finer precision
        ns = _is_ns(ts_type) or _is_ns(entity_ts_type)
        common = ("TIMESTAMPTZ_NS" if ns else "TIMESTAMPTZ") if _is_aware(ts_type) else "TIMESTAMP_NS"
        ts = f"CAST({ts} AS {common})"
        entity_ts = f"CAST(e.{quote(timestamp_column)} AS {common})"
    else:
        entity_ts = f"e.{quote(timestamp_column)}"
    columns = ", ".join([*(quote(k) for k in view.join_keys), f"{ts} AS {_TS}", *(quote(f) for f in request.features)])
    alias = f"v{index}"
    on = " AND ".join(
        [*(f"e.{quote(k)} = {alias}.{quote(k)}" for k in view.join_keys), f"{entity_ts} >= {alias}.{_TS}"]
    )
    unit = "ns" if _is_ns(ts_type) or _is_ns(entity_ts_type) else "us"
    ttl = definition.ttl_seconds
    read = _Read(
        request,
        f"SELECT {', '.join(quote(k) for k in view.join_keys)}, {quote(definition.timestamp_field)} AS {_TS}, "
        f"{', '.join(quote(f) for f in request.features)} FROM ({request.source})",
        unit,
        None if ttl is None else int(ttl) * (10**9 if unit == "ns" else 10**6),
    )
    return f"ASOF LEFT JOIN (SELECT {columns} FROM ({request.source})) {alias} ON {on}", read


def _engine(
    con: duckdb.DuckDBPyConnection,
    config: DuckConfig,
    registered: pa.Table | None,
    entity_path: str | None,
    entity_width: int,
    requests: Sequence[ViewRequest],
) -> str:
    """Which engine joins: the one asked for, else (``auto``) numpy when every view reads Parquet
    and the values the join reads, at 8 bytes each, fit a quarter of the memory limit (the sort,
    the codes and the gathered columns take about three times as much again); else DuckDB."""
    if config.engine != "auto":
        return config.engine
    if any(r.files is None for r in requests):
        return "duckdb"  # a SQL or CSV source: its size is not known before it runs
    values = 0
    for request in requests:
        width = len(request.view.join_keys) + 1 + len(request.features)
        values += _parquet_rows(con, request.files or "") * width
    if registered is not None:
        values += registered.num_rows * 2  # its codes and times; its columns are already in memory
    elif entity_path is not None:
        values += _parquet_rows(con, entity_path) * (entity_width + 2)
    return "numpy" if values * 8 <= config.memory_bytes() // 4 else "duckdb"


def _parquet_rows(con: duckdb.DuckDBPyConnection, path: str) -> int:
    """The rows of Parquet files, from their footers."""
    rows = con.execute(f"SELECT sum(num_rows) FROM parquet_file_metadata({literal(path)})").fetchall()
    return int(rows[0][0] or 0)


def _join_in_memory(
    con: duckdb.DuckDBPyConnection,
    registered: pa.Table | None,
    entity_sql: str,
    row: str,
    timestamp_column: str,
    reads: Sequence[_Read],
    threads: int | None,
) -> pa.Table:
    """The join in memory (``features/asof.py``): the entity rows (``registered``, or read by
    ``entity_sql``), then per view its columns read by DuckDB as Arrow, matched with
    ``searchsorted``, gathered with ``take``."""
    import pyarrow as pa

    from modelyard.features.asof import Rows, asof_indices, gather

    # In memory already, or a Parquet path read once, in the files' order (a plain scan keeps it).
    entity_rows = registered.drop_columns([row]) if registered is not None else con.sql(entity_sql).to_arrow_table()

    def one(read: _Read) -> pa.Table:
        cursor = con.cursor()  # one connection per thread; the sources need nothing registered
        try:
            view = _read_view(cursor, read)
        finally:
            cursor.close()
        keys = read.request.view.join_keys
        index, taken = asof_indices(
            Rows([entity_rows.column(k) for k in keys], entity_rows.column(timestamp_column)),
            Rows([view.column(k) for k in keys], view.column(_TS)),
            read.ttl,
            read.unit,
        )
        return gather(view.select(list(read.request.features)), index, taken)

    # The views in parallel (DuckDB's reads, numpy's sorts and Arrow's takes release the GIL): the
    # first in this thread, the others on as many more threads as there are cores left.
    workers = max(1, min(len(reads), threads or os.cpu_count() or 1))
    if workers == 1:
        gathered = [one(read) for read in reads]
    else:
        with ThreadPoolExecutor(max_workers=workers - 1) as pool:
            others = [pool.submit(one, read) for read in reads[1:]]
            gathered = [one(reads[0]), *(future.result() for future in others)]
    columns = [*entity_rows.columns, *(c for g in gathered for c in g.columns)]
    names = [*entity_rows.column_names, *(c for r in reads for c in r.request.columns)]
    return pa.table(columns, names=names)


def _read_view(con: duckdb.DuckDBPyConnection, read: _Read) -> pa.Table:
    """The columns the in-memory engine reads of one view, as DuckDB gives them (``read.sql``).

    A view over one Parquet file, without a transformation, is read by Arrow's Parquet reader:
    only the columns needed, one chunk per row group (about half DuckDB's time, and no copy to
    join the chunks later; ``pyarrow.parquet`` imports in ~10 ms once pandas is loaded). It is
    then cast to the Arrow schema DuckDB gives the same query, so the values and types are
    DuckDB's; when a column is missing or a cast would lose anything (an INT96 timestamp, a Hive
    partition column), DuckDB reads it."""
    import pyarrow as pa

    relation = con.sql(read.sql)
    definition = read.request.view.definition
    path = read.request.files
    if path is None or definition.transformation or not os.path.isfile(path):
        return relation.to_arrow_table()
    import pyarrow.parquet as pq

    schema = relation.limit(0).to_arrow_table().schema  # binds the query only: no rows read
    names = [*read.request.view.join_keys, definition.timestamp_field, *read.request.features]
    try:
        with pq.ParquetFile(path) as file:  # not ``read_table``: no dataset layer, a chunk per row group
            table = file.read(columns=list(dict.fromkeys(names)))
        return pa.table([table.column(n) for n in names], names=schema.names).cast(schema)
    except (pa.ArrowException, KeyError, IndexError, ValueError, OSError):
        return relation.to_arrow_table()

