"""Regression tests for issue 16 at the HTTP edge: body limits, big integers, oversized filters,
names, non-UTF-8 URLs, the login backoff with its audit entries, and token revocation."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from modelyard.auth import AuthService
from modelyard.core._filter_parser import MAX_COMPARISONS
from modelyard.core.auth import AuditQuery
from modelyard.server import ServerConfig, create_app
from modelyard.server.limits import MAX_LOGIN_BYTES, RequestLimits
from tests.fixtures.live_server import live_server

PASSWORD = "root-password-1"


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    return str(body["error"]["message"])


def _app(tmp_path: Path, **config: Any) -> Any:
    return create_app(
        ServerConfig(store_uri=f"sqlite:///{tmp_path / 'server.db'}", artifact_uri=str(tmp_path / "art"), **config)
    )


@pytest.fixture
def open_client(tmp_path: Path) -> Iterator[TestClient]:
    app = _app(tmp_path, max_json_bytes=64 * 1024)
    with TestClient(app) as client:
        yield client
    app.state.services.stores.close()


@pytest.fixture
def auth_app(tmp_path: Path) -> Iterator[Any]:
    app = _app(tmp_path, auth=True, login_free_failures=2, login_max_backoff_seconds=60)
    auth = AuthService(app.state.services.stores.auth)
    auth.create_user("root", password=PASSWORD, is_admin=True)
    auth.create_user("ed", password="ed-password-1")
    app.state.root_token, _ = auth.create_token("root")
    app.state.ed_token, _ = auth.create_token("ed")
    yield app
    app.state.services.stores.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- 1. body limits ------------------------------------------------------------------------------


def test_an_announced_200_mb_login_body_is_refused_before_it_is_read(auth_app: Any) -> None:
    """Over a real socket: the server answers 413 after the headers, with the JSON error shape,
    while almost none of the announced 200 MB was sent."""
    with live_server(auth_app) as url:
        host, port = urlsplit(url).hostname, urlsplit(url).port
        assert host is not None and port is not None
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 209715200\r\n\r\n" + b'{"username": "' + b"a" * 1000
            )
            reply = b""
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b'"TOO_LARGE"' in body and str(MAX_LOGIN_BYTES).encode() in body


def _drive(middleware: RequestLimits, path: str, chunks: Iterator[bytes], headers: list[Any] | None = None) -> Any:
    """Run the middleware on a streamed body; returns (status, chunks pulled, app called)."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers or [],
    }
    asyncio.run(middleware(scope, receive, send))
    return (sent[0]["status"] if sent else None), pulled


def test_a_streamed_200_mb_body_is_cut_off_at_the_limit_and_the_route_never_runs() -> None:
    ran: list[str] = []

    async def route(scope: Any, receive: Any, send: Any) -> None:
        ran.append(scope["path"])

    limits = RequestLimits(route, max_json_bytes=1 << 20, max_upload_bytes=1 << 30)
    chunk = b"x" * 65536
    endless = (chunk for _ in range(200 * 16))  # 200 MB, produced lazily, no Content-Length
    status, pulled = _drive(limits, "/api/v1/auth/login", endless)
    assert status == 413 and ran == []
    assert pulled * len(chunk) <= MAX_LOGIN_BYTES + len(chunk)  # stopped reading at the login limit
    status, pulled = _drive(limits, "/api/v1/projects", (chunk for _ in range(200 * 16)))
    assert status == 413 and ran == [] and pulled * len(chunk) <= (1 << 20) + len(chunk)
    status, _ = _drive(limits, "/api/v1/projects", iter([b"{}"]))
    assert status is None and ran == ["/api/v1/projects"]  # a small body reaches the route


def test_json_bodies_over_the_limit_are_413_and_change_nothing(open_client: TestClient) -> None:
    big = {"name": "p", "description": "x" * (128 * 1024)}
    _error(open_client.post("/api/v1/projects", json=big), 413, "TOO_LARGE")

    def streamed() -> Iterator[bytes]:  # chunked: no Content-Length to refuse up front
        yield b'{"name": "p", "description": "'
        for _ in range(64):
            yield b"x" * 4096
        yield b'"}'

    response = open_client.post("/api/v1/projects", content=streamed(), headers={"Content-Type": "application/json"})
    _error(response, 413, "TOO_LARGE")
    assert [p["name"] for p in open_client.get("/api/v1/projects").json()["projects"]] == []
    assert open_client.post("/api/v1/projects", json={"name": "p"}).status_code == 201


# --- 2. big integers -----------------------------------------------------------------------------


def test_big_integers_in_audit_queries_are_400(auth_app: Any) -> None:
    with TestClient(auth_app) as client:
        headers = _bearer(auth_app.state.root_token)
        for query in (
            "since=99999999999999999999",
            "until=99999999999999999999",
            "page_token=99999999999999999999999",
            "since=999999999999999999999999999999d",
        ):
            _error(client.get(f"/api/v1/audit?{query}", headers=headers), 400, "INVALID_ARGUMENT")
        assert client.get("/api/v1/audit?since=0", headers=headers).status_code == 200


def test_a_forged_page_token_with_a_huge_offset_is_400(open_client: TestClient) -> None:
    forged = base64.urlsafe_b64encode(b"offset:99999999999999999999999").decode()
    message = _error(open_client.post("/api/v1/runs/search", json={"page_token": forged}), 400, "INVALID_ARGUMENT")
    assert "page_token" in message


# --- 3. oversized filters ------------------------------------------------------------------------


