"""Deployment pages: the list of deployments, and a deployment (its variants and traffic split,
SLO, request rate and latency per variant from the prediction logs, its monitoring section, the
recent changes, and a rollback button for those allowed to change it).

The monitoring section lists the deployment's monitors and their firing alerts, and draws the
compact charts of the monitoring period report (``reports/monitoring_period.py``,
``COMPACT_CHARTS``: drift share, data quality, realized and estimated performance, error rate,
latency) over each monitor's newest windows (``_MONITOR_WINDOWS``), from stored aggregates only;
the full dashboard is ``/ui/deployments/{name}/monitoring``.

The request rate and latency come from the logged predictions of the last hour (the main server
does not see the serving processes' own metrics; the logs are what every serving process writes
to the shared stores). Reading needs a role on some project, as the deployment API; the rollback
button calls ``POST /api/v1/deployments/{name}/rollback`` with the page's CSRF token, and is shown
only to a user with the editor role on the projects of the deployment's models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from modelyard.core.errors import PermissionDenied
from modelyard.core.serving import Deployment, validate_deployment_name
from modelyard.core.tracking import now_millis
from modelyard.server.app import Services
from modelyard.server.deps import Principal, authorize, get_services
from modelyard.server.ui._common import page_principal, read_somewhere, render
from modelyard.server.ui.catalog import model_url

__all__ = ["build_router"]

_HOUR_MS = 3_600_000
_MINUTE_MS = 60_000


@dataclass
class VariantTraffic:
    variant: str
    shadow: bool
    requests: int
    per_minute: float
    errors: int
    p50_ms: float | None
    p99_ms: float | None


def _may_change(request: Request, principal: Principal, services: Services, deployment: Deployment) -> bool:
    try:
        for model in sorted({v.model for v in deployment.spec.variants}):
            project_id = services.stores.registry.get_registered_model(model).project_id
            authorize(request, principal, project_id, "editor")
    except PermissionDenied:
        return False
    return True


#: Newest windows of each monitor drawn on a deployment's page.
_MONITOR_WINDOWS = 200


def _traffic(services: Services, name: str, now: int) -> tuple[list[VariantTraffic], dict[str, Any], bool]:
    import numpy as np

    from modelyard.serving.predictions import traffic

    frame, truncated = traffic(services.stores, name, now - _HOUR_MS, now + 1)
    rows: list[VariantTraffic] = []
    series: list[dict[str, Any]] = []
    latency: list[dict[str, Any]] = []
    if len(frame):
        frame["minute"] = (frame["timestamp_ms"] // _MINUTE_MS) * _MINUTE_MS
        for (variant, shadow), group in frame.groupby(["variant", "shadow"], sort=True):
            latencies = group["latency_ms"].to_numpy(dtype=float)
            rows.append(
                VariantTraffic(
                    variant=str(variant), shadow=bool(shadow), requests=len(group),
                    per_minute=len(group) / 60.0, errors=int((group["status"] != "ok").sum()),
                    p50_ms=float(np.percentile(latencies, 50)), p99_ms=float(np.percentile(latencies, 99)),
                )
            )  # fmt: skip
            by_minute = group.groupby("minute")
            minutes = [int(m) for m in by_minute.size().index]
            label = f"{variant}{' (shadow)' if shadow else ''}"
            series.append({"type": "scatter", "mode": "lines+markers", "name": label,
                           "x": minutes, "y": [int(n) for n in by_minute.size().to_numpy()]})  # fmt: skip
            latency.append({"type": "scatter", "mode": "lines+markers", "name": label, "x": minutes,
                            "y": [float(v) for v in by_minute["latency_ms"].quantile(0.99).to_numpy()]})  # fmt: skip
    figures: dict[str, Any] = {}
    if series:
        for trace in (*series, *latency):
            trace["x"] = [f"{np.datetime64(int(m), 'ms')}Z" for m in trace["x"]]
        figures["rate"] = {
            "data": series,
            "layout": {"title": {"text": "requests per minute"}, "yaxis": {"rangemode": "tozero"}},
        }
        figures["latency"] = {
            "data": latency,
            "layout": {"title": {"text": "p99 latency (ms) per minute"}, "yaxis": {"rangemode": "tozero"}},
        }
    return rows, figures, truncated


def _monitoring(services: Services, name: str, now: int) -> tuple[list[Any], list[Any], dict[str, Any]]:
    """The deployment's monitors, their firing alerts, and the compact figures of the monitoring
    period report (``reports.monitoring_period``) over each monitor's newest windows: stored
    aggregates only; the full dashboard is ``/ui/deployments/{name}/monitoring``."""
    from modelyard.reports.monitoring_period import build_monitoring_report

    monitors = services.stores.monitoring.list_monitors(name)
    names = {m.name for m in monitors}
    firing = [a for a in services.stores.monitoring.list_alerts(state="firing") if a.monitor in names]
    figures: dict[str, Any] = {}
    if monitors:
        report = build_monitoring_report(
            services.stores.monitoring, name, start_ms=0, end_ms=now + 1, now_ms=now, last=_MONITOR_WINDOWS,
            table_windows=0,
        )  # fmt: skip
        for key, figure in report.compact_figures().items():
            index = int(key.split("-", 1)[0])
            title = f"{report.monitors[index]['monitor']}: {figure['layout']['title']['text']}"
            figures[f"monitor-{key}"] = {**figure, "layout": {**figure["layout"], "title": {"text": title}},
                                         "label": title}  # fmt: skip
    return monitors, firing, figures


def build_router(env: jinja2.Environment, route_class: type[APIRoute] = APIRoute) -> APIRouter:
    router = APIRouter(include_in_schema=False, route_class=route_class)

    @router.get("/ui/deployments", response_class=HTMLResponse)
    def deployments_page(
        request: Request, principal: Principal = Depends(page_principal), services: Services = Depends(get_services)
    ) -> HTMLResponse:
        read_somewhere(request, principal)
        found = services.stores.serving.list_deployments()
        return render(env, request, "deployments.html", principal=principal, deployments=found)

    @router.get("/ui/deployments/{name}", response_class=HTMLResponse)
    def deployment_page(
        request: Request,
        name: str,
        principal: Principal = Depends(page_principal),
        services: Services = Depends(get_services),
    ) -> HTMLResponse:
        read_somewhere(request, principal)
        deployment = services.stores.serving.get_deployment(validate_deployment_name(name))
        events = services.stores.serving.list_deployment_events(deployment.name)
        now = now_millis()
        rows, figures, truncated = _traffic(services, deployment.name, now)
        monitors, firing, monitor_figures = _monitoring(services, deployment.name, now)
        figures.update(monitor_figures)
        return render(
            env, request, "deployment.html", principal=principal, d=deployment, events=list(reversed(events[-50:])),
            traffic=rows, figures=figures, truncated=truncated, model_url=model_url,
            monitors=monitors, firing=firing, monitor_figures=monitor_figures,
            can_change=_may_change(request, principal, services, deployment),
            can_roll_back=len(events) > 1,
        )  # fmt: skip

    return router
