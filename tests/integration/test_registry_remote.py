"""The model registry and the dataset catalogue through a live server: the SDK, the CLI and raw
HTTP with ``MODELYARD_STORE_URI=http://...`` only.

Governance holds remotely: the client's RegistryService refuses what it refuses in-process, and
the server refuses it again when a caller skips that service (raw store calls, raw HTTP). With
auth on, who acts is the token's user, roles gate writes, transitions and approvals, and every
refusal is a JSON error that changes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import modelyard
from modelyard.auth import AuthService
from modelyard.client import HttpRegistryStore
from modelyard.core.errors import ApprovalRequired, IntegrityError, InvalidArgument, PermissionDenied
from modelyard.core.registry import ModelState
from modelyard.registry.packaging import store_model
from modelyard.registry.service import RegistryService
from modelyard.store import open_stores
from tests.fixtures.live_server import sqlite_server
from tests.fixtures.stores import Joined, http_store

API = "/api/v1"
MODELYARD = str(Path(sys.executable).parent / "modelyard")


def train(seed: int = 0) -> tuple[Any, pd.DataFrame]:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"tenure": rng.integers(0, 60, 120), "spend": rng.normal(50, 10, 120)})
    y = (X["tenure"] < 20).astype(int)
    return LogisticRegression(max_iter=500).fit(X, y), X


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    return str(body["error"]["message"])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    with sqlite_server(tmp_path / "server") as (url, app):
        yield url, app


@pytest.fixture
def sdk(server: tuple[str, Any], modelyard_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The SDK pointed at the server through the environment alone."""
    url = server[0]
    monkeypatch.setenv("MODELYARD_STORE_URI", url)
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    modelyard.set_project("churn-team")
    yield url
    while modelyard.active_run() is not None:
        modelyard.end_run()
    modelyard.set_store_uri(None)


@pytest.fixture
def registry(sdk: str) -> Iterator[RegistryService]:
    """The explicit registry API over the server (``MODELYARD_STORE_URI``), closed after."""
    client = modelyard.RegistryClient()
    yield client
    client.store.close()  # type: ignore[attr-defined]


def server_blob(tmp_path: Path, digest: str) -> Path:
    """Where the live server (``tmp_path / "server"``) keeps a blob on disk."""
    algorithm, hexdigest = digest.split(":")
    return tmp_path / "server" / "artifacts" / "blobs" / algorithm / hexdigest[:2] / hexdigest[2:4] / hexdigest


# --- the SDK and the CLI, auth off ------------------------------------------------------------


def test_log_govern_and_load_a_model_through_the_server(
    sdk: str, server: tuple[str, Any], registry: RegistryService, modelyard_home: Path
) -> None:
    model, X = train()
    with modelyard.start_run(name="train") as run:
        version = modelyard.log_model(model, "churn", input_example=X.head(), actor="ana")
    assert (version.version, version.run_id, version.state) == (1, run.id, ModelState.DRAFT)
    # The server's own stores hold it: nothing was written locally.
    on_server = server[1].state.services.stores.registry.get_model_version("churn", 1)
    assert on_server.manifest_digest == version.manifest_digest
    assert server[1].state.services.artifacts.exists(version.manifest_digest)
    assert not (modelyard_home / "modelyard.db").exists() and not (modelyard_home / "artifacts").exists()

    assert isinstance(registry.store, HttpRegistryStore)
    registry.set_policy("churn-team", actor="lead", required_approvals=1)
    modelyard.transition("churn", 1, "staging", actor="ana", reason="offline metrics ok")
    with pytest.raises(ApprovalRequired, match="needs 1 approval"):
        modelyard.transition("churn", 1, "production", actor="ana")
    with pytest.raises(PermissionDenied, match="cannot approve"):
        registry.approve("churn", 1, approver="ana")
    registry.approve("churn", 1, approver="rita", comment="reviewed")
    promoted = modelyard.transition("churn", 1, "production", actor="ana", reason="approved")
    assert promoted.state is ModelState.PRODUCTION

    loaded = modelyard.load_model("churn@production")
    assert np.array_equal(loaded.predict(X), model.predict(X))  # type: ignore[attr-defined]
    history = [(e.kind.value, e.actor) for e in registry.history("churn", 1)]
    assert history == [
        ("registered", "ana"), ("transition", "ana"), ("approved", "rita"), ("transition", "ana"),
    ]  # fmt: skip


