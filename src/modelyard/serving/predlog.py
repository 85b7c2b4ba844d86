"""``PredictionLogger``: every prediction logged asynchronously, never delaying the response.

It implements the serving app's ``PredictionSink`` (``offer(record)``): the request path only puts
the record on a bounded queue (``put_nowait``: no lock held for long, no I/O, no serialisation).
When the queue is full the record is dropped and counted (``dropped``, and the Prometheus counter
``modelyard_prediction_log_dropped_total``); ``offer`` never blocks and never raises.

A background thread drains the queue into batches (``batch_rows`` rows or ``flush_interval_s``
seconds, whichever comes first), turns each endpoint's rows into one Parquet file (pyarrow, zstd),
stores it in the content-addressed artifact store (an atomic write: a crash leaves no partial blob
at any address) and then indexes it in the serving store (endpoint, time range, row count, digest,
and the request ids for feedback) — so an index row never points at a missing blob, and a crash
between the two leaves only an unreferenced blob. A failed write is retried with backoff; rows
that still cannot be written are counted in ``failed`` (and logged), never silently lost.

``flush()`` waits until everything offered before it is written; ``close()`` flushes and stops the
thread (the serving app calls it on shutdown).

Columns of a partition: ``request_id``, ``endpoint``, ``variant``, ``model_name``,
``model_version``, ``inputs`` and ``outputs`` (JSON text: the decoded rows as sent and the
model's answer), ``latency_ms``, ``timestamp_ms``, ``shadow``, ``status`` ("ok" / "error"),
``error`` (the failure's one-line message; null when ok; partitions written before it existed
lack the column and read back as null).
"""

from __future__ import annotations

import io
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from modelyard.core.ids import new_id
from modelyard.core.serving import PredictionLogPartition
from modelyard.core.tracking import now_millis
from modelyard.serving.endpoint import PredictionRecord

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from modelyard.artifacts.interfaces import ArtifactStore
    from modelyard.store.serving import ServingStore

__all__ = ["COLUMNS", "PredictionLogger", "to_json"]

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


class _Flush:
    """A marker on the queue: the writer sets ``done`` once everything before it is written."""

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


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
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
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
            if self._closed:
                raise queue.Full
            self._queue.put_nowait(record)
        except queue.Full:
            self._count_drop()
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
        return self._queue.qsize()

    # -- lifecycle ------------------------------------------------------------------------------
    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until every record offered before this call is written; False on timeout."""
        if not self._thread.is_alive():
            return self._queue.empty()
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush, then stop the writer thread. Records offered afterwards are dropped."""
        if self._closed:
            return
        self.flush(timeout)
        self._closed = True
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)

    def __enter__(self) -> PredictionLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the writer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        batch: list[PredictionRecord] = []
        markers: list[_Flush] = []
        deadline = time.monotonic() + self.flush_interval_s
        while True:
            timeout = max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            stop = item is _STOP
            if isinstance(item, _Flush):
                markers.append(item)
            elif item is not None and not stop:
                batch.append(item)
            due = time.monotonic() >= deadline
            if batch and (len(batch) >= self.batch_rows or due or markers or stop):
                self._write(batch)
                batch = []
            if markers and not batch:  # everything offered before the markers is written
                for m in markers:
                    m.done.set()
                markers = []
            if due or not batch:
                deadline = time.monotonic() + self.flush_interval_s
            if stop:
                for m in markers:
                    m.done.set()
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

        table = pa.table(
            {
                "request_id": pa.array([str(r.request_id) for r in records], pa.string()),
                "endpoint": pa.array([r.endpoint for r in records], pa.string()),
                "variant": pa.array([r.variant for r in records], pa.string()),
                "model_name": pa.array([r.model_name for r in records], pa.string()),
                "model_version": pa.array([int(r.model_version) for r in records], pa.int64()),
                "inputs": pa.array([to_json(r.inputs) for r in records], pa.string()),
                "outputs": pa.array([to_json(r.outputs) for r in records], pa.string()),
                "latency_ms": pa.array([float(r.latency_ms) for r in records], pa.float64()),
                "timestamp_ms": pa.array([int(r.timestamp_ms) for r in records], pa.int64()),
                "shadow": pa.array([bool(r.shadow) for r in records], pa.bool_()),
                "status": pa.array([str(r.status) for r in records], pa.string()),
                "error": pa.array([r.error for r in records], pa.string()),
            }
        )
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        data = sink.getvalue()
        blob = self.artifacts.put_bytes(data)
        times = [int(r.timestamp_ms) for r in records]
        partition = PredictionLogPartition(
            id=partition_id,
            endpoint=endpoint,
            start_ms=max(0, min(times)),
            end_ms=max(0, max(times)),
            row_count=len(records),
            digest=blob.digest,
            size=blob.size,
            created_at=self.clock(),
        )
        # Shadow rows share their request's id with the answered row: feedback is about the request.
        self.store.add_prediction_partition(partition, [str(r.request_id) for r in records])
        self._written += len(records)
        self._partitions += 1
        if self._written_counter is not None:
            self._written_counter.inc(len(records))
