"""The REST API v1 over real HTTP: bad input gets a 4xx with a JSON body that says what is wrong,
changes nothing, and the server keeps serving; artifacts stream both ways with verified hashes;
the client maps errors back to typed exceptions; /metrics counts what happened; the auth and
audit hooks are called by every route."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.client import HttpArtifactStore
from modelyard.core.errors import (
    Conflict,
    FilterSyntaxError,
    IntegrityError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StoreUnavailable,
)
from modelyard.core.tracking import Metric, Project, Run, RunInput, RunQuery
from modelyard.server.deps import Principal
from tests.fixtures.live_server import sqlite_server
from tests.fixtures.stores import Joined, http_store

API = "/api/v1"


@dataclass
class Server:
    url: str
    app: Any
    http: httpx.Client
    store: Any
    root: Path

    @property
    def backend(self) -> Any:
        """The server's own metadata store, to look behind the API."""
        return Joined(self.app.state.services.stores)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with sqlite_server(tmp_path / "server", max_upload_bytes=64 * 1024) as (url, app):
        http = httpx.Client(base_url=url, timeout=30)
        store = http_store(url)
        try:
            yield Server(url, app, http, store, tmp_path / "server")
        finally:
            store.close()
            http.close()


@pytest.fixture
def run(server: Server) -> Run:
    project = server.store.create_project("api")
    return server.store.create_run(project.id, name="r")


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"], body
    return dict(body["error"])


