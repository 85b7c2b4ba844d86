"""Samples of a feature view version's source, read with DuckDB: the newest distinct entity keys
(what the release parity check compares) and the newest rows (what the UI shows a person)."""

from __future__ import annotations

from typing import Any

from modelyard.core.features import FeatureViewVersion
from modelyard.features.offline import DuckConfig, quote, source_sql

__all__ = ["sample_keys", "sample_rows"]


def sample_keys(
    view: FeatureViewVersion, limit: int, *, location: str | None = None, duck: DuckConfig | None = None
) -> list[dict[str, Any]]:
    """Up to ``limit`` distinct entity keys of a view version's rows, those with the newest event
    first (ties by key): the keys a parity check compares."""
    keys = ", ".join(quote(k) for k in view.join_keys)
    ts = quote(view.definition.timestamp_field)
    sql = (
        f"SELECT {keys} FROM ({source_sql(view, location)}) AS rows GROUP BY {keys} "
        f"ORDER BY max({ts}) DESC, {keys} LIMIT {int(limit)}"
    )
    return [dict(zip(view.join_keys, row, strict=True)) for row in _fetch(sql, duck)]


def sample_rows(
    view: FeatureViewVersion, limit: int, *, location: str | None = None, duck: DuckConfig | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The newest ``limit`` rows of a view version's source: its keys, event time and features
    (column names, rows), for a person to look at."""
    columns = [*view.join_keys, view.definition.timestamp_field, *(f.name for f in view.definition.features)]
    ts = quote(view.definition.timestamp_field)
    sql = (
        f"SELECT {', '.join(quote(c) for c in columns)} FROM ({source_sql(view, location)}) AS rows "
        f"ORDER BY {ts} DESC LIMIT {int(limit)}"
    )
    return columns, _fetch(sql, duck)


def _fetch(sql: str, duck: DuckConfig | None) -> list[tuple[Any, ...]]:
    con = (duck or DuckConfig()).connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
