"""The server with auth on, on SQLite and PostgreSQL: who may read and write, refused requests
change nothing, browser sessions with CSRF, self-service tokens, and the admin audit routes.

A tiny router stands in for the REST routers here: it uses the same hooks (``current_principal``,
``authorize``, ``audit`` from ``server/deps.py``), so these tests pin the auth side of the contract
independently of what the routers do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, Depends, Request
from fastapi.testclient import TestClient

from modelyard.auth import AuthService
from modelyard.core.auth import AuditQuery
from modelyard.server import ServerConfig, create_app
from modelyard.server.auth import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, install_auth
from modelyard.server.deps import Principal, audit, authorize, current_principal
from tests.fixtures.stores import Joined


def _test_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/_authtest")

    @router.get("/projects/{project_id}/notes")
    def read(project_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
        authorize(request, principal, project_id, "viewer")
        store = request.app.state.services.stores.tracking
        return {"runs": [r.name for r in store.search_runs(_query(project_id)).runs]}

    @router.post("/projects/{project_id}/notes", status_code=201)
    def write(project_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
        authorize(request, principal, project_id, "editor")
        run = request.app.state.services.stores.tracking.create_run(project_id, name="note")
        audit(request, principal, "run.create", "run", run.id, {"project_id": project_id})
        return {"run_id": run.id}

    return router


def _query(project_id: str) -> Any:
    from modelyard.core.tracking import RunQuery

    return RunQuery(project_ids=[project_id])


class Env:
    def __init__(self, client: TestClient, store: Any, project_id: str, tokens: dict[str, str]) -> None:
        self.client, self.store, self.project_id, self.tokens = client, store, project_id, tokens

    def bearer(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def notes(self) -> str:
        return f"/api/v1/_authtest/projects/{self.project_id}/notes"

    def run_count(self) -> int:
        return len(self.store.search_runs(_query(self.project_id)).runs)

    def audit_count(self) -> int:
        return len(self.store.list_audit(AuditQuery(limit=1000)))


@pytest.fixture(params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'server.db'}"
    else:
        uri = str(request.getfixturevalue("postgres_uri"))
    app = create_app(ServerConfig(auth=True, store_uri=uri, artifact_uri=str(tmp_path / "artifacts")))
    install_auth(app)
    app.include_router(_test_router())
    store = Joined(app.state.services.stores)
    project = store.create_project("secure")
    auth = AuthService(store)
    auth.create_user("root", password="root-password", is_admin=True)
    tokens = {}
    for name, role in (("vera", "viewer"), ("ed", "editor"), ("root", None), ("nora", None)):
        if name != "root":
            auth.create_user(name, password=f"{name}-password")
        if role:
            auth.grant_role(name, project.id, role)
        tokens[name], _ = auth.create_token(name)
    with TestClient(app) as client:
        yield Env(client, store, project.id, tokens)
    store.close()


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    return str(body["error"]["message"])


def test_anonymous_requests_are_refused(env: Env) -> None:
    before = (env.run_count(), env.audit_count())
    _error(env.client.post(env.notes()), 401, "UNAUTHENTICATED")
    _error(env.client.get(env.notes()), 401, "UNAUTHENTICATED")
    response = env.client.post(env.notes())
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert (env.run_count(), env.audit_count()) == before
    assert env.client.get("/healthz").status_code == 200
    assert env.client.get("/api/v1/openapi.json").status_code == 200


def test_any_api_route_is_closed_to_anonymous_callers(env: Env) -> None:
    """The guard refuses before routing, even a route that has no auth dependency."""
    _error(env.client.get("/api/v1/no-such-route"), 401, "UNAUTHENTICATED")
    assert env.client.get("/api/v1/no-such-route", headers=env.bearer("vera")).status_code == 404


def test_viewer_reads_but_cannot_write(env: Env) -> None:
    before = (env.run_count(), env.audit_count())
    assert env.client.get(env.notes(), headers=env.bearer("vera")).status_code == 200
    message = _error(env.client.post(env.notes(), headers=env.bearer("vera")), 403, "PERMISSION_DENIED")
    assert "needs editor" in message
    assert (env.run_count(), env.audit_count()) == before


def test_project_less_data_needs_a_role_on_some_project(env: Env) -> None:
    """Blobs and datasets belong to no project: reading them needs viewer somewhere, writing
    editor somewhere. A signed-in user with no role at all gets neither (listing projects, which
    every user may do, is not a read permission)."""
    digest = "sha256:" + "0" * 64
    for path in ("/api/v1/datasets", f"/api/v1/blobs/{digest}"):
        message = _error(env.client.get(path, headers=env.bearer("nora")), 403, "PERMISSION_DENIED")
        assert "no viewer role on any project" in message
    assert env.client.get("/api/v1/datasets", headers=env.bearer("vera")).status_code == 200
    assert env.client.get(f"/api/v1/blobs/{digest}", headers=env.bearer("vera")).status_code == 404
    assert env.client.get("/api/v1/datasets", headers=env.bearer("root")).status_code == 200


def test_editor_writes_and_the_write_is_audited(env: Env) -> None:
    response = env.client.post(env.notes(), headers=env.bearer("ed"), json={})
    assert response.status_code == 201, response.text
    assert env.run_count() == 1
    entries = env.client.get("/api/v1/audit", params={"user": "ed"}, headers=env.bearer("root")).json()["entries"]
    assert [(e["action"], e["object_id"]) for e in entries] == [("run.create", response.json()["run_id"])]
    assert entries[0]["remote_addr"] == "testclient"


def test_bad_tokens_get_a_401_with_a_json_body(env: Env) -> None:
    auth = AuthService(env.store)
    revoked, _ = auth.create_token("ed")
    auth.revoke_token(revoked)
    past = AuthService(env.store, clock=lambda: 1_000)
    expired, _ = past.create_token("ed", expires_in_ms=1_000)
    before = (env.run_count(), env.audit_count())
    for header, expected in (
        (f"Bearer {revoked}", "revoked"),
        (f"Bearer {expired}", "expired"),
        ("Bearer myd_000000000000_nope", "unknown"),
        ("Bearer garbage", "malformed"),
        (f"Basic {env.tokens['ed']}", "Bearer"),
    ):
        response = env.client.post(env.notes(), headers={"Authorization": header})
        assert expected in _error(response, 401, "UNAUTHENTICATED")
    assert (env.run_count(), env.audit_count()) == before


def test_login_session_and_csrf(env: Env) -> None:
    client = env.client
    _error(
        client.post("/api/v1/auth/login", json={"username": "ed", "password": "wrong-password"}), 401, "UNAUTHENTICATED"
    )
    response = client.post("/api/v1/auth/login", json={"username": "ed", "password": "ed-password"})
    assert response.status_code == 200, response.text
    csrf = response.json()["csrf_token"]
    set_cookie = ";".join(response.headers.get_list("set-cookie")).lower()
    assert f"{SESSION_COOKIE}=" in set_cookie and "httponly" in set_cookie and "samesite=lax" in set_cookie
    assert client.cookies.get(CSRF_COOKIE) == csrf
    assert client.get("/api/v1/auth/whoami").json() == {"user": "ed", "is_admin": False, "via": "session"}
    assert client.get(env.notes()).status_code == 200  # reads need no CSRF token
    before = (env.run_count(), env.audit_count())
    assert "CSRF" in _error(client.post(env.notes()), 403, "PERMISSION_DENIED")
    assert "CSRF" in _error(client.post(env.notes(), headers={CSRF_HEADER: "forged"}), 403, "PERMISSION_DENIED")
    assert (env.run_count(), env.audit_count()) == before
    assert client.post(env.notes(), headers={CSRF_HEADER: csrf}).status_code == 201
    assert env.run_count() == 1
    # Another session's CSRF token does not fit this session.
    other = TestClient(client.app)
    other_csrf = other.post("/api/v1/auth/login", json={"username": "ed", "password": "ed-password"}).json()
    client.cookies.set(CSRF_COOKIE, other_csrf["csrf_token"])
    _error(client.post(env.notes(), headers={CSRF_HEADER: other_csrf["csrf_token"]}), 403, "PERMISSION_DENIED")
    client.cookies.set(CSRF_COOKIE, csrf)
    assert client.post("/api/v1/auth/logout", headers={CSRF_HEADER: csrf}).json() == {"logged_out": True}
    client.cookies.set(SESSION_COOKIE, response.cookies[SESSION_COOKIE])  # replaying the old cookie
    _error(client.get(env.notes()), 401, "UNAUTHENTICATED")


def test_bearer_writes_need_no_csrf_even_with_a_stale_cookie(env: Env) -> None:
    env.client.cookies.set(SESSION_COOKIE, "stale")
    assert env.client.post(env.notes(), headers=env.bearer("ed")).status_code == 201


def test_form_login_redirects(env: Env) -> None:
    client = env.client
    form = {"username": "vera", "password": "wrong-password", "next": "/runs"}
    response = client.post("/api/v1/auth/login", data=form, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?error=invalid")
    response = client.post("/api/v1/auth/login", data={**form, "password": "vera-password"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/runs"
    assert client.get("/api/v1/auth/whoami").json()["user"] == "vera"
    evil = {**form, "password": "vera-password", "next": "//evil.example/x"}
    assert client.post("/api/v1/auth/login", data=evil, follow_redirects=False).headers["location"] == "/"
    cross = client.post(
        "/api/v1/auth/login",
        json={"username": "vera", "password": "vera-password"},
        headers={"Origin": "https://evil.example"},
    )
    _error(cross, 403, "PERMISSION_DENIED")
    behind_proxy = client.post(
        "/api/v1/auth/login",
        json={"username": "vera", "password": "vera-password"},
        headers={"Origin": "https://ml.example.com", "X-Forwarded-Host": "ml.example.com"},
    )
    assert behind_proxy.status_code == 200, behind_proxy.text
    _error(
        client.post("/api/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}),
        400,
        "INVALID_ARGUMENT",
    )


def test_self_service_tokens(env: Env) -> None:
    client = env.client
    created = client.post(
        "/api/v1/auth/tokens", json={"name": "laptop", "expires_in_days": 30}, headers=env.bearer("vera")
    )
    assert created.status_code == 201, created.text
    secret = created.json()["token"]
    assert client.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {secret}"}).json()["via"] == "token"
    listed = client.get("/api/v1/auth/tokens", headers=env.bearer("vera")).json()["tokens"]
    assert created.json()["id"] in {t["id"] for t in listed} and all("token" not in t for t in listed)
    # Someone else's token is answered exactly as an id that does not exist (no "not yours").
    theirs = client.delete(f"/api/v1/auth/tokens/{created.json()['id']}", headers=env.bearer("ed"))
    unknown = client.delete("/api/v1/auth/tokens/000000000000", headers=env.bearer("ed"))
    assert _error(theirs, 404, "NOT_FOUND") == _error(unknown, 404, "NOT_FOUND").replace(
        "000000000000", created.json()["id"]
    )
    assert client.delete(f"/api/v1/auth/tokens/{created.json()['id']}", headers=env.bearer("vera")).status_code == 200
    _error(client.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {secret}"}), 401, "UNAUTHENTICATED")
    _error(
        client.post("/api/v1/auth/tokens", json={"expires_in_days": -1}, headers=env.bearer("vera")),
        422,
        "INVALID_ARGUMENT",
    )


def test_audit_routes_are_for_admins(env: Env) -> None:
    client = env.client
    for _ in range(3):
        client.post(env.notes(), headers=env.bearer("ed"))
    _error(client.get("/api/v1/audit", headers=env.bearer("ed")), 403, "PERMISSION_DENIED")
    page = client.get("/api/v1/audit", params={"limit": 2, "object_type": "run"}, headers=env.bearer("root")).json()
    assert len(page["entries"]) == 2 and page["next_page_token"]
    rest = client.get(
        "/api/v1/audit",
        params={"limit": 2, "object_type": "run", "page_token": page["next_page_token"]},
        headers=env.bearer("root"),
    ).json()
    assert len(rest["entries"]) == 1 and rest["next_page_token"] is None
    since = page["entries"][-1]["timestamp"]
    in_range = client.get(
        "/api/v1/audit", params={"since": since, "until": "2999-01-01T00:00:00"}, headers=env.bearer("root")
    ).json()["entries"]
    assert in_range and all(e["timestamp"] >= since for e in in_range)
    _error(
        client.get("/api/v1/audit", params={"since": "yesterday"}, headers=env.bearer("root")), 400, "INVALID_ARGUMENT"
    )
    verified = client.get("/api/v1/audit/verify", headers=env.bearer("root")).json()
    assert verified["ok"] and verified["checked"] == 3


def test_real_run_routes_enforce_roles(env: Env) -> None:
    """The same rules through the REST routers (POST /api/v1/runs authorizes editor on the project)."""
    if "/api/v1/runs" not in env.client.get("/api/v1/openapi.json").json()["paths"]:
        pytest.skip("the REST routers are not registered in this build")
    body = {"project_id": env.project_id, "name": "real"}
    before = (env.run_count(), env.audit_count())
    _error(env.client.post("/api/v1/runs", json=body), 401, "UNAUTHENTICATED")
    _error(env.client.post("/api/v1/runs", json=body, headers=env.bearer("vera")), 403, "PERMISSION_DENIED")
    assert (env.run_count(), env.audit_count()) == before
    created = env.client.post("/api/v1/runs", json=body, headers=env.bearer("ed"))
    assert created.status_code in (200, 201), created.text
    run_id = created.json()["id"]
    assert env.client.get(f"/api/v1/runs/{run_id}", headers=env.bearer("vera")).status_code == 200
    entries = env.client.get("/api/v1/audit", params={"object_id": run_id}, headers=env.bearer("root")).json()
    assert [e["actor"] for e in entries["entries"]] == ["ed"]