class Counting(httpx.HTTPTransport):
    """A transport that records every request it sends (``METHOD /path``)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(f"{request.method} {request.url.path}")
        return super().handle_request(request)


def still_serving(server: Server) -> None:
    assert server.http.get("/healthz").json()["status"] == "ok"


# -- basics -----------------------------------------------------------------------------------


def test_healthz_and_openapi(server: Server) -> None:
    still_serving(server)
    document = server.http.get(f"{API}/openapi.json").json()
    paths = set(document["paths"])
    for expected in (
        f"{API}/projects",
        f"{API}/runs",
        f"{API}/runs/search",
        f"{API}/runs/{{run_id}}/metrics",
        f"{API}/runs/{{run_id}}/artifacts/{{path}}",
        f"{API}/blobs/{{digest}}",
    ):
        assert expected in paths, expected


def test_round_trip_through_the_client(server: Server, run: Run) -> None:
    store = server.store
    store.log_batch(
        run.id,
        metrics=[Metric("loss", 0.5, 0, 10), Metric("loss", float("nan"), 1, 11)],
        params={"lr": "0.1"},
        tags={"team": "a"},
    )
    got = store.get_run(run.id)
    assert got.params == {"lr": "0.1"} and got.tags == {"team": "a"} and got.metrics["loss"].step == 1
    assert got == server.backend.get_run(run.id)
    history = store.get_metric_history(run.id, "loss")
    assert [p.step for p in history] == [0, 1] and history[1].value != history[1].value
    found = store.search_runs(RunQuery(project_ids=[run.project_id], filter="params.lr = '0.1'")).runs
    assert [r.id for r in found] == [run.id]


def test_one_request_per_metric_batch(server: Server, run: Run) -> None:
    counting = Counting()
    sent = counting.sent
    store = http_store(server.url, transport=counting)
    try:
        sent.clear()
        store.log_metrics(run.id, [Metric("m", float(i), i, 1000 + i) for i in range(10_000)])
        assert sent == [f"POST {API}/runs/{run.id}/metrics"]
    finally:
        store.close()
    assert server.backend.count_metric_points(run.id) == 10_000


def test_concurrent_writers_lose_nothing(server: Server, run: Run) -> None:
    """Eight clients, each on its own connections, write batches at once; every point arrives once."""
    import threading

    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            with http_store(server.url) as store:
                for batch in range(10):
                    points = [Metric(f"w{worker}", float(i), batch * 500 + i, 1 + i) for i in range(500)]
                    store.log_metrics(run.id, points)
                    store.log_metrics(run.id, points[:50])  # a retried prefix adds nothing
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert server.backend.count_metric_points(run.id) == 8 * 10 * 500
    assert all(server.backend.get_run(run.id).metrics[f"w{w}"].step == 4999 for w in range(8))


# -- bad input --------------------------------------------------------------------------------


def test_malformed_json_changes_nothing(server: Server, run: Run) -> None:
    for path in (f"{API}/runs/{run.id}/metrics", f"{API}/runs/{run.id}/params", f"{API}/runs", f"{API}/projects"):
        response = server.http.post(
            path, content=b'{"metrics": [["m", 1.0, 0,', headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (path, response.text)
        assert error_of(response)["code"] == "INVALID_ARGUMENT"
    assert server.backend.count_metric_points() == 0
    assert [p.name for p in server.backend.list_projects()] == ["api"]
    still_serving(server)


def test_wrong_types_say_where(server: Server, run: Run) -> None:
    bad_value = {"metrics": [["m", 1.0, 0, 1], ["m", "abc", 1, 2]]}
    response = server.http.post(f"{API}/runs/{run.id}/metrics", json=bad_value)
    error = error_of(response)
    assert response.status_code == 422 and error["code"] == "INVALID_ARGUMENT"
    assert error["details"][0]["loc"][:3] == ["body", "metrics", "1"], error
    response = server.http.post(f"{API}/runs", json={"project_id": run.project_id, "start_time": "yesterday"})
    assert response.status_code == 422 and "start_time" in error_of(response)["message"]
    response = server.http.post(f"{API}/runs/{run.id}/params", json={"params": {"a": "1"}, "extra": True})
    assert response.status_code == 422 and "extra" in error_of(response)["message"]
    response = server.http.post(f"{API}/runs/{run.id}/metrics", json={"metrics": [["m", 1.0, 2**70, 1]]})
    assert response.status_code == 422
    assert server.backend.count_metric_points(run.id) == 0 and server.backend.get_run(run.id).params == {}
    still_serving(server)


def test_the_client_checks_bodies_with_the_servers_schema(server: Server, run: Run) -> None:
    """Request bodies are the server's wire models: an invalid one is refused before it is sent,
    with the message the server gives the same body; metric batches (the hot path) are checked by
    the server only, and still come back as the same typed error."""
    counting = Counting()
    sent = counting.sent
    store = http_store(server.url, transport=counting)
    try:
        sent.clear()
        long_name = "p" * 300
        with pytest.raises(InvalidArgument) as caught:
            store.create_project(long_name)
        raw = server.http.post(f"{API}/projects", json={"name": long_name, "id": "x1", "description": None})
        assert raw.status_code == 422 and str(caught.value) == error_of(raw)["message"]
        assert str(caught.value).startswith("body.name: ")
        with pytest.raises(InvalidArgument, match=r"^body\.inputs\.0\.name: "):  # nested: its place in the body
            store.log_inputs(run.id, [RunInput(name="")])
        assert sent == []  # neither reached the server
        with pytest.raises(InvalidArgument, match=r"^body\.metrics\.0\.0: "):
            store.log_metrics(run.id, [Metric("", 1.0, 0, 1)])
        assert sent == [f"POST {API}/runs/{run.id}/metrics"]
    finally:
        store.close()
    assert [p.name for p in server.backend.list_projects()] == ["api"]
    assert server.backend.count_metric_points(run.id) == 0 and server.backend.get_run(run.id).inputs == []


def test_unknown_ids_are_404(server: Server, run: Run) -> None:
    for method, path, body in (
        ("GET", f"{API}/runs/nope", None),
        ("GET", f"{API}/projects/nope", None),
        ("GET", f"{API}/projects/by-name/nope", None),
        ("POST", f"{API}/runs/nope/metrics", {"metrics": [["m", 1.0, 0, 1]]}),
        ("POST", f"{API}/runs/nope/params", {"params": {"a": "1"}}),
        ("GET", f"{API}/runs/nope/metric-history?key=m", None),
        ("GET", f"{API}/runs/nope/artifacts", None),
        ("GET", f"{API}/runs/{run.id}/artifacts/missing.txt", None),
        ("DELETE", f"{API}/runs/{run.id}/tags/missing", None),
        ("POST", f"{API}/runs", {"project_id": "nope"}),
    ):
        response = server.http.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert error_of(response)["code"] == "NOT_FOUND"
    with pytest.raises(NotFound, match="run 'nope' not found"):
        server.store.get_run("nope")
    still_serving(server)


def test_bad_filter_is_400_with_position(server: Server, run: Run) -> None:
    response = server.http.post(f"{API}/runs/search", json={"filter": "metrics.acc >"})
    error = error_of(response)
    assert response.status_code == 400 and error["position"] == 13 and error["expression"] == "metrics.acc >"
    with pytest.raises(FilterSyntaxError) as info:
        server.store.search_runs(RunQuery(project_ids=[], filter="metrics.acc > AND"))
    assert info.value.position == 14 and "position 14" in str(info.value)
    with pytest.raises(InvalidArgument):
        server.store.search_runs(RunQuery(project_ids=[], filter="metrics.acc = 'abc'"))
    still_serving(server)


def test_param_conflict_is_409_and_writes_nothing(server: Server, run: Run) -> None:
    server.store.log_params(run.id, {"lr": "0.1"})
    with pytest.raises(Conflict, match="immutable"):
        server.store.log_batch(run.id, params={"lr": "0.2"}, metrics=[Metric("m", 1.0, 0, 1)], tags={"t": "v"})
    response = server.http.post(f"{API}/runs/{run.id}/params", json={"params": {"lr": "0.3"}})
    assert response.status_code == 409 and error_of(response)["code"] == "CONFLICT"
    got = server.backend.get_run(run.id)
    assert got.params == {"lr": "0.1"} and got.tags == {} and server.backend.count_metric_points(run.id) == 0


def test_oversized_uploads_are_413_and_leave_nothing(server: Server, run: Run) -> None:
    big = b"x" * (64 * 1024 + 1)
    response = server.http.put(f"{API}/runs/{run.id}/artifacts/big.bin", content=big)
    assert response.status_code == 413 and error_of(response)["code"] == "TOO_LARGE"

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused while streaming
        for _ in range(65):
            yield b"y" * 1024

    response = server.http.put(f"{API}/runs/{run.id}/artifacts/big.bin", content=chunks())
    assert response.status_code == 413
    digest = "sha256:" + hashlib.sha256(big).hexdigest()
    response = server.http.put(f"{API}/blobs/{digest}", content=big)
    assert response.status_code == 413
    assert server.backend.list_artifacts(run.id) == []
    assert not server.app.state.services.artifacts.exists(digest)
    still_serving(server)


def test_artifact_paths_cannot_escape(server: Server, run: Run) -> None:
    for path in ("a/%2E%2E/%2E%2E/etc/passwd", "%2E%2E", "%5Ca", "a/%2E%2E%5Cb"):
        response = server.http.put(f"{API}/runs/{run.id}/artifacts/{path}", content=b"x")
        assert response.status_code in (400, 422), (path, response.text)  # the domain rule or the schema's pattern
        assert "invalid artifact name" in error_of(response)["message"]
    assert server.backend.list_artifacts(run.id) == []
    # a backslash inside a name is an ordinary character on POSIX (issue 12): kept as sent
    response = server.http.put(f"{API}/runs/{run.id}/artifacts/a%5Cb", content=b"x")
    assert response.status_code == 200, response.text
    assert [entry.path for entry in server.backend.list_artifacts(run.id)] == ["a\\b"]


# -- artifacts and blobs ----------------------------------------------------------------------


def test_artifact_upload_and_streamed_download(server: Server, run: Run) -> None:
    data = os.urandom(300_000)[:50_000]
    response = server.http.put(f"{API}/runs/{run.id}/artifacts/model/weights.bin", content=data)
    assert response.status_code == 200, response.text
    entry = response.json()
    assert entry == {
        "path": "model/weights.bin",
        "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    with server.http.stream("GET", f"{API}/runs/{run.id}/artifacts/model/weights.bin") as download:
        assert download.headers["x-modelyard-digest"] == entry["digest"]
        assert int(download.headers["content-length"]) == len(data)
        received = b"".join(download.iter_bytes())
    assert received == data
    listed = server.http.get(f"{API}/runs/{run.id}/artifacts", params={"prefix": "model"}).json()
    assert listed == {"artifacts": [entry]}


def test_http_artifact_store_round_trip(server: Server, tmp_path: Path) -> None:
    artifacts = server.store.artifact_store()
    ref = artifacts.put_bytes(b"hello")
    assert ref.digest == "sha256:" + hashlib.sha256(b"hello").hexdigest()
    assert artifacts.exists(ref.digest) and artifacts.get_bytes(ref.digest) == b"hello"
    assert artifacts.put_bytes(b"hello") == ref  # already there: not uploaded again
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "sub" / "b.txt").write_text("b" * 10_000)
    manifest = artifacts.put_directory(tree)
    assert manifest.digest and [e.path for e in manifest.entries] == ["a.txt", "sub/b.txt"]
    out = artifacts.get_directory(manifest.digest, tmp_path / "out")
    assert (out / "sub" / "b.txt").read_text() == "b" * 10_000
    assert artifacts.verify(ref.digest)
    assert not artifacts.exists("sha256:" + "0" * 64)
    with pytest.raises(NotFound):
        artifacts.get_bytes("sha256:" + "0" * 64)


def test_blob_upload_must_match_its_digest(server: Server) -> None:
    digest = "sha256:" + hashlib.sha256(b"expected").hexdigest()
    response = server.http.put(f"{API}/blobs/{digest}", content=b"something else")
    assert response.status_code == 400 and "does not match" in error_of(response)["message"]
    assert server.http.head(f"{API}/blobs/{digest}").status_code == 404
    response = server.http.put(f"{API}/blobs/sha256:not-hex", content=b"x")
    assert response.status_code == 422 and "digest" in error_of(response)["message"]  # the schema's pattern


def test_corrupt_blob_is_detected_by_the_client(server: Server) -> None:
    artifacts: HttpArtifactStore = server.store.artifact_store()
    ref = artifacts.put_bytes(b"precious bytes")
    hex_digest = ref.digest.split(":")[1]
    blob = server.root / "artifacts" / "blobs" / "sha256" / hex_digest[:2] / hex_digest[2:4] / hex_digest
    blob.chmod(0o644)
    blob.write_bytes(b"tampered bytes")
    with pytest.raises(IntegrityError, match="corrupt"):
        artifacts.get_bytes(ref.digest)
    assert not artifacts.verify(ref.digest)
    with pytest.raises(IntegrityError):
        artifacts.get_file(ref.digest, server.root / "out.bin")
    assert not (server.root / "out.bin").exists()
    still_serving(server)


# -- the client -------------------------------------------------------------------------------


def test_unreachable_server_is_store_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(StoreUnavailable) as info:
            http_store(f"http://127.0.0.1:{port}")
    assert "\n" not in str(info.value) and f"127.0.0.1:{port}" in str(info.value)


def test_idempotent_calls_are_retried_on_connection_errors(server: Server, run: Run) -> None:
    failures = {"left": 2}

    class Flaky(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/metrics") and failures["left"] > 0:
                failures["left"] -= 1
                raise httpx.ConnectError("connection refused (simulated)", request=request)
            return super().handle_request(request)

    store = http_store(server.url, transport=Flaky())
    try:
        store.log_metrics(run.id, [Metric("m", 1.0, 0, 1)])
    finally:
        store.close()
    assert failures["left"] == 0 and server.backend.count_metric_points(run.id) == 1


def test_token_is_sent_as_bearer(server: Server) -> None:
    seen: list[str | None] = []

    class Recording(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request.headers.get("authorization"))
            return super().handle_request(request)

    http_store(server.url, token="secret-token", transport=Recording()).close()
    assert seen == ["Bearer secret-token"]


# -- /metrics ---------------------------------------------------------------------------------


def test_prometheus_metrics(server: Server, run: Run) -> None:
    server.store.log_metrics(run.id, [Metric("m", float(i), i, 1) for i in range(7)])
    server.http.get(f"{API}/runs/nope")
    text = server.http.get("/metrics").text
    assert "modelyard_metric_points_logged_total 7.0" in text
    route = f"{API}/runs/{{run_id}}/metrics"
    assert f'modelyard_http_requests_total{{method="POST",route="{route}",status="204"}} 1.0' in text
    assert f'route="{API}/runs/{{run_id}}",status="404"' in text
    assert "modelyard_http_request_duration_seconds_bucket" in text


# -- auth and audit hooks ---------------------------------------------------------------------


@dataclass
class FakeAuth:
    """Stands in for the auth module: header ``X-User: name``; roles per (user, project)."""

    roles: dict[tuple[str, str | None], str]
    checks: list[tuple[str, str | None, str]] = field(default_factory=list)
    audit: list[tuple[str, str, str | None]] = field(default_factory=list)

    def authenticate(self, request: Any) -> Principal:
        return Principal(user=request.headers.get("x-user", "nobody"))

    def authorize(self, principal: Principal, project_id: str | None, role: str) -> None:
        self.checks.append((principal.user, project_id, role))
        order = ("viewer", "editor", "maintainer", "admin")
        held = self.roles.get((principal.user, project_id)) or self.roles.get((principal.user, None))
        if held is None or order.index(held) < order.index(role):
            raise PermissionDenied(f"{principal.user} may not {role} {project_id}")

    def visible_project_ids(self, principal: Principal) -> set[str] | None:
        if self.roles.get((principal.user, None)):
            return None
        return {project for (user, project) in self.roles if user == principal.user and project is not None}

    def record(
        self,
        *,
        actor: str,
        action: str,
        object_type: str,
        object_id: str | None,
        details: dict[str, Any],
        remote_addr: str | None,
    ) -> None:
        self.audit.append((actor, action, object_id))


def test_routes_call_authorize_and_audit(server: Server) -> None:
    project: Project = server.backend.create_project("guarded")
    other: Project = server.backend.create_project("hidden")
    run = server.backend.create_run(project.id, name="r")
    fake = FakeAuth(roles={("viewer", project.id): "viewer", ("editor", project.id): "editor"})
    server.app.state.authenticator = fake
    server.app.state.auditor = fake
    try:
        as_viewer = {"x-user": "viewer"}
        assert server.http.get(f"{API}/runs/{run.id}", headers=as_viewer).status_code == 200
        response = server.http.post(
            f"{API}/runs/{run.id}/metrics", json={"metrics": [["m", 1.0, 0, 1]]}, headers=as_viewer
        )
        assert response.status_code == 403 and error_of(response)["code"] == "PERMISSION_DENIED"
        assert ("viewer", project.id, "editor") in fake.checks
        listed = server.http.get(f"{API}/projects", headers=as_viewer).json()["projects"]
        assert [p["name"] for p in listed] == ["guarded"]
        found = server.http.post(f"{API}/runs/search", json={}, headers=as_viewer).json()["runs"]
        assert [r["id"] for r in found] == [run.id]
        assert server.http.get(f"{API}/projects/{other.id}", headers=as_viewer).status_code == 403
        assert fake.audit == []
        response = server.http.post(
            f"{API}/runs/{run.id}/metrics", json={"metrics": [["m", 1.0, 0, 1]]}, headers={"x-user": "editor"}
        )
        assert response.status_code == 204
        assert fake.audit == [("editor", "log_metrics", run.id)]
        assert server.backend.count_metric_points(run.id) == 1
    finally:
        del server.app.state.authenticator
        del server.app.state.auditor


def test_http_store_with_auth_on(tmp_path: Path) -> None:
    """With the real auth module: anonymous refused, a project editor can do everything the SDK
    does (find the project, create a run, log metrics, store blobs), a viewer reads only."""
    auth_service = pytest.importorskip("modelyard.auth.service")
    from modelyard.core.auth import AuditQuery

    with sqlite_server(tmp_path / "server", auth=True) as (url, app):
        backend = Joined(app.state.services.stores)
        service = auth_service.AuthService(backend)
        project = backend.create_project("team")
        service.create_user("alice")
        service.create_user("bob")
        service.grant_role("alice", project.id, "editor")
        service.grant_role("bob", project.id, "viewer")
        alice_token, _ = service.create_token("alice")
        bob_token, _ = service.create_token("bob")
        with http_store(url) as anonymous, pytest.raises(PermissionDenied):
            anonymous.list_projects()
        with http_store(url, token=alice_token) as alice, http_store(url, token=bob_token) as bob:
            assert alice.get_or_create_project("team").id == project.id
            run = alice.create_run(project.id, name="r")
            alice.log_metrics(run.id, [Metric("m", 1.0, 0, 1)])
            ref = alice.artifact_store().put_bytes(b"model bytes")
            assert bob.get_run(run.id).metrics["m"].value == 1.0
            assert bob.artifact_store().get_bytes(ref.digest) == b"model bytes"
            assert [p.name for p in bob.list_projects()] == ["team"]
            with pytest.raises(PermissionDenied, match="editor"):
                bob.log_metrics(run.id, [Metric("m", 2.0, 1, 1)])
            with pytest.raises(PermissionDenied):
                bob.create_project("mine")
        assert backend.count_metric_points(run.id) == 1
        actions = [(e.actor, e.action) for e in backend.list_audit(AuditQuery())]
        assert ("alice", "log_metrics") in actions and ("alice", "create_run") in actions
        assert not any(actor == "bob" for actor, _ in actions)
