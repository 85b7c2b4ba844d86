"""Online serving: materialisation into an online store, and prepared online reads.

Materialisation reads a view's source with DuckDB, keeps each entity's newest row whose event
time falls in ``[start, end)``, and writes it to the online store (which keeps the newest row per
entity across runs). Each run is recorded in the feature registry (view version, target, window,
rows), which is what incremental materialisation starts from (the end of the last run) and what
freshness reports. Rows that arrive late, with an event time before the last run's end, are only
picked up by an explicit ``materialize(start, end)`` over their window.

An online read is a prepared ``OnlinePlan``: the feature references resolved once to view
versions, each with a prepared lookup of its online store; a call encodes the entity keys and
does one lookup per view, with no DataFrame in the way. An entity the store does not have (or
whose row is older than the view's TTL) gets nulls and ``found`` False for that view; it is never
an error for the batch.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelyard.core.errors import InvalidArgument
from modelyard.core.features import FeatureViewVersion
from modelyard.features.offline import DuckConfig, _describe, _is_aware, quote
from modelyard.features.online.base import MultiLookup, OnlineRow, OnlineStore, encode_key

__all__ = ["OnlinePlan", "OnlineResult", "PlanGroup", "read_rows_for_window"]

_BATCH_ROWS = 50_000


@dataclass(frozen=True)
class OnlineResult:
    """``values[i][j]``: feature ``features[j]`` of entity row ``i`` (None when not found);
    ``found[i][k]``: whether view ``views[k]`` had a fresh row for entity ``i``."""

    features: list[str]
    views: list[str]
    values: list[list[Any]]
    found: list[list[bool]]

    def to_dict(self) -> dict[str, list[Any]]:
        """Column name -> values, one per entity row."""
        return {name: [row[j] for row in self.values] for j, name in enumerate(self.features)}


@dataclass(frozen=True)
class PlanGroup:
    view: str  # view@vN
    join_keys: tuple[str, ...]
    ttl_ms: int | None
    width: int  # how many features this view contributes


class OnlinePlan:
    """Feature references resolved to prepared lookups; call it with entity rows. ``lookup``
    reads every group's keys together (one round trip on a store that can)."""

    def __init__(self, features: list[str], groups: list[PlanGroup], lookup: MultiLookup) -> None:
        self.features = features
        self.groups = groups
        self.lookup = lookup
        self.views = [g.view for g in groups]
        self.created = time.monotonic()

    def __call__(self, entity_rows: Sequence[Mapping[str, Any]]) -> OnlineResult:
        now_ms = int(time.time() * 1000)
        values: list[list[Any]] = [[] for _ in entity_rows]
        found: list[list[bool]] = [[] for _ in entity_rows]
        keys = [self._keys(group, entity_rows) for group in self.groups]
        hits = self.lookup([[key for _, key in group_keys] for group_keys in keys])
        for group, group_keys, group_hits in zip(self.groups, keys, hits, strict=True):
            blank = (None,) * group.width
            got: dict[int, tuple[Any, ...]] = {}
            for (i, _), hit in zip(group_keys, group_hits, strict=True):
                if hit is not None and (group.ttl_ms is None or now_ms - hit[0] <= group.ttl_ms):
                    got[i] = hit[1]
            for i in range(len(entity_rows)):
                hit_values = got.get(i)
                values[i].extend(blank if hit_values is None else hit_values)
                found[i].append(hit_values is not None)
        return OnlineResult(self.features, self.views, values, found)

    @staticmethod
    def _keys(group: PlanGroup, entity_rows: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
        """(row index, encoded key) of each row with every join key of ``group`` not None."""
        out = []
        for i, row in enumerate(entity_rows):
            try:
                parts = [row[k] for k in group.join_keys]
            except KeyError as exc:
                raise InvalidArgument(
                    f"entity row {i} has no join key {exc.args[0]!r} (needed by {group.view})"
                ) from None
            except TypeError:
                raise InvalidArgument(f"entity row {i} is not a mapping of join keys to values") from None
            if any(p is None for p in parts):
                continue
            out.append((i, encode_key(parts)))
        return out


def _scalar(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return float(value)  # Decimal


def read_rows_for_window(
    view: FeatureViewVersion,
    source: str,
    start_ms: int,
    end_ms: int,
    duck: DuckConfig,
    progress: Callable[[int], None] | None = None,
) -> Iterator[OnlineRow]:
    """The newest row per entity of ``view`` with an event time in ``[start_ms, end_ms)``, as
    online rows (streamed from DuckDB in Arrow batches)."""
    if end_ms < start_ms:
        raise InvalidArgument("the materialisation window ends before it starts")
    con = duck.connect()
    try:
        d = view.definition
        types = _describe(con, source, f"the source of {view.ref}")
        for column in (*view.join_keys, d.timestamp_field, *(f.name for f in d.features)):
            if column not in types:
                raise InvalidArgument(f"the source of {view.ref} has no column {column!r} (it has: {', '.join(types)})")
        ts = quote(d.timestamp_field)
        # An aware time is an instant (CAST to TIMESTAMP would take the session's time zone).
        ms = f"epoch_ms(CAST({ts} AS {'TIMESTAMPTZ' if _is_aware(types[d.timestamp_field]) else 'TIMESTAMP'}))"
        keys = ", ".join(quote(k) for k in view.join_keys)
        feats = ", ".join(quote(f.name) for f in d.features)
        sql = (
            f"SELECT {keys}, {ms} AS __ms, {feats} FROM ({source}) "
            f"WHERE {ms} >= {int(start_ms)} AND {ms} < {int(end_ms)} "
            f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {ts} DESC) = 1"
        )
        n_keys = len(view.join_keys)
        reader = con.sql(sql).to_arrow_reader(_BATCH_ROWS)
        for batch in reader:
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            key_columns, event_ms, value_columns = columns[:n_keys], columns[n_keys], columns[n_keys + 1 :]
            for r in range(batch.num_rows):
                parts = [c[r] for c in key_columns]
                if any(p is None for p in parts):
                    continue
                yield encode_key(parts), int(event_ms[r]), [_scalar(c[r]) for c in value_columns]
            if progress is not None:
                progress(batch.num_rows)
    finally:
        con.close()


def write_window(
    online: OnlineStore,
    view: FeatureViewVersion,
    source: str,
    start_ms: int,
    end_ms: int,
    duck: DuckConfig,
    progress: Callable[[int], None] | None = None,
) -> int:
    return online.write(view, read_rows_for_window(view, source, start_ms, end_ms, duck, progress))
