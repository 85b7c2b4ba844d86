"""Prometheus metrics of a model server, in a registry of the app's own (so two apps in one process,
as in tests, never share counters). Every series is labelled by endpoint and variant, so a rollback
rule can read one variant's error rate and latency.

- ``modelyard_serving_requests_total{endpoint,variant,protocol,code}``
- ``modelyard_serving_request_seconds{endpoint,variant}`` (histogram, from body received to answer)
- ``modelyard_serving_errors_total{endpoint,variant,kind}`` (kind: input, overloaded, model, internal)
- ``modelyard_serving_batch_rows{endpoint,variant}`` (histogram: rows per model call)
- ``modelyard_serving_batch_seconds{endpoint,variant}`` (histogram: time per model call)
- ``modelyard_serving_model_version{endpoint,variant,model}`` (gauge: the version a variant serves)
- ``modelyard_serving_shadow_total{endpoint,variant,status}`` (shadow calls, off the response path)

The four series every request touches (requests, latency, batch rows and seconds) are plain
counters of this process (``_Variant``: a bucket index by bisection and a few integer additions
under one uncontended lock), exposed through a collector when ``/metrics`` is read. A prometheus-
client value costs more per update — with several workers each one is a pid check, a lock and a
write into a memory-mapped file — and a request made seven of them. The rarer series (errors,
shadows, versions) stay prometheus-client metrics.

With several worker processes (``--workers``) the workers share a directory: prometheus-client's
multiprocess files for the rarer series, and for the per-request counters one snapshot file per
worker (``serving-<pid>.json``, rewritten atomically about once a second and whenever that worker
answers ``/metrics``); ``/metrics`` of any worker reports the sum over the workers.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "ServingMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
_ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
_SNAPSHOT_PREFIX = "serving-"
_PUBLISH_S = 1.0


class _Histogram:
    """Bucket counts (the last one is +Inf) and the sum: ``observe`` is a bisection and two additions."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value


class _Variant:
    """One (endpoint, variant)'s per-request counters (module docstring)."""

    __slots__ = ("batch_rows", "batch_seconds", "latency", "lock", "requests")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = {}
        self.latency = _Histogram(LATENCY_BUCKETS)
        self.batch_rows = _Histogram(_ROW_BUCKETS)
        self.batch_seconds = _Histogram(LATENCY_BUCKETS)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": [[p, c, n] for (p, c), n in self.requests.items()],
                "latency": [list(self.latency.counts), self.latency.total],
                "batch_rows": [list(self.batch_rows.counts), self.batch_rows.total],
                "batch_seconds": [list(self.batch_seconds.counts), self.batch_seconds.total],
            }


#: A snapshot of one process: {"endpoint\0variant": _Variant.snapshot()}
Snapshot = dict[str, dict[str, Any]]


