"""A process killed mid-run leaves its run RUNNING; its heartbeat stops, so the run is shown stale
and ``modelyard runs mark-dead`` marks it KILLED (issue 16, item 10).

The child is a real SDK process (heartbeat every 50 ms) killed with SIGKILL. Thresholds are tiny
(1 ms) so that nothing waits longer than it must; waits are polls with a deadline, and nothing
asserts on how long anything took.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.core.tracking import RunStatus
from modelyard.store import open_stores

runner = CliRunner()

CHILD = textwrap.dedent(
    """
    import time
    import modelyard

    run = modelyard.start_run(name="doomed")
    print(run.id, flush=True)
    time.sleep(600)
    """
)


def _until(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def home(modelyard_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return modelyard_home


def _runs_json(*args: str) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["runs", "list", "--json", *args])
    assert result.exit_code == 0, result.output
    return list(orjson.loads(result.stdout))


def test_a_killed_process_leaves_a_stale_run_that_mark_dead_kills(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELYARD_AUTH", "true")  # the direct-database command audits what it marks
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "MODELYARD_HEARTBEAT_SECONDS": "0.05"}
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
        with open_stores(f"sqlite:///{home / 'modelyard.db'}") as stores:
            started = stores.tracking.get_run(run_id)

            def beat_after_start() -> bool:
                run = stores.tracking.get_run(run_id)
                return run.heartbeat_at is not None and run.heartbeat_at > started.start_time

            _until(beat_after_start, "the child's heartbeat")  # the SDK beats while the run is active
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    # With the default threshold (10 minutes) it is not stale yet, and mark-dead leaves it alone.
    (listed,) = _runs_json()
    assert listed["id"] == run_id and listed["status"] == "RUNNING" and listed["stale"] is False
    assert runner.invoke(app, ["runs", "mark-dead", "--json"]).stdout.strip() == "[]"
    # Its heartbeat stopped: with a 1 ms threshold it shows as stale once a millisecond has passed.
    _until(lambda: _runs_json("--stale-after", "0.001s")[0]["stale"], "the run to be reported stale")
    table = runner.invoke(app, ["runs", "list", "--stale-after", "0.001s"])
    assert "RUNNING (stale)" in table.stdout

    dry = runner.invoke(app, ["runs", "mark-dead", "--older-than", "0.001s", "--dry-run", "--json"])
    assert [r["id"] for r in orjson.loads(dry.stdout)] == [run_id]
    assert _runs_json()[0]["status"] == "RUNNING"  # a dry run changes nothing
    marked = runner.invoke(app, ["runs", "mark-dead", "--older-than", "0.001s", "--json"])
    assert marked.exit_code == 0, marked.output
    assert [(r["id"], r["status"]) for r in orjson.loads(marked.stdout)] == [(run_id, "KILLED")]
    (after,) = _runs_json("--stale-after", "0.001s")
    assert after["status"] == "KILLED" and after["end_time"] is not None and after["stale"] is False

    audit = runner.invoke(app, ["audit", "list", "--json"])
    entries = orjson.loads(audit.stdout)
    entries = entries.get("entries", entries) if isinstance(entries, dict) else entries
    assert any(e["action"] == "kill_stale_run" and e["object_id"] == run_id for e in entries), audit.stdout


def test_an_active_run_beats_and_stops_beating_when_it_ends(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import modelyard

    monkeypatch.setenv("MODELYARD_HEARTBEAT_SECONDS", "0.02")
    modelyard.set_store_uri(None)  # a fresh session: it reads the heartbeat interval
    try:
        with modelyard.start_run() as run:
            first = run.info.heartbeat_at
            assert first is not None
            _until(lambda: (run.info.heartbeat_at or 0) > first, "a second heartbeat")
        ended = modelyard.TrackingClient().get_run(run.id)
        assert ended.status == RunStatus.FINISHED
        time.sleep(0.1)  # several heartbeat intervals: an ended run is no longer beaten
        assert modelyard.TrackingClient().get_run(run.id).heartbeat_at == ended.heartbeat_at
    finally:
        modelyard.set_store_uri(None)


def test_the_run_page_shows_a_stale_run(tmp_path: Path) -> None:
    import httpx

    from tests.fixtures.live_server import sqlite_server

    with sqlite_server(tmp_path / "server") as (url, _app), open_stores(url) as stores:
        project = stores.tracking.create_project("p")
        stale = stores.tracking.create_run(project.id, start_time=1_000_000)
        live = stores.tracking.create_run(project.id)
        assert stores.tracking.list_stale_runs(60_000)[0].heartbeat_at == 1_000_000  # the wire carries it
        page = httpx.get(f"{url}/ui/runs/{stale.id}", timeout=30).text
        assert 'id="stale"' in page and "Last heartbeat" in page
        assert 'id="stale"' not in httpx.get(f"{url}/ui/runs/{live.id}", timeout=30).text


def test_with_auth_heartbeats_need_the_editor_role_and_each_kill_is_audited(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from modelyard.auth import AuditLog, AuthService
    from modelyard.server import ServerConfig, create_app

    app = create_app(
        ServerConfig(store_uri=f"sqlite:///{tmp_path / 's.db'}", artifact_uri=str(tmp_path / "a"), auth=True)
    )
    stores = app.state.services.stores
    try:
        auth = AuthService(stores.auth)
        auth.create_user("root", password="root-password-1", is_admin=True)
        auth.create_user("viewer", password="viewer-password-1")
        project = stores.tracking.create_project("p")
        auth.grant_role("viewer", project.id, "viewer")
        root, _ = auth.create_token("root")
        viewer, _ = auth.create_token("viewer")
        dead = stores.tracking.create_run(project.id, start_time=1_000_000)
        with TestClient(app) as client:

            def call(method: str, path: str, token: str, **kw: Any) -> Any:
                return client.request(method, f"/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, **kw)

            assert call("POST", "/heartbeats", viewer, json={"run_ids": [dead.id]}).status_code == 403
            assert client.post("/api/v1/heartbeats", json={"run_ids": [dead.id]}).status_code == 401
            listed = call("GET", "/stale-runs", viewer, params={"older_than_ms": 60_000})
            assert [r["id"] for r in listed.json()["runs"]] == [dead.id]  # a viewer may see them
            body = {"run_ids": [dead.id], "older_than_ms": 60_000}
            assert call("POST", "/stale-runs/kill", viewer, json=body).status_code == 403
            assert stores.tracking.get_run(dead.id).status == RunStatus.RUNNING
            killed = call("POST", "/stale-runs/kill", root, json=body)
            assert killed.status_code == 200 and [r["status"] for r in killed.json()["runs"]] == ["KILLED"]
        entries = [e for e in AuditLog(stores.auth).list() if e.action == "kill_stale_run"]
        assert [(e.actor, e.object_id) for e in entries] == [("root", dead.id)]
    finally:
        stores.close()