def test_a_tampered_artifact_is_refused_remotely(sdk: str, registry: RegistryService, tmp_path: Path) -> None:
    model, X = train()
    with modelyard.start_run():
        modelyard.log_model(model, "churn", input_example=X.head())
    pickled = next(f for f in registry.store.list_model_files("churn", 1) if f.path.startswith("model."))
    blob = server_blob(tmp_path, pickled.digest)
    blob.chmod(0o644)
    blob.write_bytes(b"not the model")
    with pytest.raises(IntegrityError):
        modelyard.load_model("churn@1")
    assert registry.get_version("churn", 1).state is ModelState.DRAFT


def test_models_cli_through_http(sdk: str, registry: RegistryService, modelyard_home: Path) -> None:
    model, X = train()
    with modelyard.start_run():
        modelyard.log_model(model, "churn", input_example=X.head())
        modelyard.log_model(model, "churn")
    modelyard.transition("churn", 2, "staging")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(MODELYARD_STORE_URI=sdk, MODELYARD_HOME=str(modelyard_home))
    listed = subprocess.run(
        [MODELYARD, "models", "versions", "churn", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["version"], r["state"]) for r in rows] == [(2, "staging"), (1, "draft")]
    refused = subprocess.run(
        [MODELYARD, "models", "transition", "churn", "1", "production"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0 and "illegal transition" in refused.stderr + refused.stdout
    assert registry.get_version("churn", 1).state is ModelState.DRAFT


def test_datasets_through_http(sdk: str, server: tuple[str, Any], tmp_path: Path) -> None:
    source = tmp_path / "train.csv"
    pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]}).to_csv(source, index=False)
    added = modelyard.datasets.add(source, name="raw/churn", message="May export")
    assert added.record.ref == "raw/churn@v1"
    assert server[1].state.services.stores.datasets.get_dataset_version("raw/churn", 1) == added.record
    with modelyard.start_run() as run:
        frame = modelyard.datasets.get("raw/churn", context="training").to_pandas()
    assert frame.to_dict("list") == {"x": [1, 2, 3], "y": ["a", "b", "c"]}
    assert [(i.name, i.version, i.context) for i in modelyard.get_run(run.id).inputs] == [
        ("raw/churn", "v1", "training")
    ]
    again = modelyard.datasets.add(source, name="raw/churn")
    assert again.record.version == 1  # identical content: the same version


# --- bad input over raw HTTP ------------------------------------------------------------------


