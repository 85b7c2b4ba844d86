"""``PredictionLogger``: every prediction logged asynchronously, never delaying the response.

It implements the serving app's ``PredictionSink`` (``offer(record)``): the request path only
appends the record to a bounded buffer (a lock held for one append: no I/O, no serialisation, no
thread wake-up but one per full batch). When the buffer is full the record is dropped and counted
(``dropped``, and the Prometheus counter ``modelyard_prediction_log_dropped_total``); ``offer``
never blocks and never raises.

A background thread takes the buffer whole when ``batch_rows`` records wait or every
``flush_interval_s`` seconds, whichever comes first, turns each endpoint's rows into one Parquet
file (pyarrow, zstd), stores it in the content-addressed artifact store (an atomic write: a crash
leaves no partial blob at any address) and then indexes it in the serving store (endpoint, time
range, row count, digest, and the request ids for feedback) — so an index row never points at a
missing blob, and a crash between the two leaves only an unreferenced blob. A failed write is
retried with backoff; rows that still cannot be written are counted in ``failed`` (and logged),
never silently lost. Numpy outputs are encoded without building Python lists
(``json_column``; the text is ``to_json``'s).

``flush()`` waits until everything offered before it is written; ``close()`` flushes and stops the
thread (the serving app calls it on shutdown).

Columns of a partition: ``request_id``, ``endpoint``, ``variant``, ``model_name``,
``model_version``, ``inputs`` and ``outputs`` (JSON text: the decoded rows as sent and the
model's answer), ``latency_ms``, ``timestamp_ms``, ``shadow``, ``status`` ("ok" / "error"),
``error`` (the failure's one-line message; null when ok; partitions written before it existed
lack the column and read back as null). A float64 matrix request's inputs are stored as numbers:
``input_values`` (its values row by row) and ``input_columns`` (a JSON list of the column names),
with ``inputs`` null; ``modelyard.predictions`` reads them back as the same ``{column: [values]}``
(non-finite values as null, as in the JSON text).
"""

from __future__ import annotations

import functools
import io
import logging
import operator
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from modelyard.core.ids import new_id
from modelyard.core.serving import PredictionLogPartition
from modelyard.core.tracking import now_millis
from modelyard.serving.endpoint import MatrixColumns, PredictionRecord

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from modelyard.artifacts.interfaces import ArtifactStore
    from modelyard.store.serving import ServingStore

__all__ = ["COLUMNS", "PredictionLogger", "json_column", "to_json"]

logger = logging.getLogger("modelyard.serving.predlog")

COLUMNS = (
    "request_id",
    "endpoint",
    "variant",
    "model_name",
    "model_version",
    "inputs",
    "outputs",
    "latency_ms",
    "timestamp_ms",
    "shadow",
    "status",
    "error",
)
_RETRIES = 5
_FIELDS = operator.attrgetter(*COLUMNS)  # a record's fields as a tuple (in C), in COLUMNS order


