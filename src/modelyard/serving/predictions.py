"""Read logged predictions back as a table, joined with their feedback.

``predictions(stores, endpoint, start, end)`` lists the endpoint's partitions overlapping the time
range in the serving store, reads each Parquet blob from the artifact store (every read is
verified against its digest), keeps the rows in ``[start, end)``, decodes the JSON ``inputs`` and
``outputs`` and joins the feedback recorded for each request id (``feedback``, ``feedback_at``;
missing where none arrived yet). Rows are ordered by time. The SDK's ``modelyard.predictions`` and
the CLI's ``modelyard predictions show`` call it.

Times are epoch milliseconds, ``datetime`` objects, ISO-8601 text, or a duration meaning that long
ago (``"30m"``, ``"24h"``, ``"7d"``).
"""

from __future__ import annotations

import datetime as dt
import io
import math
from typing import TYPE_CHECKING, Any

import orjson

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.core.serving import validate_deployment_name
from modelyard.core.tracking import now_millis
from modelyard.serving.predlog import COLUMNS

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from modelyard.store.bundle import Stores

__all__ = ["TimeLike", "predictions", "since_ms", "time_ms", "traffic"]

TimeLike = int | float | str | dt.datetime | dt.date | None
_FOREVER = 2**63 - 1
#: Times a read lists the index again when a listed blob was deleted meanwhile (compaction, retention).
_RELISTS = 5