def test_bad_input_is_a_json_error_and_changes_nothing(sdk: str, registry: RegistryService) -> None:
    model, X = train()
    with modelyard.start_run():
        modelyard.log_model(model, "churn", input_example=X.head())
    before = (registry.list_versions("churn"), registry.history("churn"))
    with httpx.Client(base_url=sdk + API) as http:
        assert "not found" in error(http.get("/models/nope"), 404, "NOT_FOUND")
        assert "not found" in error(http.get("/models/nope/versions/1"), 404, "NOT_FOUND")
        illegal = http.post("/models/churn/versions/1/transitions", json={"to_state": "production", "actor": "ana"})
        message = error(illegal, 400, "ILLEGAL_TRANSITION")  # the subclass's own code, status of its base
        assert "illegal transition" in message and "draft -> production" in message
        stale_body = {"to_state": "archived", "from_state": "staging"}
        stale = http.post("/models/churn/versions/1/transitions", json=stale_body)
        assert "reload and retry" in error(stale, 409, "CONFLICT")
        error(http.post("/models/churn/versions/1/transitions", json={"to_state": "live"}), 422, "INVALID_ARGUMENT")
        reserved = http.put("/models/churn/aliases", params={"alias": "production"}, json={"version": 1})
        assert "reserved" in error(reserved, 400, "INVALID_ARGUMENT")
        author = registry.get_version("churn", 1).created_by
        own = http.post("/models/churn/versions/1/approvals", json={"approver": author})
        assert "cannot approve" in error(own, 403, "PERMISSION_DENIED")
        card = http.patch("/models/churn/versions/1/card", json={"changes": {"favourite_colour": "blue"}})
        assert "favourite_colour" in error(card, 422, "INVALID_ARGUMENT")  # the schema lists the fields
        project_id = registry.get_model("churn").project_id
        shadow = http.post("/models", json={"name": "x/versions", "project_id": project_id})
        assert "cannot be served" in error(shadow, 400, "INVALID_ARGUMENT")
        error(http.get("/datasets/nope/versions/latest"), 404, "NOT_FOUND")
        bad_kind = {"manifest_digest": "sha256:" + "a" * 64, "kind": "folder", "file_count": 1, "total_size": 1}
        error(http.post("/datasets/ds/versions", json=bad_kind), 422, "INVALID_ARGUMENT")
        good = "sha256:" + "b" * 64
        twice = {
            "manifest_digest": good,
            "flavor": "python",
            "files": [{"path": "m.pkl", "digest": good, "size": 1}, {"path": "m.pkl", "digest": good, "size": 1}],
        }
        assert "listed twice" in error(http.post("/models/churn/versions", json=twice), 400, "INVALID_ARGUMENT")
        garbage = {"manifest_digest": "not-a-digest", "flavor": "python", "files": []}
        assert "manifest_digest" in error(http.post("/models/churn/versions", json=garbage), 422, "INVALID_ARGUMENT")
        escaping = {**twice, "files": [{"path": "../m.pkl", "digest": good, "size": 1}]}
        assert "files.0.path" in error(http.post("/models/churn/versions", json=escaping), 422, "INVALID_ARGUMENT")
    assert (registry.list_versions("churn"), registry.history("churn")) == before
    assert [m.name for m in registry.list_models()] == ["churn"]
    with open_stores(sdk) as stores:
        assert stores.datasets.list_datasets() == []


def test_the_server_enforces_the_rules_on_raw_store_calls(sdk: str, registry: RegistryService) -> None:
    """A client that skips RegistryService still cannot skip the state machine or approvals."""
    model, X = train()
    with modelyard.start_run():
        modelyard.log_model(model, "churn", input_example=X.head(), actor="ana")
    registry.set_policy("churn-team", actor="lead", required_approvals=2)
    store = registry.store
    with pytest.raises(InvalidArgument, match="illegal transition"):
        store.transition_model_version(
            "churn", 1, from_state=ModelState.DRAFT, to_state=ModelState.PRODUCTION, actor="ana", reason=None, at=1
        )
    modelyard.transition("churn", 1, "staging", actor="ana")
    store.add_model_approval("churn", 1, "rita", comment=None, at=2)
    with pytest.raises(PermissionDenied, match="needs 2 approval"):  # ApprovalRequired, as the wire's 403
        store.transition_model_version(
            "churn", 1, from_state=ModelState.STAGING, to_state=ModelState.PRODUCTION, actor="ana", reason=None, at=3
        )
    with pytest.raises(PermissionDenied, match="cannot approve"):
        store.add_model_approval("churn", 1, "ana", comment=None, at=4)
    assert registry.get_version("churn", 1).state is ModelState.STAGING
    assert [a.approver for a in registry.approvals("churn", 1)] == ["rita"]


# --- auth on ----------------------------------------------------------------------------------


