"""The monitoring pages over HTTP (no browser): auth as the other UI pages (login redirect, a
role on some project to read), bad periods and unknown deployments as error pages, and pages
that are read-only (no form, nothing changes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from modelyard.monitoring.service import MonitoringService
from modelyard.registry.service import RegistryService
from modelyard.server import ServerConfig, create_app
from modelyard.serving.deployments import DeploymentService
from tests.browser.seed import ensure_ui
from tests.integration.test_monitoring_service import Threshold


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from modelyard.auth import AuthService

    root: Path = tmp_path_factory.mktemp("ui-monitoring")
    app = ensure_ui(create_app(ServerConfig(auth=True, store_uri=f"sqlite:///{root / 'auth.db'}",
                                            artifact_uri=str(root / "artifacts"))))  # fmt: skip
    stores = app.state.services.stores
    registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
    registry.log_model(
        Threshold(), "m", actor="ana", project="mon", input_example=pd.DataFrame({"a": [0.1], "b": ["x"]})
    )
    DeploymentService(stores.serving, registry).create("api", ["main=m@1"], actor="ana")
    MonitoringService(stores).create("api-mon", "api", window={"size": 60_000}, actor="ana")
    auth = AuthService(stores.auth)
    auth.create_user("vera", password="vera-password-1")
    auth.grant_role("vera", stores.tracking.get_project_by_name("mon").id, "viewer")
    auth.create_user("nora", password="nora-password-1")
    with TestClient(app) as client:
        yield client
    stores.tracking.close()


def _login(client: TestClient, user: str) -> None:
    client.cookies.clear()
    response = client.post("/api/v1/auth/login", json={"username": user, "password": f"{user}-password-1"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("url", ["/ui/monitoring", "/ui/deployments/api/monitoring"])
def test_pages_need_a_login_and_a_role(secured: TestClient, url: str) -> None:
    secured.cookies.clear()
    response = secured.get(url, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/ui/login?next=")
    _login(secured, "nora")  # no role on any project
    denied = secured.get(url)
    assert denied.status_code == 403 and "text/html" in denied.headers["content-type"]
    _login(secured, "vera")
    page = secured.get(url)
    assert page.status_code == 200 and "api-mon" in page.text
    assert "<form" not in page.text  # read-only
    secured.cookies.clear()


def test_bad_period_and_unknown_deployment_are_error_pages(secured: TestClient) -> None:
    _login(secured, "vera")
    bad = secured.get("/ui/deployments/api/monitoring?since=yesterday")
    assert bad.status_code == 400 and "invalid since" in bad.text
    backwards = secured.get("/ui/deployments/api/monitoring?since=1h&until=2h")
    assert backwards.status_code == 400 and "before it starts" in backwards.text
    missing = secured.get("/ui/deployments/nope/monitoring")
    assert missing.status_code == 404
    ok = secured.get("/ui/deployments/api/monitoring?since=30d")
    assert ok.status_code == 200 and "No window of this monitor was evaluated" in ok.text
    secured.cookies.clear()