def time_ms(value: TimeLike, name: str, *, now: int | None = None) -> int | None:
    """Epoch milliseconds from what a user gives (see the module docstring); None stays None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidArgument(f"invalid {name}: {value!r}")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return int(moment.timestamp() * 1000)
    if isinstance(value, dt.date):
        return int(dt.datetime.combine(value, dt.time.min, tzinfo=dt.UTC).timestamp() * 1000)
    if isinstance(value, str):
        from modelyard.auth.timeparse import parse_time_ms

        return parse_time_ms(value, name, now_ms=now_millis() if now is None else now)
    raise InvalidArgument(f"invalid {name}: {value!r} (epoch ms, a datetime, ISO text or a duration like 24h)")


def since_ms(value: TimeLike) -> int:
    """The start of a ``--since`` window (0 when not given)."""
    return time_ms(value, "since") or 0


def _decode(text: Any) -> Any:
    return orjson.loads(text) if isinstance(text, (str, bytes)) else None  # null reads as None or NaN


def _inputs(frame: pd.DataFrame) -> pd.Series:
    """Each row's inputs as ``{column: [values]}``: decoded from the JSON text, or rebuilt from a
    matrix request's numbers (``input_values`` / ``input_columns``; see ``serving/predlog.py``),
    non-finite values as None as the JSON text has them."""
    import numpy as np
    import pandas as pd

    decoded = [_decode(t) for t in frame["inputs"].tolist()]
    if "input_values" in frame.columns:
        names_of: dict[str, list[str]] = {}
        for i, (values, names) in enumerate(zip(frame["input_values"].tolist(), frame["input_columns"].tolist(),
                                                strict=True)):  # fmt: skip
            if values is None or names is None:
                continue
            columns = names_of.get(names)
            if columns is None:
                columns = names_of[names] = orjson.loads(names)
            matrix = np.asarray(values, dtype=np.float64).reshape(-1, len(columns)).T
            lists: list[Any] = matrix.tolist()
            if not np.isfinite(matrix).all():
                lists = [[v if math.isfinite(v) else None for v in column] for column in lists]
            decoded[i] = dict(zip(columns, lists, strict=True))
    return pd.Series(decoded, index=frame.index, dtype=object)


def _read_partitions(
    stores: Stores, endpoint: str, start_ms: int, end_ms: int, *, columns: list[str] | None = None, newest: int = 0
) -> tuple[list[pa.Table], int]:
    """The Parquet tables of ``endpoint``'s partitions overlapping ``[start_ms, end_ms)`` (the
    ``newest`` of them only, when given) and how many were listed. One listing is one snapshot of
    the index, so a compaction never shows a row twice; a blob deleted after the listing (its rows
    compacted or pruned meanwhile) means the index changed: it is listed again, so no row goes
    missing either."""
    import pyarrow.parquet as pq

    for attempt in range(_RELISTS):
        found = stores.serving.list_prediction_partitions(endpoint, start_ms, end_ms)
        chosen = found[-newest:] if newest else found
        try:
            tables = [pq.read_table(io.BytesIO(stores.artifacts.get_bytes(p.digest)), columns=columns) for p in chosen]
        except NotFound:
            if attempt + 1 == _RELISTS:
                raise
            continue
        return tables, len(found)
    raise AssertionError("unreachable")


def predictions(
    stores: Stores,
    endpoint: str,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    include_shadow: bool = True,
) -> pd.DataFrame:
    """The logged predictions of ``endpoint`` in ``[start, end)`` joined with feedback, as a
    pandas DataFrame with the columns of a partition (see ``serving/predlog.py``) plus
    ``feedback`` and ``feedback_at``. An endpoint with no logs gives an empty frame with those
    columns."""
    import pandas as pd
    import pyarrow as pa

    endpoint = validate_deployment_name(endpoint)
    start_ms = time_ms(start, "start") or 0
    end_ms = time_ms(end, "end")
    end_ms = _FOREVER if end_ms is None else end_ms
    if end_ms <= start_ms:
        raise InvalidArgument("the end of the time range must be after its start")
    tables, _ = _read_partitions(stores, endpoint, start_ms, end_ms)
    columns = [*COLUMNS, "feedback", "feedback_at"]
    if not tables:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    table = pa.concat_tables(tables, promote_options="default")
    frame = table.to_pandas()
    if "error" not in frame.columns:  # partitions written before failed requests were logged
        frame["error"] = pd.Series([None] * len(frame), dtype=object, index=frame.index)
    frame = frame[(frame["timestamp_ms"] >= start_ms) & (frame["timestamp_ms"] < end_ms)]
    if not include_shadow:
        frame = frame[~frame["shadow"]]
    frame = frame.sort_values(["timestamp_ms", "request_id", "shadow"], kind="stable").reset_index(drop=True)
    errors = frame["error"].astype(object)
    frame["error"] = errors.where(errors.notna(), None)  # null, not NaN, where the request succeeded
    frame["inputs"] = _inputs(frame)
    frame["outputs"] = frame["outputs"].map(_decode)
    found = stores.serving.get_feedback(frame["request_id"].unique().tolist())
    ids = frame["request_id"].tolist()
    # object columns: a missing label stays None (a float column would turn it into NaN)
    frame["feedback"] = pd.Series([found[r].value if r in found else None for r in ids], dtype=object)
    frame["feedback_at"] = pd.Series([found[r].at if r in found else None for r in ids], dtype=object)
    return frame[columns]


def traffic(
    stores: Stores, endpoint: str, start_ms: int, end_ms: int, *, max_partitions: int = 200
) -> tuple[pd.DataFrame, bool]:
    """The light columns of the logged predictions in ``[start_ms, end_ms)`` (variant, shadow,
    status, latency, time — no inputs or outputs), for request-rate and latency views, from at
    most the newest ``max_partitions`` partitions; the flag says whether older ones were left out."""
    import pandas as pd
    import pyarrow as pa

    columns = ["variant", "shadow", "status", "latency_ms", "timestamp_ms"]
    tables, listed = _read_partitions(
        stores, validate_deployment_name(endpoint), start_ms, end_ms, columns=columns, newest=max_partitions
    )
    truncated = listed > max_partitions
    if not tables:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns}), truncated
    frame = pa.concat_tables(tables).to_pandas()
    frame = frame[(frame["timestamp_ms"] >= start_ms) & (frame["timestamp_ms"] < end_ms)]
    return frame.reset_index(drop=True), truncated
