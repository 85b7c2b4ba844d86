"""The deployment management API with auth on: reading needs a role somewhere, changing a
deployment needs the editor role on the project of every model it names (before and after); the
server records the authenticated user and its own clock, and audits every change; refused
requests change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.auth import AuthService
from modelyard.core.auth import AuditQuery
from modelyard.core.errors import PermissionDenied
from modelyard.core.registry import ModelFile
from modelyard.core.serving import Feedback, PredictionLogPartition
from modelyard.registry.service import RegistryService
from modelyard.serving.deployments import DeploymentService
from tests.fixtures.live_server import sqlite_server
from tests.fixtures.stores import Joined, http_store

T0 = 1_700_000_000_000


@dataclass
class Secured:
    url: str
    tokens: dict[str, str]
    app: Any

    def service(self, who: str) -> tuple[Any, DeploymentService]:
        joined = http_store(self.url, token=self.tokens[who])
        stores = joined.stores
        registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
        return joined, DeploymentService(stores.serving, registry, clock=lambda: 5)


def _register(store: Any, name: str, project_id: str, fill: str) -> None:
    store.create_registered_model(name, project_id, created_by="ana", at=T0)
    for i in range(2):
        digest = "sha256:" + chr(ord(fill) + i) * 64
        store.create_model_version(
            name, manifest_digest=digest, flavor="python", created_by="ana", at=T0,
            files=[ModelFile(path="m.pkl", digest=digest, size=1)],
        )  # fmt: skip


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Secured]:
    with sqlite_server(tmp_path / "server", auth=True) as (url, app):
        store = Joined(app.state.services.stores)
        shared, secret = store.create_project("shared"), store.create_project("secret")
        _register(store, "shared-model", shared.id, "a")
        _register(store, "secret-model", secret.id, "c")
        auth = AuthService(store)
        auth.create_user("root", password="root-password-1", is_admin=True)
        auth.create_user("ed", password="ed-password-1")
        auth.grant_role("ed", shared.id, "editor")
        auth.create_user("vera", password="vera-password-1")
        auth.grant_role("vera", shared.id, "viewer")
        auth.create_user("nora", password="nora-password-1")  # no role anywhere
        tokens = {name: auth.create_token(name)[0] for name in ("root", "ed", "vera", "nora")}
        yield Secured(url, tokens, app)


def test_roles_decide_who_reads_and_changes_deployments(secured: Secured) -> None:
    server = secured.app.state.services.stores
    joined, ed = secured.service("ed")
    with joined:
        created = ed.create("api", ["main=shared-model@1"], actor="mallory", reason="go")
        assert created.created_by == "ed" and created.created_at != 5  # the server's user and clock
        ed.update("api", variants=["main=shared-model@1:90", "canary=shared-model@2:10"], actor="mallory")
        with pytest.raises(PermissionDenied):  # no role on the secret model's project
            ed.update("api", variants=["main=secret-model@1"], actor="ed")
        with pytest.raises(PermissionDenied):
            ed.create("other", ["secret-model@1"], actor="ed")
        back = ed.rollback("api", actor="ed", reason="bad canary")
        assert back.revision == 3
    joined, vera = secured.service("vera")
    with joined:
        assert vera.get("api").revision == 3 and [d.name for d in vera.list_deployments()] == ["api"]
        assert [e.actor for e in vera.history("api")] == ["ed", "ed", "ed"]
        for change in (
            lambda: vera.update("api", traffic={"main": 100}, actor="vera"),
            lambda: vera.rollback("api", actor="vera", to_revision=2),
            lambda: vera.delete("api", actor="vera"),
            lambda: vera.create("mine", ["shared-model@1"], actor="vera"),
        ):
            with pytest.raises(PermissionDenied):
                change()
    joined, nora = secured.service("nora")
    with joined:
        with pytest.raises(PermissionDenied):
            nora.get("api")
        with pytest.raises(PermissionDenied):
            joined.stores.serving.record_feedback([Feedback(request_id="r", value=1, at=1)])
        with pytest.raises(PermissionDenied):
            joined.stores.serving.add_prediction_partition(
                PredictionLogPartition(id="p", endpoint="api", start_ms=1, end_ms=2, row_count=1,
                                       digest="sha256:" + "0" * 64, size=1, created_at=1), ["r"],
            )  # fmt: skip
    rollback = f"{secured.url}/api/v1/deployments/api/rollback"
    refused = httpx.post(
        rollback, json={"to_revision": 2}, headers={"Authorization": f"Bearer {secured.tokens['vera']}"}
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "PERMISSION_DENIED"
    assert server.serving.get_deployment("api").revision == 3  # refused requests changed nothing
    done = httpx.post(
        rollback, json={"to_revision": 2, "reason": "button", "actor": "mallory"},
        headers={"Authorization": f"Bearer {secured.tokens['ed']}"},
    )  # fmt: skip
    assert done.status_code == 200 and done.json()["revision"] == 4 and done.json()["updated_by"] == "ed"
    assert server.serving.list_prediction_partitions("api", 0, 2**62) == []
    assert httpx.get(f"{secured.url}/api/v1/deployments").status_code == 401
    entries = server.auth.list_audit(AuditQuery(object_type="deployment"))
    assert sorted((e.action, e.actor) for e in entries) == [
        ("create_deployment", "ed"), ("rollback_deployment", "ed"), ("rollback_deployment", "ed"),
        ("update_deployment", "ed"),
    ]  # fmt: skip
    assert all(e.object_id == "api" for e in entries)
    assert {e.details["reason"] for e in entries if e.action == "rollback_deployment"} == {"bad canary", "button"}


def test_log_maintenance_through_the_server_needs_the_editor_role_and_is_audited(secured: Secured) -> None:
    from modelyard.client.serving import RemoteLogMaintainer
    from modelyard.core.serving import DeploymentSpec, VariantSpec

    server = secured.app.state.services.stores
    spec = DeploymentSpec(variants=(VariantSpec(name="main", model="shared-model", ref="1", version=1, traffic=100),))
    server.serving.create_deployment("api", spec, actor="root", at=T0)
    blob = server.artifacts.put_bytes(b"old log")
    old = PredictionLogPartition(id="p1", endpoint="api", start_ms=1, end_ms=2, row_count=1, digest=blob.digest,
                                 size=blob.size, created_at=3)  # fmt: skip
    server.serving.add_prediction_partition(old, ["r1"])
    for who in ("vera", "nora"):  # a viewer, no role: refused, nothing deleted
        joined = http_store(secured.url, token=secured.tokens[who])
        with joined, pytest.raises(PermissionDenied):
            RemoteLogMaintainer(joined.stores.serving).prune("api", before_ms=10)
    assert server.serving.list_prediction_partitions("api", 0, 10) == [old]
    joined = http_store(secured.url, token=secured.tokens["ed"])
    with joined:
        assert RemoteLogMaintainer(joined.stores.serving).prune("api", before_ms=10).pruned == 1
        with pytest.raises(PermissionDenied):  # a log of no deployment: the admin role
            RemoteLogMaintainer(joined.stores.serving).prune("elsewhere", before_ms=10)
    assert server.serving.list_prediction_partitions("api", 0, 10) == [] and not server.artifacts.exists(blob.digest)
    (entry,) = [e for e in server.auth.list_audit(AuditQuery(limit=1000)) if e.action == "prune_prediction_log"]
    assert entry.actor == "ed" and entry.object_id == "api" and entry.details["pruned"] == 1
