"""Prometheus ``/metrics``: request counts and latency by route and status, metric points logged.

The registry belongs to the app (``app.state.telemetry``), not to the prometheus-client module
global, so two apps in one process (tests, embedding) never share counters. Routes are labelled
by their template (``/api/v1/runs/{run_id}``), never the raw path, so the label set stays small
whatever ids clients send. With several uvicorn workers each worker counts its own requests; the
scraper sees whichever worker answers (sum over replicas as usual for a load-balanced service).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Telemetry:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    points_logged: Counter


def new_telemetry() -> Telemetry:
    registry = CollectorRegistry(auto_describe=True)
    return Telemetry(
        registry=registry,
        requests=Counter(
            "modelyard_http_requests", "HTTP requests served.", ["method", "route", "status"], registry=registry
        ),
        latency=Histogram(
            "modelyard_http_request_duration_seconds",
            "Time to serve an HTTP request, to the end of the response body.",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=registry,
        ),
        points_logged=Counter("modelyard_metric_points_logged", "Metric points written.", registry=registry),
    )


class PrometheusMiddleware:
    """Pure ASGI (no per-request task or body buffering, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            label = getattr(route, "path", None) or "<unmatched>"
            method = str(scope.get("method", ""))
            self.telemetry.requests.labels(method, label, str(status)).inc()
            self.telemetry.latency.labels(method, label).observe(time.perf_counter() - started)


def install_metrics(app: FastAPI) -> None:
    telemetry = new_telemetry()
    app.state.telemetry = telemetry
    app.add_middleware(PrometheusMiddleware, telemetry=telemetry)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        registry = request.app.state.telemetry.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