class AuthEnv:
    def __init__(self, url: str, app: Any, tokens: dict[str, str], project_id: str) -> None:
        self.url, self.app, self.tokens, self.project_id = url, app, tokens, project_id
        self.opened: list[Any] = []

    def store(self, who: str) -> Any:
        store = http_store(self.url, token=self.tokens[who])
        self.opened.append(store)
        return store

    def registry(self, who: str) -> RegistryService:
        store = self.store(who)
        return RegistryService(store, store, store.artifact_store())

    def http(self, who: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.url + API, headers=headers)


@pytest.fixture
def auth_env(tmp_path: Path) -> Iterator[AuthEnv]:
    with sqlite_server(tmp_path / "server", auth=True) as (url, app):
        store = Joined(app.state.services.stores)
        project = store.create_project("secure")
        auth = AuthService(store)
        auth.create_user("root", password="root-password", is_admin=True)
        tokens = {}
        for name, role in (("vera", "viewer"), ("ed", "editor"), ("mae", "maintainer")):
            auth.create_user(name, password=f"{name}-password")
            auth.grant_role(name, project.id, role)
        for name in ("root", "vera", "ed", "mae"):
            tokens[name], _ = auth.create_token(name)
        env = AuthEnv(url, app, tokens, project.id)
        yield env
        for opened in env.opened:
            opened.close()


def test_auth_gates_registry_writes_transitions_and_approvals(auth_env: AuthEnv) -> None:
    server_store = Joined(auth_env.app.state.services.stores)
    with auth_env.http() as anonymous:
        body = {"name": "churn", "project_id": auth_env.project_id}
        error(anonymous.post("/models", json=body), 401, "UNAUTHENTICATED")
        error(anonymous.get("/models"), 401, "UNAUTHENTICATED")
    assert server_store.list_registered_models() == []

    ed = auth_env.registry("ed")
    package = store_model(ed.artifacts, train()[0])
    version = ed.register_package("churn", package, actor="somebody-else", project="secure")
    assert version.created_by == "ed"  # the token's user, not the name the client sent

    vera = auth_env.registry("vera")
    assert [v.version for v in vera.list_versions("churn")] == [1]  # viewers read
    with pytest.raises(PermissionDenied, match="needs editor"):
        vera.transition("churn", 1, "staging", actor="vera")
    with auth_env.http("vera") as http:
        refused = http.post("/models/churn/versions/1/transitions", json={"to_state": "staging"})
        assert "needs editor" in error(refused, 403, "PERMISSION_DENIED")
        error(
            http.put("/models/churn/aliases", params={"alias": "champion"}, json={"version": 1}),
            403,
            "PERMISSION_DENIED",
        )
    assert server_store.get_model_version("churn", 1).state is ModelState.DRAFT

    ed.transition("churn", 1, "staging", actor="ed")
    with pytest.raises(PermissionDenied, match="needs maintainer"):
        ed.set_policy("secure", actor="ed", required_approvals=1)  # policies are the maintainers'
    mae = auth_env.registry("mae")
    mae.set_policy("secure", actor="mae", required_approvals=1)
    with pytest.raises(PermissionDenied, match="needs 1 approval"):
        ed.transition("churn", 1, "production", actor="ed")
    with pytest.raises(PermissionDenied, match="needs maintainer"):
        ed.approve("churn", 1, approver="mae")  # an editor cannot approve, not even in another's name
    approval = mae.approve("churn", 1, approver="someone", comment="ok")
    assert approval.approver == "mae"
    promoted = ed.transition("churn", 1, "production", actor="ed")
    assert promoted.state is ModelState.PRODUCTION
    events = server_store.list_model_events("churn", 1)
    assert [(e.kind.value, e.actor) for e in events] == [
        ("registered", "ed"), ("transition", "ed"), ("approved", "mae"), ("transition", "ed"),
    ]  # fmt: skip
    actions = [e.action for e in server_store.list_audit(_audit_query())]
    assert {"create_model", "create_model_version", "transition_model_version", "approve_model_version"} <= set(actions)


def _audit_query() -> Any:
    from modelyard.core.auth import AuditQuery

    return AuditQuery(limit=1000)
