"""The lineage graph's reverse lookups through a server with auth on: results are filtered on the
server, so a viewer of one project never learns of the runs or models of another, not through
the REST routes, not through a lineage graph built over ``Any``, not on the run page.
Datasets follow the dataset rule (viewer on some project)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.auth import AuthService
from modelyard.core.datasets import DatasetVersionKey, NewDatasetVersion
from modelyard.core.errors import PermissionDenied
from modelyard.core.registry import ModelFile
from modelyard.core.tracking import RunInput, RunLink
from modelyard.lineage import LineageBuilder
from tests.fixtures.live_server import sqlite_server
from tests.fixtures.stores import Joined, http_store

T0 = 1_700_000_000_000


@dataclass
class Secured:
    url: str
    tokens: dict[str, str]
    ids: dict[str, str]

    def store(self, who: str) -> Any:
        return http_store(self.url, token=self.tokens[who])


def _register(store: Any, name: str, project_id: str, run_id: str, fill: str) -> None:
    store.create_registered_model(name, project_id, created_by="ana", at=T0)
    digest = "sha256:" + fill * 64
    store.create_model_version(
        name,
        manifest_digest=digest,
        flavor="python",
        created_by="ana",
        at=T0,
        files=[ModelFile(path="m.pkl", digest=digest, size=1)],
        run_id=run_id,
    )


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Secured]:
    with sqlite_server(tmp_path / "server", auth=True) as (url, app):
        store = Joined(app.state.services.stores)
        shared, secret = store.create_project("shared"), store.create_project("secret")
        store.create_dataset_version(
            NewDatasetVersion(name="raw", manifest_digest="sha256:" + "1" * 64, kind="file", file_count=1, total_size=1)
        )
        parent = store.create_run(shared.id, name="parent", start_time=T0)
        reader = store.create_run(shared.id, name="reader", start_time=T0 + 1, parent_run_id=parent.id)
        hidden = store.create_run(secret.id, name="hidden", start_time=T0 + 2, parent_run_id=parent.id)
        for run in (reader, hidden):
            store.log_inputs(run.id, [RunInput(name="raw", version="v1", context="training")])
        _register(store, "shared-model", shared.id, reader.id, "a")
        _register(store, "secret-model", secret.id, reader.id, "b")  # registered from a shared run
        for run in (reader, hidden):
            store.log_model_use(run.id, "shared-model", 1, "scoring")
        store.create_dataset_version(
            NewDatasetVersion(
                name="clean",
                manifest_digest="sha256:" + "2" * 64,
                kind="file",
                file_count=1,
                total_size=1,
                code=f"run:{hidden.id}",
                parents=[DatasetVersionKey("raw", 1)],
            )
        )
        auth = AuthService(store)
        auth.create_user("root", password="root-password-1", is_admin=True)
        auth.create_user("vera", password="vera-password-1")
        auth.grant_role("vera", shared.id, "viewer")
        auth.create_user("nora", password="nora-password-1")  # no role anywhere
        tokens = {name: auth.create_token(name)[0] for name in ("root", "vera", "nora")}
        ids = {"shared": shared.id, "parent": parent.id, "reader": reader.id, "hidden": hidden.id}
        yield Secured(url, tokens, ids)


def test_a_viewer_gets_only_the_runs_and_models_of_their_projects(secured: Secured) -> None:
    ids = secured.ids
    with secured.store("vera") as vera, secured.store("root") as root:
        assert vera.find_runs_by_input("raw", 1) == [RunLink(ids["reader"], ids["shared"], "training")]
        assert len(root.find_runs_by_input("raw", 1)) == 2
        assert vera.find_runs_using_model("shared-model", 1) == [RunLink(ids["reader"], ids["shared"], "scoring")]
        assert [link.run_id for link in root.find_runs_using_model("shared-model", 1)] == [ids["hidden"], ids["reader"]]
        with pytest.raises(PermissionDenied):  # a viewer records nothing
            vera.log_model_use(ids["reader"], "shared-model", 1, "evaluation")
        assert [link.run_id for link in vera.list_child_runs(ids["parent"])] == [ids["reader"]]
        everything = [ids["hidden"], ids["reader"]]  # projects by name: "secret" before "shared"
        assert [link.run_id for link in root.list_child_runs(ids["parent"])] == everything
        assert [v.model_name for v in vera.list_model_versions_by_run(ids["reader"])] == ["shared-model"]
        names = [v.model_name for v in root.list_model_versions_by_run(ids["reader"])]
        assert names == ["secret-model", "shared-model"]
        for call in (vera.list_child_runs, vera.list_model_versions_by_run):
            with pytest.raises(PermissionDenied):
                call(ids["hidden"])
        # datasets belong to no project: the dataset rule, which any viewer passes
        assert [v.ref for v in vera.list_dataset_versions_by_run(ids["hidden"])] == ["clean@v1"]
        assert [v.ref for v in vera.list_dataset_versions_derived_from("raw", 1)] == ["clean@v1"]

        builder = LineageBuilder(vera, datasets=vera, registry=vera)
        graph = builder.build("raw@v1", kind="dataset", direction="downstream")
        assert set(graph.nodes) == {
            "dataset:raw@v1",
            "dataset:clean@v1",
            f"run:{ids['reader']}",
            "model:shared-model@1",
        }
        as_root = LineageBuilder(root, datasets=root, registry=root)
        assert set(as_root.build("raw@v1", kind="dataset", direction="downstream").nodes) > {
            f"run:{ids['hidden']}",
            "model:secret-model@1",
        }

    with secured.store("nora") as nora:
        assert nora.find_runs_by_input("raw", 1) == []  # nothing readable: nothing listed
        assert nora.find_runs_using_model("shared-model", 1) == []
        with pytest.raises(PermissionDenied):
            nora.list_child_runs(ids["parent"])


def test_the_run_page_lists_only_readable_models(secured: Secured) -> None:
    with httpx.Client(base_url=secured.url) as client:
        login = client.post("/api/v1/auth/login", json={"username": "vera", "password": "vera-password-1"})
        assert login.status_code == 200, login.text
        page = client.get(f"/ui/runs/{secured.ids['reader']}")
        assert page.status_code == 200
        assert "shared-model" in page.text and "secret-model" not in page.text
