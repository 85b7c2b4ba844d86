"""Stores are assembled in one place, and nothing asks a store what it can do.

Code receives the store it needs (a field of ``Stores``) instead of one store it must probe with
``isinstance(store, ModelRegistryStore | DatasetStore | AuthStore)``; and only
``modelyard.store.open_stores`` builds concrete stores (SQL, HTTP), by name, so the SDK, the CLI,
the server and the tests all get the same stores for the same settings.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelyard.core.errors import InvalidArgument, NotServed
from modelyard.store import Stores, open_stores

SRC = Path(__file__).resolve().parents[2] / "src" / "modelyard"
CAPABILITY_CHECK = re.compile(
    r"isinstance\([^)]*\b(?:ModelRegistryStore|DatasetStore|AuthStore|ServingStore|TrackingStore)\b"
)
CONCRETE = re.compile(
    r"\b(?:Sql(?:Tracking|Registry|Dataset|Auth|Serving)Store|SqliteDatabase|PostgresDatabase|"
    r"Http(?:Tracking|Registry|Dataset|Artifact|Serving)Store|SqliteStore|PostgresStore|SqlStore|HttpStore)\("
)


def _sources() -> list[tuple[str, str]]:
    return [(str(p.relative_to(SRC)), p.read_text(encoding="utf-8")) for p in sorted(SRC.rglob("*.py"))]


def test_no_capability_isinstance_in_src() -> None:
    found = [
        f"{name}:{text.count(chr(10), 0, m.start()) + 1}"
        for name, text in _sources()
        for m in CAPABILITY_CHECK.finditer(text)
    ]
    assert found == []


def test_only_open_stores_builds_concrete_stores() -> None:
    found = []
    for name, text in _sources():
        for m in CONCRETE.finditer(text):
            line = text[text.rfind("\n", 0, m.start()) + 1 : text.find("\n", m.start())]
            if line.lstrip().startswith("class ") or 'f"' in line or "__repr__" in line:
                continue  # a definition or its repr, not a construction
            found.append(f"{name}: {line.strip()}")
    assert found == []


def test_the_checks_see_what_they_look_for(tmp_path: Path) -> None:
    """The patterns match the constructs they forbid (a guard against a test that passes vacuously)."""
    assert CAPABILITY_CHECK.search("if not isinstance(store, DatasetStore):")
    assert CONCRETE.search("store = SqlTrackingStore(db)") and CONCRETE.search("HttpStore(url)")


def test_open_stores_builds_every_aggregate_over_one_database(tmp_path: Path) -> None:
    with open_stores(f"sqlite:///{tmp_path / 'm.db'}", artifacts=None) as stores:
        assert isinstance(stores, Stores)
        project = stores.tracking.create_project("p")
        stores.registry.create_registered_model("m", project.id, created_by="ana", at=1)
        assert [m.name for m in stores.registry.list_registered_models()] == ["m"]
        assert stores.datasets.list_datasets() == []
        assert stores.serving.list_deployments() == []
        stores.auth.create_user("ana")
        assert [u.username for u in stores.auth.list_users()] == ["ana"]
        assert stores.tracking.check() == []


def test_a_bad_scheme_is_one_clear_error() -> None:
    with pytest.raises(InvalidArgument, match="unsupported store URI"):
        open_stores("ftp://example/x")


def test_auth_over_http_is_a_clear_error(tmp_path: Path) -> None:
    from tests.fixtures.live_server import sqlite_server

    with sqlite_server(tmp_path / "server") as (url, _app), open_stores(url) as stores:
        assert stores.tracking.list_projects() == []
        with pytest.raises(NotServed, match="needs a direct database URI"):
            stores.auth.list_users()
