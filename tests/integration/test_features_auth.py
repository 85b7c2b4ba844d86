"""The feature store's read routes with auth on: the online read (which runs in the threadpool
when auth is on) and the quality routes need the viewer role on some project; no token is a 401,
a user with no role anywhere a 403, both with the JSON error body."""

from __future__ import annotations

from pathlib import Path

import httpx

from modelyard.auth import AuthService
from tests.fixtures.live_server import sqlite_server
from tests.fixtures.stores import Joined


def test_feature_reads_need_a_viewer_role(tmp_path: Path) -> None:
    with sqlite_server(tmp_path / "server", auth=True) as (url, app):
        store = Joined(app.state.services.stores)
        project = store.create_project("shared")
        auth = AuthService(store)
        auth.create_user("vera", password="vera-password-1")
        auth.grant_role("vera", project.id, "viewer")
        auth.create_user("nora", password="nora-password-1")  # no role anywhere
        tokens = {name: auth.create_token(name)[0] for name in ("vera", "nora")}
        online = ("POST", "/api/v1/features/online", {"features": ["v:f"], "entities": [{"k": 1}]})
        profile = ("GET", "/api/v1/features/views/v/versions/1/profile", None)
        drift = ("GET", "/api/v1/features/views/v/versions/1/drift", None)
        for method, path, body in (online, profile, drift):
            anonymous = httpx.request(method, url + path, json=body)
            assert anonymous.status_code == 401, (path, anonymous.text)
            nora = httpx.request(method, url + path, json=body, headers={"Authorization": f"Bearer {tokens['nora']}"})
            assert nora.status_code == 403 and nora.json()["error"]["code"] == "PERMISSION_DENIED", nora.text
            vera = httpx.request(method, url + path, json=body, headers={"Authorization": f"Bearer {tokens['vera']}"})
            # allowed: past the authorisation, the view does not exist
            assert vera.status_code in (400, 404) and "error" in vera.json(), (path, vera.text)
