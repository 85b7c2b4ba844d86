"""Windows over a deployment's prediction log: which are due, and their rows as a frame.

A monitor's ``WindowSpec`` cuts the log of its deployment's endpoint into windows:

* **by time**: window ``k`` covers ``[k*step, k*step + size)`` milliseconds (aligned on the
  epoch; ``step == size`` for tumbling windows). The first window is the first that starts at or
  after the monitor's ``start``; a window is *due* once its end is ``delay_ms`` in the past (the
  prediction logger writes in batches, so the newest rows arrive a little after their time).
* **by count**: window ``k`` covers rows ``[k*step, k*step + size)`` of the log logged at or after
  the monitor's ``start`` (live requests only, in time order); it is due once the log holds its
  last row.

``window_frame`` reads a window's rows (``serving.predictions.predictions``) and *expands* them:
a logged request holds its inputs column by column (``{column: [values...]}``; a tensor model's
single input as ``{"input": [[...], ...]}``) and the model's output for those rows, so one
request of three rows becomes three rows of the frame, with the request's id, variant, version,
status, latency and time repeated, its inputs as columns (a tensor's as ``input_0``,
``input_1``...) and its output as ``prediction`` (a dict output as ``prediction.KEY`` columns).
``WindowData`` keeps both: ``requests`` (one row per request: service health) and ``rows`` (one
row per model input row: quality, drift, performance).

Count windows are cut incrementally: a count window's result records its ``LogPosition`` (the
time of its first live request and how many live requests were logged before that time), and
the next run reads the log from the newest recorded position instead of from the monitor's start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.core.monitoring import WindowSpec

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.store.bundle import Stores

__all__ = [
    "META_COLUMNS",
    "PREDICTION",
    "LogPosition",
    "Window",
    "WindowData",
    "count_rows",
    "due_windows",
    "expand",
    "output_columns",
    "read_log",
    "window_frame",
]

#: The columns every expanded row carries besides its inputs and prediction.
META_COLUMNS = ("request_id", "variant", "model_name", "model_version", "status", "latency_ms", "timestamp_ms",
                "shadow", "feedback")  # fmt: skip
PREDICTION = "prediction"


@dataclass(frozen=True)
class Window:
    """``[start, end)`` in milliseconds (time windows) or row offsets (count windows)."""

    start: int
    end: int


def _first_index(start: int, stride: int) -> int:
    return -(-start // stride)  # ceil


def due_windows(
    spec: WindowSpec,
    *,
    start: int,
    last_start: int | None,
    now_ms: int,
    total_rows: int | None = None,
    limit: int = 100,
) -> list[Window]:
    """The windows after ``last_start`` (the last one claimed; None: none yet) that are due now,
    oldest first, at most ``limit``. ``total_rows`` (count windows only) is how many live rows the
    log holds since ``start``."""
    stride = spec.stride
    if spec.by == "time":
        k = _first_index(start, stride) if last_start is None else last_start // stride + 1
        out: list[Window] = []
        while len(out) < limit:
            begin = k * stride
            if begin + spec.size + spec.delay_ms > now_ms:
                break
            out.append(Window(begin, begin + spec.size))
            k += 1
        return out
    rows = total_rows or 0
    k = 0 if last_start is None else last_start // stride + 1
    found: list[Window] = []
    while len(found) < limit and k * stride + spec.size <= rows:
        found.append(Window(k * stride, k * stride + spec.size))
        k += 1
    return found


@dataclass(frozen=True)
class LogPosition:
    """A place in the live log of a count monitor: ``offset`` live requests were logged (since the
    monitor's start) before ``ms``. Reading the log from ``ms``, its first live request is at row
    offset ``offset``. Stored in a count window's values under ``log``."""

    ms: int
    offset: int

    def to_json(self) -> dict[str, int]:
        return {"from_ms": self.ms, "offset": self.offset}

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> LogPosition | None:
        found = values.get("log")
        if not isinstance(found, Mapping):
            return None
        ms, offset = found.get("from_ms"), found.get("offset")
        if isinstance(ms, int) and isinstance(offset, int) and ms >= 0 and offset >= 0:
            return cls(ms, offset)
        return None


@dataclass
class WindowData:
    """One window's traffic. ``requests``: one row per logged request (shadows included);
    ``rows``: the live requests expanded to one row per model input row; ``missing_inputs``:
    input columns the reference expects but the log lacks."""

    window: Window
    requests: pd.DataFrame
    rows: pd.DataFrame
    input_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Count windows: where the window's rows begin in the log (see ``LogPosition``).
    position: LogPosition | None = None

    @property
    def empty(self) -> bool:
        return len(self.requests) == 0

    @property
    def first_ms(self) -> int | None:
        return None if self.empty else int(self.requests["timestamp_ms"].min())

    @property
    def last_ms(self) -> int | None:
        return None if self.empty else int(self.requests["timestamp_ms"].max())


def _row_count(inputs: Any) -> int:
    if not isinstance(inputs, Mapping) or not inputs:
        return 0
    first = next(iter(inputs.values()))
    return len(first) if isinstance(first, list) else 1


def _input_columns(inputs: Mapping[str, Any], n: int) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for name, values in inputs.items():
        column = values if isinstance(values, list) else [values] * n
        if len(column) != n:
            continue
        if column and all(isinstance(v, list) for v in column):  # a tensor: one column per position
            width = max(len(v) for v in column)
            for j in range(width):
                out[f"{name}_{j}"] = [v[j] if j < len(v) else None for v in column]
        else:
            out[str(name)] = column
    return out


def output_columns(outputs: Any, n: int) -> dict[str, list[Any]]:
    if outputs is None:
        return {PREDICTION: [None] * n}
    if isinstance(outputs, Mapping):
        cols: dict[str, list[Any]] = {}
        for key, values in outputs.items():
            if isinstance(values, list) and len(values) == n:
                cols[f"{PREDICTION}.{key}"] = values
        if cols:
            cols[PREDICTION] = next(iter(cols.values()))
        return cols or {PREDICTION: [None] * n}
    if isinstance(outputs, list) and len(outputs) == n:
        return {PREDICTION: outputs}
    return {PREDICTION: [outputs] * n} if n == 1 else {PREDICTION: [None] * n}


def expand(requests: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """One row per model input row (see the module docstring); returns the frame and the input
    column names in first-seen order."""
    import pandas as pd

    parts: list[pd.DataFrame] = []
    inputs_seen: dict[str, None] = {}
    for record in requests.to_dict(orient="records"):
        inputs = record.get("inputs") or {}
        n = _row_count(inputs)
        if n == 0:
            continue
        columns = _input_columns(inputs, n)
        for name in columns:
            inputs_seen.setdefault(name, None)
        columns.update(output_columns(record.get("outputs"), n))
        feedback = record.get("feedback")
        labels = feedback if isinstance(feedback, list) and len(feedback) == n else [feedback] * n
        meta = {c: [record.get(c)] * n for c in META_COLUMNS if c != "feedback"}
        parts.append(pd.DataFrame({**meta, "feedback": labels, **columns}))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in (*META_COLUMNS, PREDICTION)}), []
    return pd.concat(parts, ignore_index=True), list(inputs_seen)


