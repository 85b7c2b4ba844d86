"""Monitoring through the server: the continuous mode (a background loop in the server's
lifespan) on two replicas over one database evaluates each window once; ``MonitoringService`` over
the HTTP stores (what ``modelyard monitor run --store http://...`` does) claims windows on the
server and records alerts there."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient

from modelyard.core.tracking import now_millis
from modelyard.monitoring import alerts as alert_rules
from modelyard.monitoring.service import MonitoringService
from modelyard.registry.service import RegistryService
from modelyard.server import ServerConfig, create_app
from modelyard.serving.deployments import DeploymentService
from modelyard.settings import Settings
from modelyard.store.bundle import Stores, open_stores
from tests.fixtures.live_server import sqlite_server
from tests.integration.test_monitoring_service import MINUTE, Threshold, current, log

RULES = [
    {"name": "errors", "signal": "health.error_rate", "threshold": 0.2},
    {"name": "unseen", "signal": "quality.unseen_category_share", "threshold": 0.05},
]


def prepare(stores: Stores) -> int:
    """A model, a deployment, a monitor from three minutes ago, two minutes of traffic (the
    second with errors and unseen categories); returns the monitor's start."""
    registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
    registry.log_model(Threshold(), "m", actor="t", project="mon", input_example=pd.DataFrame({"a": [0.1], "b": ["x"]}))
    DeploymentService(stores.serving, registry).create("api", ["main=m@1"], actor="t")
    start = (now_millis() // MINUTE - 3) * MINUTE
    service = MonitoringService(stores)
    service.set_reference("m", 1, current(500, 0), actor="t")
    service.create("mon", "api", window={"size": MINUTE, "delay_ms": 0}, signals=["health", "quality"], rules=RULES,
                   start=start, actor="t")  # fmt: skip
    world: Any = SimpleNamespace(stores=stores)
    log(world, start, current(200, 1))
    log(world, start + MINUTE, current(200, 2, unseen=True), errors=8)
    return start


def wait(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_continuous_mode_on_two_replicas_evaluates_each_window_once(tmp_path: Path) -> None:
    uri, artifacts = f"sqlite:///{tmp_path / 'm.db'}", str(tmp_path / "artifacts")
    with open_stores(Settings(home=tmp_path, store_uri=uri, artifact_uri=artifacts)) as stores:
        start = prepare(stores)
        config = {"store_uri": uri, "artifact_uri": artifacts, "monitor_interval_s": 0.05}
        first, second = create_app(ServerConfig(**config)), create_app(ServerConfig(**config))
        with TestClient(first) as a, TestClient(second) as b:
            wait(lambda: len(a.get("/api/v1/monitors/mon/results").json()["results"]) >= 3)
            time.sleep(0.3)  # both loops keep running: still nothing twice
            results = b.get("/api/v1/monitors/mon/results", params={"limit": 1000}).json()["results"]
            firing = a.get("/api/v1/alerts", params={"state": "firing"}).json()["alerts"]
        starts = [r["window_start"] for r in results]
        assert len(starts) == len(set(starts)) and start in starts and start + MINUTE in starts
        owners = {r["evaluated_by"] for r in results}
        assert owners and all(":" in o for o in owners)  # host:pid:id of the replica that claimed it
        assert {a["rule"] for a in firing} == {"errors", "unseen"}
        assert len(stores.monitoring.list_alert_events(monitor="mon")) == 2  # fired once each, not per replica


def test_a_judge_on_older_windows_leaves_a_newer_alert_alone(tmp_path: Path) -> None:
    """Two replicas evaluate neighbouring windows: the one that read the results before the other
    stored the newer window must neither resolve nor re-fire the alert judged on that window
    (a resolved-then-fired-again flap, one replica's stale read)."""
    uri, artifacts = f"sqlite:///{tmp_path / 'm.db'}", str(tmp_path / "artifacts")
    with open_stores(Settings(home=tmp_path, store_uri=uri, artifact_uri=artifacts)) as stores:
        start = prepare(stores)
        service = MonitoringService(stores, owner="replica-a")
        service.run()
        store, monitor = stores.monitoring, stores.monitoring.get_monitor("mon")
        results = store.list_window_results("mon", limit=10)
        assert {a.rule for a in service.alerts(state="firing")} == {"errors", "unseen"}
        stale = [r for r in results if r.window_start == start]  # what replica b read before a's window
        assert alert_rules.evaluate_rules(store, monitor, stale, now=now_millis()) == []
        assert {a.rule for a in service.alerts(state="firing")} == {"errors", "unseen"}
        assert [e.kind for e in store.list_alert_events(monitor="mon")] == ["firing", "firing"]


def test_monitoring_service_over_http(tmp_path: Path) -> None:
    with sqlite_server(tmp_path / "server") as (url, app):
        start = prepare(app.state.services.stores)
        home = tmp_path / "client"  # no artifact URI of its own: the server's artifact store
        settings = Settings(home=home, store_uri=url, artifact_uri=str(home / "artifacts"))
        with open_stores(settings) as remote:
            service = MonitoringService(remote, owner="cron-1")
            report = service.run()
            assert [r.window_start for r in report.results][:2] == [start, start + MINUTE]
            assert {a.rule for a in report.fired} == {"errors", "unseen"}
            assert MonitoringService(remote, owner="cron-2").run().results == []
            stored = app.state.services.stores.monitoring.list_window_results("mon", limit=10)
            assert {r.evaluated_by for r in stored} == {"cron-1"}
            assert service.alerts(state="firing")[0].monitor == "mon"
