"""The SDK's one session: what ``modelyard.start_run()``, ``log_metric()`` and friends share.

One ``Session`` object holds the process state of the fluent API: the configured URIs and
project, the opened stores and every service built over them (one cache, ``cached()``, emptied
when the URIs change or the process forks), the metric buffer with its per-run step counters,
and the active runs.

The active runs are a stack per thread and per asyncio task, held in a ``ContextVar`` as an
immutable tuple (a new tuple is set on every push and pop, so contexts that copied the variable
never see each other's changes). An asyncio task starts with a copy of its creator's stack; a
thread (which Python starts with an empty context) that has started no run of its own sees the
main thread's runs. Runs in such an inherited stack belong to someone else: ``log_*`` goes to
them, but ``end_run()`` never ends them, and ``start_run()`` starts a child run under them
rather than refusing (see docs/tracking.md, "Threads and asyncio").
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar, cast

from modelyard.core.errors import InvalidArgument
from modelyard.core.tracking import Metric
from modelyard.core.validation import metric_step, metric_value, validate_key
from modelyard.settings import Settings, load_settings, normalize_store_uri
from modelyard.tracking.flusher import MetricBuffer
from modelyard.tracking.service import TrackingService

if TYPE_CHECKING:
    from modelyard.artifacts.interfaces import ArtifactStore
    from modelyard.sdk.tracking import ActiveRun
    from modelyard.store.bundle import Stores

T = TypeVar("T")

# The caller's active runs, innermost last. Never mutated: push and pop set a new tuple.
_runs: ContextVar[tuple[ActiveRun, ...]] = ContextVar("modelyard_active_runs", default=())


def _open_stores(settings: Settings, artifacts: ArtifactStore | None = None) -> Stores:
    from modelyard.store.bundle import open_stores

    return open_stores(settings, artifacts=artifacts)


def caller() -> object:
    """Who is calling: the running asyncio task, else the current thread. Runs it starts are its own."""
    asyncio = sys.modules.get("asyncio")  # never imported: no task can be running
    if asyncio is not None:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running event loop in this thread
            task = None
        if task is not None:
            return task
    return threading.current_thread()


class Session:
    """The SDK's process state; one instance, ``_session``, reset in a forked child."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.store_uri: str | None = None
        self.artifact_uri: str | None = None
        self.project: str | None = None
        self.synchronous = False
        self._cache: dict[str, Any] = {}
        self._root_runs: tuple[ActiveRun, ...] = ()  # the main thread's stack, for threads without one
        self._steps: dict[str, dict[str, int]] = {}  # run id -> key -> last step
        self._valid_keys: set[str] = set()
        self._alive: set[str] = set()  # ids of the runs started and not ended: their heartbeat
        self._pid = os.getpid()

    def settings(self, store_uri: str | None = None, artifact_uri: str | None = None) -> Settings:
        base = load_settings()
        store = store_uri or self.store_uri
        art = artifact_uri or self.artifact_uri
        return replace(
            base,
            store_uri=normalize_store_uri(store) if store else base.store_uri,
            artifact_uri=art or base.artifact_uri,
            project=self.project or base.project,
        )

    # -- stores and services: one cache -----------------------------------------------------
    def cached(self, name: str, build: Callable[[], T]) -> T:
        """The object cached under ``name``, built once (under the lock) until ``reset()``."""
        value = self._cache.get(name)
        if value is None:
            with self._lock:
                value = self._cache.get(name)
                if value is None:
                    value = build()
                    self._cache[name] = value
        return cast(T, value)

    def stores(self) -> Stores:
        """Every store the settings name (``open_stores``), opened once."""
        return self.cached("stores", lambda: _open_stores(self.settings()))

    def client(self) -> TrackingService:
        """The tracking service over ``stores()``."""
        return self.cached("tracking", lambda: TrackingService(self.stores().tracking, self.stores().artifacts))

    def buffer(self) -> MetricBuffer:
        buffer = self._cache.get("buffer")  # the hot path: no closure built once it exists
        if buffer is None:
            buffer = self.cached("buffer", self._new_buffer)
        return buffer

    def _new_buffer(self) -> MetricBuffer:
        """The metric buffer; its thread also sends the heartbeat of the active runs."""
        tracking = self.stores().tracking
        return MetricBuffer(
            tracking.log_metrics,
            heartbeat=self._beat,
            heartbeat_interval=self.settings().heartbeat_seconds,
        )

    def _beat(self) -> None:
        alive = list(self._alive)
        if alive:
            self.stores().tracking.heartbeat(alive)

    def flush(self) -> None:
        buffer = self._cache.get("buffer")
        if buffer is not None:
            buffer.flush()

    def reset(self) -> None:
        """Forget stores, services and the caller's runs (after a fork, or when the URIs change).

        In a forked child the parent's connections and flusher thread are not closed: they are
        the parent's; the child opens its own on first use."""
        with self._lock:
            cache, self._cache = self._cache, {}
            buffer = cache.get("buffer")
            stores = cache.get("stores")
            if os.getpid() == self._pid:
                if buffer is not None:
                    buffer.close()
                if stores is not None:
                    stores.close()
            else:
                if buffer is not None:
                    buffer.abandon()  # its points are the parent's to write, not written twice
                # Kept referenced, never closed: closing (even by the garbage collector) could end
                # the parent's database sessions over the sockets the child inherited.
                _inherited_from_parent.append(cache)
            self._steps = {}
            self._alive = set()
            self._root_runs = ()
            _runs.set(())
        self._pid = os.getpid()

    # -- the caller's active runs -----------------------------------------------------------
    def runs(self) -> tuple[ActiveRun, ...]:
        """The caller's active runs, innermost last: its own stack, else the main thread's."""
        return _runs.get() or self._root_runs

    def current(self) -> ActiveRun:
        runs = _runs.get() or self._root_runs
        if not runs:
            raise InvalidArgument("no active run: call modelyard.start_run() first")
        return runs[-1]

    def own_runs(self) -> tuple[ActiveRun, ...]:
        """The runs the caller itself started and has not ended, innermost last."""
        me = caller()
        runs = _runs.get()
        first = len(runs)
        while first > 0 and runs[first - 1].owner is me:  # own runs always sit above inherited ones
            first -= 1
        return runs[first:]

    def push(self, run: ActiveRun) -> None:
        self._set_runs((*_runs.get(), run))
        self._alive.add(run.id)
        self.buffer().start()  # heartbeats from now on, even if the run logs no metric

    def pop(self, run: ActiveRun) -> None:
        runs = _runs.get()
        if runs and runs[-1] is run:
            self._set_runs(runs[:-1])
        self._steps.pop(run.id, None)
        self._alive.discard(run.id)

    def _set_runs(self, runs: tuple[ActiveRun, ...]) -> None:
        _runs.set(runs)
        if caller() is threading.main_thread():
            self._root_runs = runs

    # -- the hot path -----------------------------------------------------------------------
    def log_metric(self, key: str, value: Any, step: Any, timestamp: int | None, run_id: str | None) -> None:
        rid = run_id or self.current().id
        if key not in self._valid_keys:
            validate_key(key, "metric")
            self._valid_keys.add(key)
        val = value if type(value) is float else metric_value(value, key)
        steps = self._steps.get(rid)
        if steps is None:
            steps = self._steps.setdefault(rid, {})
        if step is None:
            step = steps.get(key, -1) + 1
        elif type(step) is not int:
            step = metric_step(step, key)
        steps[key] = step
        point = Metric(key, val, step, timestamp if timestamp is not None else time.time_ns() // 1_000_000)
        if self.synchronous:
            self.client().store.log_metrics(rid, [point])
        else:
            self.buffer().add(rid, point)


_inherited_from_parent: list[dict[str, Any]] = []
_session = Session()
os.register_at_fork(after_in_child=_session.reset)