def _read(stores: Stores, endpoint: str, start_ms: int, end_ms: int) -> pd.DataFrame:
    from modelyard.serving.predictions import predictions

    return predictions(stores, endpoint, start_ms, end_ms)


def window_frame(
    stores: Stores,
    endpoint: str,
    spec: WindowSpec,
    window: Window,
    *,
    start_ms: int = 0,
    expected_columns: Sequence[str] = (),
    log: pd.DataFrame | None = None,
    offset: int = 0,
) -> WindowData:
    """The traffic of one window (see the module docstring). A window without traffic is an empty
    ``WindowData``, not an error; ``expected_columns`` missing from the log are listed in
    ``notes``. Count windows are cut from ``log`` when given (the log since ``start_ms``, read
    once for all the windows of a run, whose first live request is at row ``offset``), else from
    the log read here from ``start_ms``; their ``position`` says where they begin."""
    position = None
    if spec.by == "time":
        requests = _read(stores, endpoint, window.start, window.end)
    else:
        logged = _read(stores, endpoint, start_ms, 2**63 - 1) if log is None else log
        if window.start < offset:
            raise ValueError(f"count window {window.start} begins before the log read (row {offset})")
        live = logged[~logged["shadow"].astype(bool)].reset_index(drop=True)
        chosen = live.iloc[window.start - offset : window.end - offset]
        ids = set(chosen["request_id"])
        requests = logged[logged["request_id"].isin(ids)].reset_index(drop=True)
        if len(chosen):
            first = int(chosen["timestamp_ms"].iloc[0])
            position = LogPosition(first, offset + int((live["timestamp_ms"] < first).sum()))
    live_requests = requests[~requests["shadow"].astype(bool)] if len(requests) else requests
    rows, inputs = expand(live_requests)
    notes: list[str] = []
    missing = [c for c in expected_columns if c not in inputs]
    if missing and len(rows):
        notes.append(f"column(s) {', '.join(map(repr, missing))} of the reference are missing from the log")
    return WindowData(window=window, requests=requests, rows=rows, input_columns=inputs, notes=notes, position=position)


def read_log(stores: Stores, endpoint: str, start_ms: int) -> pd.DataFrame:
    """The log of ``endpoint`` since ``start_ms`` (what a run's count windows are cut from)."""
    return _read(stores, endpoint, start_ms, 2**63 - 1)


def count_rows(stores: Stores, endpoint: str, start_ms: int) -> int:
    """Live requests logged at or after ``start_ms`` (what count windows are cut from)."""
    from modelyard.serving.predictions import traffic

    frame, _ = traffic(stores, endpoint, start_ms, 2**63 - 1, max_partitions=1_000_000)
    return int((~frame["shadow"].astype(bool)).sum()) if len(frame) else 0
