"""The SLO's windows: per-variant requests, 5xx errors and p99 over the last seconds, judged for a
deployment across every worker and replica that serves it.

``CountWindows`` keeps timed snapshots of cumulative counts — per (endpoint, variant, worker):
requests, 5xx, the latency histogram's cumulative buckets and when that worker's counters started
— for the last hour, and answers a window as the difference of two snapshots, worker by worker (a
worker first seen after the window began counts from its start if it started within the window,
else from its first snapshot; a worker's counters never count backwards). The p99 is the upper
bound of the bucket that holds it.

Where the counts come from:

- ``local_counts(metrics)``: this process's serving metrics (one worker judging its own traffic:
  a server's stores, or tests);
- ``SharedCounts``: each tick the worker publishes its own counts per deployment to the serving
  store (``publish_slo_counts``, one row per worker) and reads every worker's back
  (``read_slo_counts``), so the sum covers every worker process and every replica on the same
  metadata store. Only deployments with an SLO are published (``names`` is asked every tick: the
  host's deployments whose current spec has one); the others write nothing.

``JudgeClaim`` decides which worker judges: the one holding the deployment's judge lease in the
store (``claim_slo_judge``: insert-unique, renewed every tick by its holder, taken over once it
expired — the lease the prediction-log maintenance and monitoring's windows use), so exactly one
worker evaluates each deployment's rules and rolls it back; the rollback is still a compare-and-set
on the revision judged.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from modelyard.serving.metrics import LATENCY_BUCKETS
from modelyard.serving.rollback import WindowStats

if TYPE_CHECKING:
    from modelyard.serving.metrics import ServingMetrics
    from modelyard.store.serving import ServingStore

__all__ = ["CountWindows", "JudgeClaim", "SharedCounts", "local_counts", "worker_id"]

log = logging.getLogger("modelyard.serving.slo")

#: (endpoint, variant, worker)
Key = tuple[str, str, str]
#: (requests, 5xx, count per latency bucket (the last: +Inf), when the worker's counters started (s))
Entry = tuple[float, float, list[float], float]
_BOUNDS = (*LATENCY_BUCKETS, math.inf)


def worker_id() -> str:
    """A name for this serving process, unique across machines and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def _per_deployment(metrics: ServingMetrics) -> dict[str, dict[str, list[Any]]]:
    """This process's counts as ``{endpoint: {variant: [requests, 5xx, bucket counts]}}``."""
    out: dict[str, dict[str, list[Any]]] = {}
    for key, values in metrics.snapshot().items():
        endpoint, _, variant = key.partition("\0")
        requests = sum(n for _, _, n in values["requests"])
        errors = sum(n for _, code, n in values["requests"] if int(code) >= 500)
        out.setdefault(endpoint, {})[variant] = [requests, errors, list(values["latency"][0])]
    return out


def local_counts(metrics: ServingMetrics) -> Callable[[], dict[Key, Entry]]:
    def collect() -> dict[Key, Entry]:
        return {
            (endpoint, variant, "local"): (float(r), float(e), [float(c) for c in b], metrics.started)
            for endpoint, variants in _per_deployment(metrics).items()
            for variant, (r, e, b) in variants.items()
        }

    return collect


