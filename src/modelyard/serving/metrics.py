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

With several worker processes (``--workers``) the workers write to a shared directory and
``/metrics`` of any worker reports the sum (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

__all__ = ["CONTENT_TYPE", "ServingMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
_ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class _Variant:
    """The children of one (endpoint, variant), bound once: a request pays no label lookup for them."""

    __slots__ = ("batch_rows", "batch_seconds", "errors", "latency", "requests", "requests_metric")

    def __init__(self, metrics: ServingMetrics, endpoint: str, variant: str) -> None:
        self.latency = metrics.latency.labels(endpoint, variant)
        self.batch_rows = metrics.batch_rows.labels(endpoint, variant)
        self.batch_seconds = metrics.batch_seconds.labels(endpoint, variant)
        self.errors = metrics.errors
        self.requests_metric = metrics.requests
        self.requests: dict[tuple[str, int], Any] = {}


class ServingMetrics:
    def __init__(self, *, multiprocess_dir: str | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess_dir = multiprocess_dir
        labels = ("endpoint", "variant")
        self.requests = Counter(
            "modelyard_serving_requests", "Requests answered.", (*labels, "protocol", "code"), registry=self.registry
        )
        self.latency = Histogram(
            "modelyard_serving_request_seconds",
            "Time from request body received to answer.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "modelyard_serving_errors", "Requests that failed, by kind.", (*labels, "kind"), registry=self.registry
        )
        self.batch_rows = Histogram(
            "modelyard_serving_batch_rows", "Rows per model call.", labels, buckets=_ROW_BUCKETS, registry=self.registry
        )
        self.batch_seconds = Histogram(
            "modelyard_serving_batch_seconds",
            "Time per model call.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
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

    def variant(self, endpoint: str, variant: str) -> _Variant:
        key = (endpoint, variant)
        found = self._variants.get(key)
        if found is None:
            found = self._variants[key] = _Variant(self, endpoint, variant)
        return found

    def request(self, endpoint: str, variant: str, protocol: str, code: int, seconds: float | None) -> None:
        bound = self.variant(endpoint, variant)
        counter = bound.requests.get((protocol, code))
        if counter is None:
            counter = bound.requests[(protocol, code)] = self.requests.labels(endpoint, variant, protocol, str(code))
        counter.inc()
        if seconds is not None:
            bound.latency.observe(seconds)

    def error(self, endpoint: str, variant: str, kind: str) -> None:
        self.errors.labels(endpoint, variant, kind).inc()

    def batch(self, endpoint: str, variant: str, rows: int, seconds: float) -> None:
        bound = self.variant(endpoint, variant)
        bound.batch_rows.observe(rows)
        bound.batch_seconds.observe(seconds)

    def set_version(self, endpoint: str, variant: str, model: str, version: int) -> None:
        self.model_version.labels(endpoint, variant, model).set(version)

    def render(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        collected = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(collected, path=self.multiprocess_dir)
        return generate_latest(collected)
