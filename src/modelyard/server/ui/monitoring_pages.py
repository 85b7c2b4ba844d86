"""Monitoring pages: the monitors and alerts of the server (``/ui/monitoring``), and a
deployment's monitoring dashboard (``/ui/deployments/{name}/monitoring``): drift per column and
the dataset's drift share over time, data quality, realized and estimated performance with their
bands, service health per variant, and its alerts (firing first, with the silences that hold
them), over a period chosen with ``?since=`` (``24h``, ``7d``... or an ISO time) and ``?until=``.

The dashboard draws the figures of the monitoring period report (``reports/monitoring_period.py``) with
the UI's ``figures.js``: aggregates of the stored window results, grouped into at most
``DEFAULT_MAX_POINTS`` buckets, so a long period never sends more than a few hundred points per
series. Read-only; reading needs a role on some project, as the monitoring API.
"""

from __future__ import annotations

from typing import Any

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from modelyard.core.serving import validate_deployment_name
from modelyard.core.tracking import now_millis
from modelyard.server.app import Services
from modelyard.server.deps import Principal, get_services
from modelyard.server.ui._common import page_principal, read_somewhere, render

__all__ = ["PERIODS", "build_router"]

#: The period links of the dashboard (any duration or ISO time works in ``?since=``).
PERIODS = ("1h", "24h", "7d", "30d")


def build_router(env: jinja2.Environment, route_class: type[APIRoute] = APIRoute) -> APIRouter:
    router = APIRouter(include_in_schema=False, route_class=route_class)

    @router.get("/ui/monitoring", response_class=HTMLResponse)
    def monitoring_page(
        request: Request, principal: Principal = Depends(page_principal), services: Services = Depends(get_services)
    ) -> HTMLResponse:
        from modelyard.reports.monitoring_period import alert_dict, alert_order, describe_window

        read_somewhere(request, principal)
        store = services.stores.monitoring
        now = now_millis()
        monitors = store.list_monitors()
        latest = {}
        for m in monitors:
            newest = store.list_window_results(m.name, limit=1)
            latest[m.name] = newest[0] if newest else None
        silences = store.list_silences(active_at=now)
        alerts = [alert_dict(a, now, silences) for a in sorted(store.list_alerts(), key=alert_order)]
        return render(
            env, request, "monitoring.html", principal=principal, monitors=monitors, latest=latest, alerts=alerts,
            firing=sum(a["state"] == "firing" for a in alerts), describe_window=describe_window,
            silences=[{**s.model_dump(mode="json"), "active": True} for s in silences],
        )  # fmt: skip

    @router.get("/ui/deployments/{name}/monitoring", response_class=HTMLResponse)
    def deployment_monitoring_page(
        request: Request,
        name: str,
        since: str = "7d",
        until: str | None = None,
        principal: Principal = Depends(page_principal),
        services: Services = Depends(get_services),
    ) -> HTMLResponse:
        from modelyard.auth.timeparse import parse_time_ms
        from modelyard.reports.monitoring_period import build_monitoring_report

        read_somewhere(request, principal)
        deployment = services.stores.serving.get_deployment(validate_deployment_name(name))
        now = now_millis()
        start = parse_time_ms(since, "since", now_ms=now)
        end = parse_time_ms(until, "until", now_ms=now)
        report = None
        figures: dict[str, Any] = {}
        if services.stores.monitoring.list_monitors(deployment.name):
            report = build_monitoring_report(
                services.stores.monitoring, deployment.name, start_ms=now - 7 * 86_400_000 if start is None else start,
                end_ms=now + 1 if end is None else end, now_ms=now,
            )  # fmt: skip
            figures = report.figures()
        charts = {}
        if report is not None:
            charts = {i: [k for k in figures if k.startswith(f"{i}-")] for i in range(len(report.monitors))}
        return render(
            env, request, "deployment_monitoring.html", principal=principal, d=deployment, report=report,
            figures=figures, charts=charts, since=since, until=until or "", periods=PERIODS,
        )  # fmt: skip

    return router