class SharedCounts:
    """Publish this worker's counts for ``names()`` and read every worker's (module docstring)."""

    def __init__(
        self,
        store: ServingStore,
        metrics: ServingMetrics,
        names: Callable[[], Sequence[str]],
        *,
        worker: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.names = names
        self.worker = worker or worker_id()
        self.clock = clock

    def __call__(self) -> dict[Key, Entry]:
        now_ms = int(self.clock() * 1000)
        own = _per_deployment(self.metrics)
        out: dict[Key, Entry] = {}
        for name in self.names():
            published = {"started": self.metrics.started, "variants": own.get(name, {})}
            self.store.publish_slo_counts(name, self.worker, published, at=now_ms)
            for worker, counts in self.store.read_slo_counts(name).items():
                started = float(counts.get("started", 0.0))
                for variant, (r, e, b) in counts.get("variants", {}).items():
                    out[(name, variant, worker)] = (float(r), float(e), [float(c) for c in b], started)
        return out


class JudgeClaim:
    """``claim(deployment)``: whether this worker judges it now (takes or renews the lease)."""

    def __init__(
        self, store: ServingStore, worker: str, *, lease_s: float = 5.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.worker = worker
        self.lease_ms = max(1, int(lease_s * 1000))
        self.clock = clock

    def __call__(self, deployment: str) -> bool:
        return self.store.claim_slo_judge(
            deployment, owner=self.worker, at=int(self.clock() * 1000), lease_ms=self.lease_ms
        )


class CountWindows:
    """Per-variant windows over timed snapshots of cumulative counts (module docstring)."""

    def __init__(
        self,
        collect: Callable[[], dict[Key, Entry]],
        *,
        horizon_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.collect = collect
        self.horizon_s = horizon_s
        self.clock = clock
        self._snapshots: deque[tuple[float, dict[Key, Entry]]] = deque()
        self._first: dict[Key, Entry] = {}
        self._baseline: dict[str, float] = {}
        self._lock = threading.Lock()

    def sample(self) -> None:
        """Take a snapshot of the counts now (every tick)."""
        snapshot = self.collect()
        now = self.clock()
        with self._lock:
            # each worker's first snapshot, for the workers still publishing (gone ones drop out)
            self._first = {key: self._first.get(key, entry) for key, entry in snapshot.items()}
            self._snapshots.append((now, snapshot))
            while self._snapshots and self._snapshots[0][0] < now - self.horizon_s:
                self._snapshots.popleft()

    def reset(self, endpoint: str) -> None:
        """Judge ``endpoint`` only on requests counted from now on."""
        self.sample()
        self._baseline[endpoint] = self.clock()

    def stats(self, endpoint: str, window_s: float) -> dict[str, WindowStats]:
        with self._lock:
            snapshots = list(self._snapshots)
            first = dict(self._first)
        if not snapshots:
            return {}
        now, latest = snapshots[-1]
        start = max(now - window_s, self._baseline.get(endpoint, -math.inf))
        base: dict[Key, Entry] = {}
        for moment, snapshot in snapshots:
            if moment > start:
                break
            base = snapshot
        sums: dict[str, list[Any]] = {}
        for key, (requests, errors, buckets, started) in latest.items():
            if key[0] != endpoint:
                continue
            before = base.get(key)
            if before is None:
                before = (0.0, 0.0, [0.0] * len(buckets), started) if started >= start else first.get(key)
            if before is None or before[3] != started:
                before = (0.0, 0.0, [0.0] * len(buckets), started)
            total = sums.setdefault(key[1], [0.0, 0.0, [0.0] * len(buckets)])
            total[0] += max(0.0, requests - before[0])
            total[1] += max(0.0, errors - before[1])
            for i, count in enumerate(buckets):
                total[2][i] += max(0.0, count - (before[2][i] if i < len(before[2]) else 0.0))
        return {
            variant: WindowStats(
                endpoint=endpoint,
                variant=variant,
                window_s=window_s,
                requests=int(requests),
                errors=int(errors),
                p99_ms=_p99_from_buckets(buckets),
            )
            for variant, (requests, errors, buckets) in sums.items()
        }


def _p99_from_buckets(counts: list[float]) -> float | None:
    """The upper bound (ms) of the bucket holding the 99th percentile; None without observations."""
    total = sum(counts)
    if total <= 0:
        return None
    target, running = 0.99 * total, 0.0
    for bound, count in zip(_BOUNDS, counts, strict=False):
        running += count
        if running >= target:
            return bound * 1000.0 if math.isfinite(bound) else math.inf
    return math.inf
