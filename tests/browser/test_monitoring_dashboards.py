"""The monitoring dashboards in a real browser (Debian's Chromium through Playwright) against a
live server, after a real monitor ran over a real prediction log (normal, then shifted traffic
with errors and wrong-way labels): drift, quality, performance and service health charts render,
the firing alerts are listed first with their silence, the windows' table; and the
monitors-and-alerts page. (The period report written to a file: test_monitoring_report.py.)"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from modelyard.artifacts import open_artifact_store
from modelyard.core.serving import Feedback
from modelyard.core.tracking import now_millis
from modelyard.monitoring.service import MonitoringService
from modelyard.registry.service import RegistryService
from modelyard.server import ServerConfig, create_app
from modelyard.serving.deployments import DeploymentService
from modelyard.tracking.service import TrackingService
from tests.browser.conftest import LiveServer, start_server
from tests.browser.seed import ensure_ui
from tests.fixtures.stores import joined_store
from tests.integration.test_monitoring_service import MINUTE, Threshold, current, log, reference

pytestmark = pytest.mark.slow

NewPage = Callable[[str], Any]
Shot = Callable[[Any, str], Path]


@pytest.fixture(scope="module")
def monitoring_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("browser-monitoring")
    artifacts = open_artifact_store(str(root / "artifacts"))
    store = joined_store(f"sqlite:///{root / 'ui.db'}", artifacts=artifacts)
    stores = store.stores
    registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
    registry.log_model(
        Threshold(), "m", actor="ana", project="mon", input_example=pd.DataFrame({"a": [0.1], "b": ["x"]})
    )
    DeploymentService(stores.serving, registry).create("api", ["main=m@1"], actor="ana")
    DeploymentService(stores.serving, registry).create("quiet", ["main=m@1"], actor="ana")
    service = MonitoringService(stores)
    service.set_reference("m", 1, reference(), actor="ana")
    start = (now_millis() // MINUTE - 10) * MINUTE
    service.create(
        "api-mon", "api", window={"size": MINUTE, "delay_ms": 0}, signals=["health", "quality", "drift", "performance"],
        rules=[{"name": "drift", "signal": "drift.share_drifted", "threshold": 0.4, "severity": "critical"},
               {"name": "errors", "signal": "health.error_rate", "threshold": 0.2}],
        options={"performance": {"task": "classification", "metrics": ["accuracy"]}}, start=start, actor="ana",
    )  # fmt: skip
    world = SimpleNamespace(stores=stores)
    for minute in range(3):
        log(world, start + minute * MINUTE, current(300, minute), prefix=f"n{minute}-")  # type: ignore[arg-type]
    for minute in range(3, 6):
        ids = log(world, start + minute * MINUTE, current(300, minute, shift=3.0, unseen=True), errors=12,  # type: ignore[arg-type]
                  prefix=f"s{minute}-")  # fmt: skip
        stores.serving.record_feedback([Feedback(request_id=rid, value=[0] * 10, at=1) for rid in ids[12:]])
    run = service.run()
    assert {a.rule for a in run.fired} == {"drift", "errors"}, run.to_dict()
    service.silence({"rule": "errors"}, duration_ms=60 * MINUTE, actor="ana", comment="known incident")
    server = start_server(ensure_ui(create_app(ServerConfig(), stores=stores)), TrackingService(store, artifacts), None)
    server.seeded = SimpleNamespace(store=stores.monitoring, start=start)  # type: ignore[assignment]
    yield server
    server.stop()
    store.close()


CHARTS = ("0-drift-columns", "0-drift-share", "0-quality", "0-quality-breaches", "0-performance-accuracy",
          "0-health-latency", "0-health-errors", "0-health-throughput", "alerts")  # fmt: skip


def test_deployment_dashboard_draws_the_charts_and_lists_the_alerts(
    new_page: NewPage, monitoring_server: LiveServer, screenshot: Shot
) -> None:
    page = new_page(monitoring_server.url)
    page.goto("/ui/deployments/api")
    page.locator("#monitoring-link").click()
    page.wait_for_url(re.compile(r"/ui/deployments/api/monitoring$"))
    rows = page.locator("#alerts-table tbody tr")
    assert rows.count() == 2
    first = rows.nth(0).inner_text()
    assert "firing" in first and "drift" in first and "critical" in first  # firing first, critical first
    errors = page.locator("#alerts-table tr", has_text="health.error_rate").inner_text()
    assert "silenced" in errors
    assert "known incident" in page.locator("#silences-table").inner_text()
    section = page.locator("#monitor-0").inner_text()
    assert "window(s) in the period (6 ok" in section
    page.locator("#monitor-0 details.windows summary").click()
    assert page.locator("#windows-0 tr[data-status=ok]").count() == 6
    for key in CHARTS:
        figure = page.locator(f"#figure-{key}")
        figure.scroll_into_view_if_needed()
        page.wait_for_selector(f"#figure-{key}[data-state=ready] .main-svg")
    assert page.locator("#figure-0-drift-columns .heatmaplayer image, #figure-0-drift-columns .hm").count() >= 1
    assert page.locator("#figure-0-performance-accuracy .scatterlayer .trace").count() >= 3  # band + line + baseline
    screenshot(page, "deployment-monitoring-dashboard")
    # another period: nothing evaluated in the hour a day ago
    page.goto("/ui/deployments/api/monitoring?since=48h&until=24h")
    assert "No window of this monitor was evaluated" in page.locator("#monitor-0").inner_text()
    page.goto("/ui/deployments/quiet/monitoring")
    assert "No monitor watches this deployment" in page.locator("#no-monitors").inner_text()


def test_monitors_and_alerts_page(new_page: NewPage, monitoring_server: LiveServer, screenshot: Shot) -> None:
    page = new_page(monitoring_server.url)
    page.goto("/ui/")
    page.locator("nav.sections").get_by_role("link", name="Monitoring").click()
    page.wait_for_url(re.compile(r"/ui/monitoring$"))
    monitor = page.locator("#monitors-table tr[data-monitor=api-mon]").inner_text()
    assert "api" in monitor and "tumbling 1m windows" in monitor and "drift.share_drifted > 0.4" in monitor
    firing = page.locator("#alerts-table tbody tr[data-state=firing]")
    assert firing.count() == 2
    assert "silenced" in page.locator("#alerts-table tr", has_text="errors").inner_text()
    screenshot(page, "monitoring-alerts")
    page.locator("#monitors-table").get_by_role("link", name="api").click()
    page.wait_for_url(re.compile(r"/ui/deployments/api/monitoring$"))
