"""The ``store`` fixture of the contract suite: one MetadataStore per backend, fresh per test.

To add a backend, add its name to BACKENDS and a branch to ``store_uri`` that starts whatever it
needs and returns its URI; every contract test then runs against it. ``http`` is a live server
(uvicorn in a thread, on a free port) over a fresh SQLite store, reached through ``HttpStore``.
``artifacts`` is the artifact store that goes with ``store`` (the server's, for ``http``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.artifacts.interfaces import ArtifactStore
from modelyard.store import MetadataStore, open_store

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
def http_server_uri(tmp_path: Path) -> Iterator[str]:
    from tests.fixtures.live_server import sqlite_server

    with sqlite_server(tmp_path / "server") as (url, _app):
        yield url


@pytest.fixture
def store(store_uri: str) -> Iterator[MetadataStore]:
    opened = open_store(store_uri)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def artifact_root(backend: str, tmp_path: Path) -> Path:
    """The directory that holds the blobs of ``artifacts`` (the server's own for ``http``), for
    tests that damage a blob on disk."""
    return tmp_path / "server" / "artifacts" if backend == "http" else tmp_path / "artifacts"


@pytest.fixture
def artifacts(store: MetadataStore, backend: str, artifact_root: Path) -> ArtifactStore:
    """The artifact store that goes with ``store``: the server's (over the same connections)
    for ``http``, a local content-addressed store otherwise."""
    if backend == "http":
        remote: ArtifactStore = store.artifact_store()  # type: ignore[attr-defined]
        return remote
    from modelyard.artifacts import open_artifact_store

    return open_artifact_store(str(artifact_root))
