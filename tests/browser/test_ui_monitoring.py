"""A deployment's page shows its monitoring in a real browser (Debian's Chromium through
Playwright): the monitors, the firing alerts, and the compact charts of the monitoring period
report over the newest windows (drift share, quality, performance, service health), with a link
to the full dashboard."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelyard.artifacts import open_artifact_store
from modelyard.core.monitoring import Alert, MonitorSpec, fingerprint
from modelyard.registry.service import RegistryService
from modelyard.server import ServerConfig, create_app
from modelyard.serving.deployments import DeploymentService
from modelyard.tracking.service import TrackingService
from tests.browser.conftest import LiveServer, start_server
from tests.browser.seed import ensure_ui
from tests.browser.test_monitoring_report import MINUTE, _results
from tests.fixtures.stores import joined_store
from tests.integration.test_registry_service import Model

pytestmark = pytest.mark.slow

NewPage = Callable[[str], Any]
Shot = Callable[[Any, str], Path]


@pytest.fixture(scope="module")
def monitored_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("browser-monitoring")
    artifacts = open_artifact_store(str(root / "artifacts"))
    store = joined_store(f"sqlite:///{root / 'ui.db'}", artifacts=artifacts)
    stores = store.stores
    registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
    registry.log_model(Model(1.0), "churn", actor="ana", project="ui", input_example=np.zeros((1, 3)))
    DeploymentService(stores.serving, registry).create("churn-api", ["main=churn@1"], actor="ana")
    spec = MonitorSpec.model_validate({
        "window": {"size": MINUTE}, "signals": ["health", "quality", "drift", "performance"],
        "rules": [{"name": "drift", "signal": "drift.share_drifted", "threshold": 0.5, "severity": "critical"}],
    })  # fmt: skip
    stores.monitoring.create_monitor("churn-mon", "churn-api", spec, actor="ana", at=0)
    for result in _results(120):
        stores.monitoring.claim_window("churn-mon", result.window_start, result.window_end, owner="test", at=0,
                                       lease_ms=1000)  # fmt: skip
        stores.monitoring.complete_window(result)
    stores.monitoring.save_alert(Alert(
        fingerprint=fingerprint("churn-mon", "drift"), monitor="churn-mon", rule="drift", signal="drift.share_drifted",
        severity="critical", state="firing", value=1.0, threshold=0.5, first_seen=60 * MINUTE, last_seen=61 * MINUTE,
        window_start=60 * MINUTE, window_end=61 * MINUTE,
    ))  # fmt: skip
    server = start_server(ensure_ui(create_app(ServerConfig(), stores=stores)), TrackingService(store, artifacts), None)
    yield server
    server.stop()
    store.close()


def test_deployment_page_shows_its_monitoring(
    new_page: NewPage, monitored_server: LiveServer, screenshot: Shot
) -> None:
    page = new_page(monitored_server.url)
    page.goto("/ui/deployments/churn-api")
    page.wait_for_url(re.compile(r"/ui/deployments/churn-api$"))
    assert "churn-mon" in page.locator("#monitors-table tr[data-monitor=churn-mon]").inner_text()
    alert = page.locator("#alerts-table tr[data-rule=drift]").inner_text()
    assert "critical" in alert and "drift.share_drifted" in alert
    # the compact figures of the period report over the newest windows; the rest on the dashboard
    keys = ("0-drift-share", "0-quality", "0-performance-accuracy", "0-health-latency", "0-health-errors")
    assert page.locator("#monitoring .figure").count() == len(keys)
    for key in keys:  # drawn as they scroll into view
        page.locator(f"#figure-monitor-{key}").scroll_into_view_if_needed()
        page.wait_for_selector(f"#figure-monitor-{key}[data-state=ready] .main-svg")
    assert page.locator("#figure-monitor-0-performance-accuracy .scatterlayer .trace").count() >= 2  # band + line
    assert page.locator("#dashboard-link").get_attribute("href") == "/ui/deployments/churn-api/monitoring"
    page.locator("#monitoring").scroll_into_view_if_needed()
    screenshot(page, "deployment-monitoring")