def _default(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        return tolist()
    to_dict = getattr(value, "to_dict", None)  # pandas frames and series
    if callable(to_dict):
        try:
            return to_dict(orient="records")
        except TypeError:
            return to_dict()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def to_json(value: Any) -> str:
    """Inputs and outputs as JSON text (numpy and pandas values included; NaN becomes null)."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_SERIALIZE_NUMPY).decode()


# Dtypes whose values orjson writes from a numpy array exactly as from the Python values that
# ``tolist()`` gives (float32 is not among them: orjson writes its shortest float32 form).
_NATIVE_KINDS = {"f8", "i8", "i4", "i2", "i1", "u8", "u4", "u2", "u1", "b1"}


def json_column(values: Sequence[Any]) -> list[str | None]:
    """``to_json`` of each value, with a fast path for what serving logs most: a numpy output
    (a float64 matrix request's inputs are stored as numbers, see ``_input_columns``)."""
    out: list[str | None] = []
    append = out.append
    for value in values:
        kind = type(value)
        if (
            kind is np.ndarray
            and value.flags.c_contiguous
            and f"{value.dtype.kind}{value.dtype.itemsize}" in _NATIVE_KINDS
        ):
            append(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode())
        else:
            append(to_json(value))
    return out


def _input_columns(inputs: Sequence[Any]) -> tuple[list[str | None], Any, list[str | None]]:
    """A partition's input columns: ``inputs`` (JSON text), and for a float64 matrix request its
    values as numbers instead (``input_values``, row-major, with ``input_columns`` naming them, and
    ``inputs`` null): no text to write or to parse back, the costliest part of logging before."""
    import pyarrow as pa

    text: list[str | None] = []
    names: list[str | None] = []
    arrays: list[Any] = []
    sizes = np.zeros(len(inputs) + 1, dtype=np.int64)
    mask = np.ones(len(inputs), dtype=bool)
    for i, value in enumerate(inputs):
        if type(value) is MatrixColumns:
            array = value.array
            if getattr(array, "ndim", 0) == 2 and array.dtype == np.float64 and array.shape[1] == len(value.names):
                arrays.append(array)
                sizes[i + 1] = array.size
                mask[i] = False
                text.append(None)
                names.append(_names_json(value.names))
                continue
        text.append(None if value is None else to_json(value))
        names.append(None)
    offsets = np.cumsum(sizes)
    if offsets[-1] > np.iinfo(np.int32).max:  # beyond a list array's offsets: every row as text
        return json_column(inputs), pa.nulls(len(inputs), pa.list_(pa.float64())), [None] * len(inputs)
    flat = np.concatenate(arrays, axis=None) if arrays else np.zeros(0)
    values = pa.ListArray.from_arrays(
        pa.array(offsets.astype(np.int32)), pa.array(flat, pa.float64()), mask=pa.array(mask)
    )
    return text, values, names


@functools.lru_cache(maxsize=64)
def _names_json(names: tuple[str, ...]) -> str:
    return orjson.dumps(list(names)).decode()


class PredictionLogger:
    """A ``PredictionSink`` writing Parquet partitions to ``artifacts``, indexed in ``store``."""

    def __init__(
        self,
        store: ServingStore,
        artifacts: ArtifactStore,
        *,
        max_queue: int = 100_000,
        batch_rows: int = 10_000,
        flush_interval_s: float = 1.0,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], int] = now_millis,
    ) -> None:
        if max_queue < 1 or batch_rows < 1 or flush_interval_s <= 0:
            raise ValueError("max_queue and batch_rows must be >= 1 and flush_interval_s > 0")
        self.store = store
        self.artifacts = artifacts
        self.batch_rows = batch_rows
        self.flush_interval_s = flush_interval_s
        self.clock = clock
        self.max_queue = max_queue
        # The request path appends to ``_buffer`` under ``_lock`` (held for an append) and wakes the
        # writer only when a batch is full: one wake-up per batch, not per record (a queue woke the
        # writer thread, and handed it the GIL, on every record).
        self._lock = threading.Lock()
        self._buffer: list[PredictionRecord] = []
        self._offered = 0  # records accepted so far (their sequence numbers are 1.._offered)
        self._done = 0  # every record up to this sequence number is written (or counted failed)
        self._done_cond = threading.Condition()
        self._wake = threading.Event()
        self._stopping = False
        self._dropped = 0
        self._written = 0
        self._failed = 0
        self._partitions = 0
        self._closed = False
        self._dropped_counter: Any = None
        self._written_counter: Any = None
        if registry is not None:
            from prometheus_client import Counter

            self._dropped_counter = Counter(
                "modelyard_prediction_log_dropped",
                "Prediction records dropped because the log queue was full.",
                registry=registry,
            )
            self._written_counter = Counter(
                "modelyard_prediction_log_written", "Prediction records written to the log.", registry=registry
            )
        self._thread = threading.Thread(target=self._run, name="modelyard-predlog", daemon=True)
        self._thread.start()

    # -- the request path -----------------------------------------------------------------------
    def offer(self, record: PredictionRecord) -> None:
        """Queue one record; a full queue (or a closed logger) drops it and counts it. Never
        blocks, never raises."""
        try:
            with self._lock:
                size = len(self._buffer)
                if self._closed or size >= self.max_queue:
                    dropped = True
                else:
                    dropped = False
                    self._buffer.append(record)
                    self._offered += 1
            if dropped:
                self._count_drop()
            elif size + 1 == self.batch_rows:
                self._wake.set()
        except Exception:  # never let logging fail a request
            self._count_drop()

    def _count_drop(self) -> None:
        self._dropped += 1  # one writer per process under the GIL: an approximate count is fine
        if self._dropped_counter is not None:
            try:
                self._dropped_counter.inc()
            except Exception:
                pass

    # -- what it did ----------------------------------------------------------------------------
    @property
    def dropped(self) -> int:
        """Records dropped since start because the queue was full (or the logger closed)."""
        return self._dropped

    @property
    def written(self) -> int:
        """Rows written to partitions and indexed."""
        return self._written

    @property
    def failed(self) -> int:
        """Rows that could not be written after retries (store or artifact store down)."""
        return self._failed

    @property
    def partitions(self) -> int:
        return self._partitions

    @property
    def pending(self) -> int:
        return len(self._buffer)

    # -- lifecycle ------------------------------------------------------------------------------
    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until every record offered before this call is written; False on timeout."""
        with self._lock:
            target = self._offered
        if not self._thread.is_alive():
            return self._done >= target
        with self._done_cond:
            if self._done >= target:
                return True
            self._wake.set()
            return self._done_cond.wait_for(lambda: self._done >= target, timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush, then stop the writer thread. Records offered afterwards are dropped."""
        if self._closed:
            return
        with self._lock:
            self._closed = True
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)

    def __enter__(self) -> PredictionLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the writer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            with self._lock:
                batch, self._buffer = self._buffer, []
                seq = self._offered
            for i in range(0, len(batch), self.batch_rows):
                self._write(batch[i : i + self.batch_rows])
            with self._done_cond:
                self._done = seq
                self._done_cond.notify_all()
            if self._stopping and not self._buffer:
                return

    def _write(self, batch: Sequence[PredictionRecord]) -> None:
        by_endpoint: dict[str, list[PredictionRecord]] = {}
        for record in batch:
            by_endpoint.setdefault(record.endpoint, []).append(record)
        for endpoint, records in by_endpoint.items():
            delay = 0.05
            partition_id = new_id()  # one id for every attempt: a retried index call adds nothing
            for attempt in range(_RETRIES):
                try:
                    self._write_partition(partition_id, endpoint, records)
                    break
                except Exception as exc:
                    if attempt + 1 == _RETRIES:
                        self._failed += len(records)
                        logger.error("could not write %d logged predictions of %s: %s", len(records), endpoint, exc)
                        break
                    time.sleep(delay)
                    delay = min(delay * 4, 2.0)

    def _write_partition(self, partition_id: str, endpoint: str, records: Sequence[PredictionRecord]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        (request_ids, endpoints, variants, model_names, model_versions, inputs, outputs, latencies, times,
         shadows, statuses, errors) = zip(*map(_FIELDS, records), strict=True)  # fmt: skip
        request_ids = tuple(map(str, request_ids))
        input_json, input_values, input_columns = _input_columns(inputs)
        table = pa.table(
            {
                "request_id": pa.array(request_ids, pa.string()),
                "endpoint": pa.array(endpoints, pa.string()),
                "variant": pa.array(variants, pa.string()),
                "model_name": pa.array(model_names, pa.string()),
                "model_version": pa.array(model_versions, pa.int64()),
                "inputs": pa.array(input_json, pa.string()),
                "outputs": pa.array(json_column(outputs), pa.string()),
                "latency_ms": pa.array(latencies, pa.float64()),
                "timestamp_ms": pa.array(times, pa.int64()),
                "shadow": pa.array(shadows, pa.bool_()),
                "status": pa.array(statuses, pa.string()),
                "error": pa.array(errors, pa.string()),
                "input_values": input_values,
                "input_columns": pa.array(input_columns, pa.string()),
            }
        )
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        data = sink.getvalue()
        blob = self.artifacts.put_bytes(data)
        partition = PredictionLogPartition(
            id=partition_id,
            endpoint=endpoint,
            start_ms=max(0, int(min(times))),
            end_ms=max(0, int(max(times))),
            row_count=len(records),
            digest=blob.digest,
            size=blob.size,
            created_at=self.clock(),
        )
        # Shadow rows share their request's id with the answered row: feedback is about the request.
        self.store.add_prediction_partition(partition, request_ids)
        self._written += len(records)
        self._partitions += 1
        if self._written_counter is not None:
            self._written_counter.inc(len(records))
