"""The fixtures of the contract suite: every store of one backend, fresh per test, built by
``open_stores`` as the SDK, the CLI and the server build them.

``stores`` is the ``Stores`` bundle; ``tracking_store`` (also ``store``), ``registry_store``,
``dataset_store``, ``feature_store`` and ``auth_store`` its aggregates; ``artifacts`` the artifact store that goes
with them (the server's, for ``http``). To add a backend, add its name to BACKENDS and a branch to
``store_uri`` that starts whatever it needs and returns its URI; every contract test then runs
against it. ``http`` is a live server (uvicorn in a thread, on a free port) over a fresh SQLite
store, reached through the HTTP stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.artifacts.interfaces import ArtifactStore
from modelyard.core.datasets import DatasetVersion, NewDatasetVersion
from modelyard.settings import Settings
from modelyard.store import Stores, TrackingStore, open_stores
from modelyard.store.auth import AuthStore
from modelyard.store.datasets import DatasetStore
from modelyard.store.features import FeatureStore
from modelyard.store.models import ModelRegistryStore
from tests.fixtures.stores import Joined

__all__ = ["Joined", "stores_for"]

BACKENDS = ["sqlite", "postgres", "http"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_uri(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'modelyard.db'}"
    if backend == "postgres":
        return str(request.getfixturevalue("postgres_uri"))
    if backend == "http":
        return str(request.getfixturevalue("http_server_uri"))
    raise AssertionError(f"unknown backend {backend}")


@pytest.fixture
def http_server_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A live server for the store contract. The contract records versions that point at synthetic
    digests (``sha256:aaaa...``, chosen for their prefixes), which a real server refuses because
    no such blob is stored; here the server's blob-reference rule (issue 16: tested by
    tests/integration/test_blob_references.py) is lifted, so that only the store's own semantics
    are under test."""
    from modelyard.server.routers import datasets as datasets_router
    from modelyard.server.routers import models as models_router
    from tests.fixtures.live_server import sqlite_server

    def record_unchecked(store: DatasetStore, _artifacts: ArtifactStore, new: NewDatasetVersion) -> DatasetVersion:
        return store.create_dataset_version(new)

    monkeypatch.setattr(datasets_router, "record_version", record_unchecked)
    monkeypatch.setattr(models_router, "check_package_stored", lambda *_: None)
    with sqlite_server(tmp_path / "server") as (url, _app):
        yield url


def stores_for(store_uri: str, home: Path) -> Stores:
    """``open_stores`` for ``store_uri``, the local artifact store under ``home`` (or, for a
    server URI, the server's own)."""
    return open_stores(Settings(home=home, store_uri=store_uri, artifact_uri=str(home / "artifacts")))


@pytest.fixture
def stores(store_uri: str, tmp_path: Path) -> Iterator[Stores]:
    with stores_for(store_uri, tmp_path) as opened:
        yield opened


@pytest.fixture
def tracking_store(stores: Stores) -> TrackingStore:
    return stores.tracking


@pytest.fixture
def store(tracking_store: TrackingStore) -> TrackingStore:
    """The tracking store (the name the tracking contract tests use)."""
    return tracking_store


@pytest.fixture
def registry_store(stores: Stores) -> ModelRegistryStore:
    return stores.registry


@pytest.fixture
def dataset_store(stores: Stores) -> DatasetStore:
    return stores.datasets


@pytest.fixture
def feature_store(stores: Stores) -> FeatureStore:
    return stores.features


@pytest.fixture
def auth_store(stores: Stores) -> AuthStore:
    return stores.auth


@pytest.fixture
def artifact_root(backend: str, tmp_path: Path) -> Path:
    """The directory that holds the blobs of ``artifacts`` (the server's own for ``http``), for
    tests that damage a blob on disk."""
    return tmp_path / "server" / "artifacts" if backend == "http" else tmp_path / "artifacts"


@pytest.fixture
def artifacts(stores: Stores) -> ArtifactStore:
    """The artifact store that goes with ``stores``: the server's (over the same connections)
    for ``http``, a local content-addressed store otherwise."""
    return stores.artifacts