class ServingMetrics:
    def __init__(self, *, multiprocess_dir: str | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        #: when these counters started (epoch seconds): the SLO's windows count a worker from here
        self.started = time.time()
        self.multiprocess_dir = multiprocess_dir
        labels = ("endpoint", "variant")
        self.errors = Counter(
            "modelyard_serving_errors", "Requests that failed, by kind.", (*labels, "kind"), registry=self.registry
        )
        self.model_version = Gauge(
            "modelyard_serving_model_version",
            "The model version a variant serves.",
            (*labels, "model"),
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.shadow = Counter("modelyard_serving_shadow", "Shadow calls.", (*labels, "status"), registry=self.registry)
        self._variants: dict[tuple[str, str], _Variant] = {}
        self._variants_lock = threading.Lock()
        self._collector = _RequestCollector(self)
        self.registry.register(self._collector)
        self._publisher: threading.Thread | None = None

    # -- per request ----------------------------------------------------------------------------
    def variant(self, endpoint: str, variant: str) -> _Variant:
        key = (endpoint, variant)
        found = self._variants.get(key)
        if found is None:
            with self._variants_lock:
                found = self._variants.setdefault(key, _Variant())
            if self.multiprocess_dir is not None and self._publisher is None:
                self._start_publisher()
        return found

    def request(self, endpoint: str, variant: str, protocol: str, code: int, seconds: float | None) -> None:
        bound = self.variant(endpoint, variant)
        key = (protocol, code)
        with bound.lock:
            bound.requests[key] = bound.requests.get(key, 0) + 1
            if seconds is not None:
                bound.latency.observe(seconds)

    def batch(self, endpoint: str, variant: str, rows: int, seconds: float) -> None:
        bound = self.variant(endpoint, variant)
        with bound.lock:
            bound.batch_rows.observe(rows)
            bound.batch_seconds.observe(seconds)

    def error(self, endpoint: str, variant: str, kind: str) -> None:
        self.errors.labels(endpoint, variant, kind).inc()

    def set_version(self, endpoint: str, variant: str, model: str, version: int) -> None:
        self.model_version.labels(endpoint, variant, model).set(version)

    # -- reading --------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """This process's per-request counters."""
        with self._variants_lock:
            items = list(self._variants.items())
        return {f"{e}\0{v}": bound.snapshot() for (e, v), bound in items}

    def snapshots(self) -> list[Snapshot]:
        """Every worker's per-request counters (this process's fresh, the others' as last published)."""
        own = self.snapshot()
        if self.multiprocess_dir is None:
            return [own]
        self.publish(own)
        found = [own]
        mine = self._snapshot_path().name
        for path in Path(self.multiprocess_dir).glob(f"{_SNAPSHOT_PREFIX}*.json"):
            if path.name == mine:
                continue
            with contextlib.suppress(OSError, orjson.JSONDecodeError):
                found.append(orjson.loads(path.read_bytes()))
        return found

    def render(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        collected = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(collected, path=self.multiprocess_dir)
        collected.register(_RequestCollector(self, every_worker=True))
        return generate_latest(collected)

    # -- several workers ------------------------------------------------------------------------
    def _snapshot_path(self) -> Path:
        assert self.multiprocess_dir is not None
        return Path(self.multiprocess_dir) / f"{_SNAPSHOT_PREFIX}{os.getpid()}.json"

    def publish(self, snapshot: Snapshot | None = None) -> None:
        """Write this worker's counters for the other workers' ``/metrics`` (atomically)."""
        if self.multiprocess_dir is None:
            return
        path = self._snapshot_path()
        temporary = path.with_suffix(f".{threading.get_ident()}.tmp")
        try:
            temporary.write_bytes(orjson.dumps(snapshot if snapshot is not None else self.snapshot()))
            os.replace(temporary, path)
        except OSError:  # the directory went away (shutting down): nothing to publish to
            pass

    def _start_publisher(self) -> None:
        with self._variants_lock:
            if self._publisher is not None:
                return
            stop = threading.Event()

            def run() -> None:
                while not stop.wait(_PUBLISH_S):
                    self.publish()

            self._publisher = threading.Thread(target=run, name="modelyard-metrics", daemon=True)
            self._publisher.start()


class _RequestCollector:
    """The per-request series, from this process's counters or summed over every worker's."""

    def __init__(self, metrics: ServingMetrics, *, every_worker: bool = False) -> None:
        self.metrics = metrics
        self.every_worker = every_worker

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        snapshots = self.metrics.snapshots() if self.every_worker else [self.metrics.snapshot()]
        labels = ["endpoint", "variant"]
        requests = CounterMetricFamily(
            "modelyard_serving_requests", "Requests answered.", labels=[*labels, "protocol", "code"]
        )
        families = {
            "latency": (
                HistogramMetricFamily(
                    "modelyard_serving_request_seconds", "Time from request body received to answer.", labels=labels
                ),
                LATENCY_BUCKETS,
            ),
            "batch_rows": (
                HistogramMetricFamily("modelyard_serving_batch_rows", "Rows per model call.", labels=labels),
                _ROW_BUCKETS,
            ),
            "batch_seconds": (
                HistogramMetricFamily("modelyard_serving_batch_seconds", "Time per model call.", labels=labels),
                LATENCY_BUCKETS,
            ),
        }
        counts: dict[tuple[str, str, str, str], float] = {}
        histograms: dict[tuple[str, str, str], tuple[list[float], float]] = {}
        for snapshot in snapshots:
            for key, values in snapshot.items():
                endpoint, _, variant = key.partition("\0")
                for protocol, code, n in values["requests"]:
                    label = (endpoint, variant, str(protocol), str(code))
                    counts[label] = counts.get(label, 0.0) + n
                for name in families:
                    bucket_counts, total = values[name]
                    entry = histograms.get((name, endpoint, variant))
                    if entry is None:
                        histograms[(name, endpoint, variant)] = (list(map(float, bucket_counts)), float(total))
                    else:
                        histograms[(name, endpoint, variant)] = (
                            [a + b for a, b in zip(entry[0], bucket_counts, strict=True)],
                            entry[1] + total,
                        )
        for label, n in counts.items():
            requests.add_metric(list(label), n)
        yield requests
        for (name, endpoint, variant), (bucket_counts, total) in histograms.items():
            family, bounds = families[name]
            cumulative, running = [], 0.0
            for bound, n in zip((*bounds, float("inf")), bucket_counts, strict=True):
                running += n
                cumulative.append((floatToGoString(bound), running))
            family.add_metric([endpoint, variant], cumulative, total)
        for family, _ in families.values():
            yield family
