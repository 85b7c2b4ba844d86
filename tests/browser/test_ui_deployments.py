"""The deployment pages in a real browser (Debian's Chromium through Playwright) against a live
server: the list, a deployment's variants and traffic split, its request rate and latency drawn
from the prediction logs, the recent changes, and the rollback button."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelyard.artifacts import open_artifact_store
from modelyard.registry.service import RegistryService
from modelyard.server import ServerConfig, create_app
from modelyard.serving.deployments import DeploymentService
from modelyard.serving.endpoint import PredictionRecord
from modelyard.serving.predlog import PredictionLogger
from modelyard.tracking.service import TrackingService
from tests.browser.conftest import LiveServer, start_server
from tests.browser.seed import ensure_ui
from tests.fixtures.stores import joined_store
from tests.integration.test_registry_service import Model

pytestmark = pytest.mark.slow

NewPage = Callable[[str], Any]
Shot = Callable[[Any, str], Path]


@pytest.fixture(scope="module")
def deployment_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("browser-deployments")
    artifacts = open_artifact_store(str(root / "artifacts"))
    store = joined_store(f"sqlite:///{root / 'ui.db'}", artifacts=artifacts)
    stores = store.stores
    registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
    for factor in (1.0, 2.0):
        registry.log_model(Model(factor), "churn", actor="ana", project="ui", input_example=np.zeros((1, 3)))
    service = DeploymentService(stores.serving, registry)
    service.create("churn-api", ["main=churn@1"], actor="ana", reason="launch")
    service.update("churn-api", variants=["stable=churn@1:90", "canary=churn@2:10"], actor="bob", reason="canary v2")
    now = int(time.time() * 1000)
    with PredictionLogger(stores.serving, stores.artifacts, flush_interval_s=0.05) as log:
        for i in range(300):
            variant, version = ("canary", 2) if i % 10 == 0 else ("stable", 1)
            log.offer(
                PredictionRecord(f"r{i}", "churn-api", variant, "churn", version, {"input": [i]}, [i], 1.0 + i % 7,
                                 now - 50 * 60_000 + i * 9_000, False, "ok" if i % 50 else "error")
            )  # fmt: skip
    server = start_server(ensure_ui(create_app(ServerConfig(), stores=stores)), TrackingService(store, artifacts), None)
    yield server
    server.stop()
    store.close()


def test_deployment_page_shows_traffic_and_rolls_back(
    new_page: NewPage, deployment_server: LiveServer, screenshot: Shot
) -> None:
    page = new_page(deployment_server.url)
    page.goto("/ui/")
    page.locator("nav.sections").get_by_role("link", name="Deployments").click()
    page.wait_for_url(re.compile(r"/ui/deployments$"))
    page.locator("#deployments-table").get_by_role("link", name="churn-api").click()
    page.wait_for_url(re.compile(r"/ui/deployments/churn-api$"))
    assert page.locator("#revision").inner_text() == "revision 2"
    variants = page.locator("#variants-table tbody tr")
    assert variants.count() == 2
    assert "90%" in page.locator("#variants-table tr[data-variant=stable]").inner_text()
    canary = page.locator("#traffic-table tr[data-variant=canary]").inner_text().split("\t")
    stable = page.locator("#traffic-table tr[data-variant=stable]").inner_text().split("\t")
    assert (canary[1], stable[1]) == ("30", "270")  # requests in the last hour, from the logs
    assert (canary[3], stable[3]) == ("6", "0")  # every 50th request failed, and each is a canary one
    page.wait_for_selector("#figure-rate[data-state=ready] .main-svg")
    page.wait_for_selector("#figure-latency[data-state=ready] .main-svg")
    screenshot(page, "deployment")

    page.fill("#rollback-form input[name=reason]", "canary is worse")
    page.click("#rollback-button")
    page.wait_for_function("document.getElementById('revision').innerText === 'revision 3'")
    assert page.locator("#variants-table tbody tr").count() == 1
    top = page.locator("#history-table tbody tr").first.inner_text()
    assert "rollback to 1" in top and "canary is worse" in top
