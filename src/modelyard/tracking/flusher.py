"""Buffered metric logging that never blocks the training loop.

``MetricBuffer.add`` appends to a deque (atomic in CPython, no lock on the hot path) and wakes
the background thread when a batch is full. The thread drains the deque every ``interval``
seconds, groups points by run and writes each group as one batch. Writes are idempotent in the
store, so a batch that failed is simply retried; points are never dropped. ``flush()`` writes
everything added before the call, from the calling thread, and re-raises a persistent error.

The same thread sends the active runs' heartbeat (``heartbeat``, every ``heartbeat_interval``
seconds; a failed heartbeat is retried at the next beat and never raised), so a run whose process
died is seen as stale: one cheap UPDATE, no extra thread.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections import defaultdict, deque
from collections.abc import Callable, Sequence

from modelyard.core.tracking import Metric

WriteBatch = Callable[[str, Sequence[Metric]], None]
#: The default seconds between two heartbeats of the active runs.
HEARTBEAT_SECONDS = 30.0

MAX_BATCH = 10_000
BACKPRESSURE_POINTS = 2_000_000  # beyond this many unwritten points, add() flushes inline


class MetricBuffer:
    def __init__(
        self,
        write: WriteBatch,
        *,
        interval: float = 0.5,
        batch_size: int = 5_000,
        heartbeat: Callable[[], None] | None = None,
        heartbeat_interval: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._write = write
        self._heartbeat = heartbeat
        self._heartbeat_interval = heartbeat_interval
        self._next_beat = 0.0
        self._interval = interval
        self._batch_size = batch_size
        self._queue: deque[tuple[str, Metric]] = deque()
        self._pending: list[tuple[str, Metric]] = []  # drained but not yet written (retries)
        self._io_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._last_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        _live_buffers.add(self)

    # -- hot path ---------------------------------------------------------------------------
    def add(self, run_id: str, metric: Metric) -> None:
        queue = self._queue
        queue.append((run_id, metric))
        if self._thread is None:
            self._start()
        n = len(queue)
        if n >= self._batch_size and not self._wake.is_set():
            self._wake.set()
        if n >= BACKPRESSURE_POINTS:
            self.flush()

    def add_many(self, run_id: str, metrics: Sequence[Metric]) -> None:
        self._queue.extend((run_id, m) for m in metrics)
        if self._thread is None:
            self._start()
        if len(self._queue) >= self._batch_size:
            self._wake.set()

    # -- writing ----------------------------------------------------------------------------
    def flush(self) -> None:
        """Write every point added before this call (of every run, so that points of one run never
        overtake another's); raise the store's error if it persists."""
        with self._io_lock:
            self._drain_and_write(raise_errors=True)

    def _drain(self) -> list[tuple[str, Metric]]:
        queue = self._queue
        items = self._pending
        self._pending = []
        popleft = queue.popleft
        try:
            for _ in range(len(queue)):
                items.append(popleft())
        except IndexError:  # pragma: no cover - only if another drainer raced us
            pass
        return items

    def _drain_and_write(self, raise_errors: bool) -> None:
        items = self._drain()
        if not items:
            return
        by_run: dict[str, list[Metric]] = defaultdict(list)
        for run_id, metric in items:
            by_run[run_id].append(metric)
        failed: list[tuple[str, Metric]] = []
        error: BaseException | None = None
        for run_id, metrics in by_run.items():
            for start in range(0, len(metrics), MAX_BATCH):
                chunk = metrics[start : start + MAX_BATCH]
                if error is not None:
                    failed.extend((run_id, m) for m in chunk)
                    continue
                try:
                    self._write(run_id, chunk)
                except Exception as exc:
                    error = exc
                    failed.extend((run_id, m) for m in chunk)
        if error is not None:
            self._pending = failed + self._pending
            self._last_error = error
            if raise_errors:
                raise error
        else:
            self._last_error = None

    def start(self) -> None:
        """Start the background thread now (``start_run`` does, so heartbeats begin at once)."""
        if self._thread is None:
            self._start()

    def _beat(self) -> None:
        if self._heartbeat is None or time.monotonic() < self._next_beat:
            return
        self._next_beat = time.monotonic() + self._heartbeat_interval
        try:
            self._heartbeat()
        except Exception:  # liveness is best effort: the next beat retries
            pass

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            thread = threading.Thread(target=self._loop, name="modelyard-metric-flusher", daemon=True)
            self._thread = thread
            thread.start()

    def _loop(self) -> None:
        backoff = self._interval
        while not self._stopped:
            wait = backoff if self._heartbeat is None else min(backoff, self._heartbeat_interval)
            self._wake.wait(wait)
            self._wake.clear()
            if self._stopped:
                break
            self._beat()
            with self._io_lock:
                try:
                    self._drain_and_write(raise_errors=False)
                except Exception:  # pragma: no cover - _drain_and_write catches store errors
                    pass
            if self._last_error is not None:
                backoff = min(backoff * 2, 10.0)
            else:
                backoff = self._interval
                time.sleep(0)  # let producers run between batches

    @property
    def last_error(self) -> BaseException | None:
        return self._last_error

    def unwritten(self) -> int:
        return len(self._queue) + len(self._pending)

    def abandon(self) -> None:
        """Forget the points without writing them: in a forked child, this copy of the parent's
        buffer is the parent's to write (with its own connections), never the child's."""
        self._stopped = True
        self._queue = deque()
        self._pending = []
        _live_buffers.discard(self)

    def close(self) -> None:
        """Flush what is left (best effort, errors re-raised) and stop the thread."""
        try:
            self.flush()
        finally:
            self._stopped = True
            self._wake.set()
            _live_buffers.discard(self)


_live_buffers: weakref.WeakSet[MetricBuffer] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for buffer in list(_live_buffers):
        try:
            buffer.close()
        except Exception as exc:  # the interpreter is going away: report, don't hide
            import sys

            print(f"modelyard: could not flush {buffer.unwritten()} metric points at exit: {exc}", file=sys.stderr)