def test_a_filter_of_1000_clauses_is_400_naming_the_limit(open_client: TestClient) -> None:
    text = " AND ".join(f"metrics.m{i} > 1" for i in range(1000))
    message = _error(open_client.post("/api/v1/runs/search", json={"filter": text}), 400, "FILTER_SYNTAX")
    assert str(MAX_COMPARISONS) in message
    within = " AND ".join(f"metrics.m{i} > 1" for i in range(MAX_COMPARISONS))
    assert open_client.post("/api/v1/runs/search", json={"filter": within}).status_code == 200


# --- 4. names ------------------------------------------------------------------------------------

BAD_NAMES = ["../../x", "..", ".", "a\u0000b", "-rf", "", "a//b", "a/./b", " padded", "x" * 300, "a\\b"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused_everywhere(open_client: TestClient, name: str) -> None:
    # The schema states the name rule (a pattern), so every bad name is a 422 at the edge.
    expected = 422
    assert open_client.post("/api/v1/projects", json={"name": name}).status_code == expected
    project = open_client.post("/api/v1/projects", json={"name": "ok"}).json()
    response = open_client.post("/api/v1/models", json={"name": name, "project_id": project["id"]})
    assert response.status_code == expected, response.text
    assert open_client.get("/api/v1/models").json()["models"] == []
    assert [p["name"] for p in open_client.get("/api/v1/projects").json()["projects"]] == ["ok"]


def test_names_with_slash_separated_parts_are_still_allowed(open_client: TestClient) -> None:
    project = open_client.post("/api/v1/projects", json={"name": "team/churn"})
    assert project.status_code == 201
    response = open_client.post("/api/v1/models", json={"name": "team/churn", "project_id": project.json()["id"]})
    assert response.status_code == 201, response.text


# --- 5. URLs that are not UTF-8 ------------------------------------------------------------------


def test_an_artifact_path_that_is_not_utf8_is_refused_and_nothing_recorded(open_client: TestClient) -> None:
    project = open_client.post("/api/v1/projects", json={"name": "p"}).json()
    run = open_client.post("/api/v1/runs", json={"project_id": project["id"]}).json()
    run_id = run.get("id") or run["run"]["id"]
    response = open_client.put(
        f"/api/v1/runs/{run_id}/artifacts/%ff%fe.txt",
        content=b"data",
        headers={"Content-Type": "application/octet-stream"},
    )
    _error(response, 400, "INVALID_ARGUMENT")
    assert open_client.get(f"/api/v1/runs/{run_id}/artifacts").json()["artifacts"] == []
    sent = "caf%C3%A9.txt"  # valid UTF-8 is recorded as sent
    assert (
        open_client.put(
            f"/api/v1/runs/{run_id}/artifacts/{sent}",
            content=b"data",
            headers={"Content-Type": "application/octet-stream"},
        ).status_code
        == 200
    )
    assert [a["path"] for a in open_client.get(f"/api/v1/runs/{run_id}/artifacts").json()["artifacts"]] == ["café.txt"]
    _error(open_client.get("/api/v1/projects?x=%ff"), 400, "INVALID_ARGUMENT")


# --- 10. login backoff, failed-login audit, token revocation ---------------------------------------


def test_failed_logins_back_off_with_429_and_are_audited_without_the_password(auth_app: Any) -> None:
    store = auth_app.state.services.stores.auth
    with TestClient(auth_app) as client:
        for attempt in range(2):
            wrong = {"username": "root", "password": f"wrong-guess-{attempt}"}
            _error(client.post("/api/v1/auth/login", json=wrong), 401, "UNAUTHENTICATED")
        # Now even the right password must wait: refused without checking it.
        throttled = client.post("/api/v1/auth/login", json={"username": "root", "password": PASSWORD})
        _error(throttled, 429, "RESOURCE_EXHAUSTED")
        assert 1 <= int(throttled.headers["Retry-After"]) <= 60
        # Another user from another address is not affected.
        other = client.post(
            "/api/v1/auth/login",
            json={"username": "ed", "password": "ed-password-1"},
            headers={"X-Forwarded-For": "10.0.0.9"},
        )
        assert other.status_code in (200, 429)  # the test client has one address: 429 only past its budget
    failures = store.list_audit(AuditQuery(action="auth.login_failed", limit=100))
    assert [e.object_id for e in failures] == ["root", "root"]
    assert all("wrong-guess" not in e.model_dump_json() for e in failures)
    assert all(e.actor == "anonymous" for e in failures)


def test_a_successful_login_clears_the_user_count(auth_app: Any) -> None:
    throttle = auth_app.state.login_throttle
    with TestClient(auth_app) as client:
        _error(
            client.post("/api/v1/auth/login", json={"username": "ed", "password": "nope-nope-1"}),
            401,
            "UNAUTHENTICATED",
        )
        right = {"username": "ed", "password": "ed-password-1"}
        assert client.post("/api/v1/auth/login", json=right).status_code == 200
    key = throttle.user_key("ed")
    assert key not in auth_app.state.services.stores.auth.login_failures([key])


def test_revoking_someone_elses_token_reads_like_an_unknown_id(auth_app: Any) -> None:
    with TestClient(auth_app) as client:
        root_tokens = client.get("/api/v1/auth/tokens", headers=_bearer(auth_app.state.root_token)).json()["tokens"]
        theirs = client.delete(f"/api/v1/auth/tokens/{root_tokens[0]['id']}", headers=_bearer(auth_app.state.ed_token))
        unknown = client.delete("/api/v1/auth/tokens/ffffffffffff", headers=_bearer(auth_app.state.ed_token))
        assert theirs.status_code == unknown.status_code == 404
        assert "yours" not in theirs.text
        assert theirs.json()["error"]["message"].replace(root_tokens[0]["id"], "ID") == unknown.json()["error"][
            "message"
        ].replace("ffffffffffff", "ID")
