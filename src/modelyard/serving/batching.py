"""Adaptive micro-batching: concurrent requests for one model become one call of the model.

One :class:`MicroBatcher` per model (per worker process) holds a queue of requests and one
thread that runs batches, so the event loop keeps accepting while the model works. Rules:

- **Rows, not requests.** ``max_batch_rows`` counts the rows inside requests: a batch never holds
  more rows than that (a single request bigger than it runs alone, whole).
- **Natural batching.** While a batch runs, new requests queue; when it ends, the next batch takes
  everything queued (up to ``max_batch_rows``). At low load a request runs at once, alone; under
  load batches grow by themselves. ``max_wait_ms`` (default 0) additionally holds an idle batcher
  back for that long (never past a request's budget) to let a batch fill.
- **Latency budget and early 503.** ``max_latency_ms`` is the time a request may spend queued and
  running. A :class:`CostModel` (least squares line, time = a + b * rows, over the recent batches)
  predicts when a new request would finish: the running batch's remainder, the batches queued
  ahead of it and its own. A request that cannot make its budget is refused at once with
  :class:`Overloaded` (HTTP 503 with Retry-After) rather than answered late; so is a queued request
  whose budget has run out by the time its batch would start. Until the model has seen
  ``warmup`` batches it admits everything (it cannot predict yet).
- **One bad request does not fail its neighbours.** If a batch raises, its requests are retried one
  by one, so only the request that caused the error gets it.

The ideas are BentoML's (its adaptive batching dispatcher fits batch time with a linear model over
recent batches and refuses requests it cannot serve in time); this implementation is our own.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard.core.errors import InvalidArgument, Overloaded

__all__ = ["BatchConfig", "CostModel", "MicroBatcher", "concat_inputs", "split_outputs"]


@dataclass(frozen=True)
class BatchConfig:
    """Micro-batching settings (per model, per worker)."""

    max_batch_rows: int = 64
    max_latency_ms: float = 100.0
    max_wait_ms: float = 0.0
    warmup: int = 8
    #: A batch-time line measured elsewhere, ``(a seconds, b seconds per row)``: the cost model
    #: starts from it and never learns (deterministic admission; tests).
    fixed_cost: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.max_batch_rows <= 1_000_000:
            raise InvalidArgument(f"max batch rows must be 1..1000000, got {self.max_batch_rows}")
        if not 0 < self.max_latency_ms <= 600_000:
            raise InvalidArgument(f"max latency must be 0..600000 ms, got {self.max_latency_ms}")
        if not 0 <= self.max_wait_ms <= self.max_latency_ms:
            raise InvalidArgument(f"max wait must be 0..max latency ({self.max_latency_ms} ms), got {self.max_wait_ms}")


class CostModel:
    """Predicted time of a batch of ``rows`` rows: ``a + b * rows`` seconds, fitted by least squares
    over the last ``window`` batches. ``fixed=(a, b)`` never learns (deterministic tests, or a
    cost measured elsewhere)."""

    def __init__(self, *, window: int = 64, warmup: int = 8, fixed: tuple[float, float] | None = None) -> None:
        self._rows: deque[float] = deque(maxlen=window)
        self._seconds: deque[float] = deque(maxlen=window)
        self.warmup = warmup
        self.fixed = fixed
        self.a, self.b = fixed if fixed is not None else (0.0, 0.0)
        self.batches = 0

    @property
    def ready(self) -> bool:
        return self.fixed is not None or self.batches >= self.warmup

    def observe(self, rows: int, seconds: float) -> None:
        self.batches += 1
        if self.fixed is not None:
            return
        self._rows.append(float(rows))
        self._seconds.append(seconds)
        x = np.fromiter(self._rows, dtype=np.float64)
        y = np.fromiter(self._seconds, dtype=np.float64)
        if len(x) >= 2 and float(np.ptp(x)) > 0:
            b, a = np.polyfit(x, y, 1)
            if b < 0:  # noise: fall back to the mean time per batch
                a, b = float(y.mean()), 0.0
        else:
            a, b = float(y.mean()), 0.0
        self.a, self.b = max(float(a), 0.0), max(float(b), 0.0)

    def estimate(self, rows: int) -> float:
        return self.a + self.b * rows if self.ready else 0.0


def concat_inputs(parts: list[Any]) -> Any:
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    import pandas as pd

    return pd.concat(parts, ignore_index=True)


def split_outputs(outputs: Any, sizes: list[int]) -> list[Any]:
    if len(sizes) == 1:
        return [outputs]
    iloc = outputs.iloc if hasattr(outputs, "iloc") else None
    pieces, start = [], 0
    for size in sizes:
        pieces.append(iloc[start : start + size] if iloc is not None else outputs[start : start + size])
        start += size
    return pieces


class _Item:
    __slots__ = ("data", "deadline", "enqueued", "future", "rows")

    def __init__(self, data: Any, rows: int, future: asyncio.Future[Any], enqueued: float, deadline: float) -> None:
        self.data, self.rows, self.future, self.enqueued, self.deadline = data, rows, future, enqueued, deadline


class MicroBatcher:
    """See the module docstring. ``predict(data) -> outputs`` runs in the batcher's thread;
    ``on_batch(rows, seconds)`` is called on the event loop after each batch."""

    def __init__(
        self,
        predict: Callable[[Any], Any],
        config: BatchConfig,
        *,
        cost: CostModel | None = None,
        on_batch: Callable[[int, float], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        name: str = "model",
    ) -> None:
        self.predict = predict
        self.config = config
        self.cost = cost or CostModel(warmup=config.warmup, fixed=config.fixed_cost)
        self.on_batch = on_batch
        self.clock = clock
        self.name = name
        self._budget = config.max_latency_ms / 1000.0
        self._queue: deque[_Item] = deque()
        self._queued_rows = 0
        self._busy_until = 0.0
        self._running = False
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retiring = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"modelyard-batch-{name}")

    # -- admission ----------------------------------------------------------------------------
    def expected_finish(self, rows: int, now: float) -> float:
        """Seconds from ``now`` until a new request of ``rows`` rows would be answered."""
        cost, limit = self.cost, self.config.max_batch_rows
        ahead = max(self._busy_until - now, 0.0) if self._running else 0.0
        queued = self._queued_rows + rows
        full, rest = divmod(queued, limit)
        return ahead + full * cost.estimate(limit) + (cost.estimate(rest) if rest else 0.0)

    async def submit(self, data: Any, rows: int) -> Any:
        if self._retiring:  # its host was swapped out: a straggler runs alone, off the loop
            return await asyncio.to_thread(self.predict, data)
        now = self.clock()
        if self.cost.ready:
            expected = self.expected_finish(rows, now)
            if expected > self._budget:
                raise Overloaded(
                    f"model {self.name!r} cannot answer within its {self.config.max_latency_ms:g} ms budget "
                    f"(expected {expected * 1000:.1f} ms); retry later",
                    retry_after=max(expected - self._budget, 0.001),
                )
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._loop = loop
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._dispatch())
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append(_Item(data, rows, future, now, now + self._budget))
        self._queued_rows += rows
        assert self._wake is not None
        self._wake.set()
        return await future

    # -- dispatch -----------------------------------------------------------------------------
    def _take(self, now: float) -> list[_Item]:
        limit, rows = self.config.max_batch_rows, 0
        batch: list[_Item] = []
        while self._queue:
            item = self._queue[0]
            if batch and rows + item.rows > limit:
                break
            self._queue.popleft()
            self._queued_rows -= item.rows
            if item.future.done():  # the client went away
                continue
            if self.cost.ready and now + self.cost.estimate(rows + item.rows) > item.deadline:
                item.future.set_exception(
                    Overloaded(f"model {self.name!r}: the request's latency budget ran out in the queue", 0.001)
                )
                continue
            batch.append(item)
            rows += item.rows
        return batch

    async def _hold(self) -> None:
        """With max_wait_ms, let an idle batcher's batch fill (never past the oldest one's budget)."""
        assert self._wake is not None
        wait = self.config.max_wait_ms / 1000.0
        while self._queue and self._queued_rows < self.config.max_batch_rows and not self._retiring:
            oldest = self._queue[0]
            slack = oldest.deadline - self.cost.estimate(self._queued_rows) - self.clock()
            remaining = min(oldest.enqueued + wait, oldest.enqueued + max(slack, 0.0)) - self.clock()
            if remaining <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                return

    async def _dispatch(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._retiring:
                    self._executor.shutdown(wait=False)
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.config.max_wait_ms > 0:
                await self._hold()
            start = self.clock()
            batch = self._take(start)
            if not batch:
                continue
            rows = sum(item.rows for item in batch)
            self._running = True
            self._busy_until = start + self.cost.estimate(rows)
            try:
                results = await loop.run_in_executor(self._executor, self._run, batch)
            except BaseException as exc:  # never leave a request waiting on a batch that did not run
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc if isinstance(exc, Exception) else Overloaded("stopped", 1.0))
                raise
            finally:
                self._running = False
            seconds = self.clock() - start
            self.cost.observe(rows, seconds)
            if self.on_batch is not None:
                self.on_batch(rows, seconds)
            for item, (ok, value) in zip(batch, results, strict=True):
                if item.future.done():
                    continue
                if ok:
                    item.future.set_result(value)
                else:
                    item.future.set_exception(value)

    def _run(self, batch: list[_Item]) -> list[tuple[bool, Any]]:
        """In the batcher's thread: one call for the batch; one call per request if it fails."""
        try:
            outputs = self.predict(concat_inputs([item.data for item in batch]))
            return [(True, piece) for piece in split_outputs(outputs, [item.rows for item in batch])]
        except Exception as exc:
            if len(batch) == 1:
                return [(False, exc)]
        results: list[tuple[bool, Any]] = []
        for item in batch:
            try:
                results.append((True, self.predict(item.data)))
            except Exception as exc:
                results.append((False, exc))
        return results

    def retire(self) -> None:
        """Answer what is queued, then stop (its model is no longer served: a hot swap). Callable
        from any thread; requests that still arrive run one by one."""
        self._retiring = True
        loop, wake, task = self._loop, self._wake, self._task
        if loop is None or wake is None or task is None or task.done():
            self._executor.shutdown(wait=False)
            return
        try:
            loop.call_soon_threadsafe(wake.set)
        except RuntimeError:  # the loop has closed: nothing is queued on it any more
            self._executor.shutdown(wait=False)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for item in self._queue:
            if not item.future.done():
                item.future.set_exception(Overloaded(f"model {self.name!r} is shutting down", 1.0))
        self._queue.clear()
        self._queued_rows = 0
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    def retry_after_header(self, exc: Overloaded) -> str:
        return str(max(1, math.ceil(exc.retry_after)))
