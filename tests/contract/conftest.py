"""The ``store`` fixture of the contract suite: one MetadataStore per backend, fresh per test.

To add a backend (the HTTP client next), add its name to BACKENDS and a branch to ``store_uri``
that starts whatever it needs and returns its URI; every contract test then runs against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.store import MetadataStore, open_store

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_uri(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'modelyard.db'}"
    if backend == "postgres":
        return str(request.getfixturevalue("postgres_uri"))
    raise AssertionError(f"unknown backend {backend}")


@pytest.fixture
def store(store_uri: str) -> Iterator[MetadataStore]:
    opened = open_store(store_uri)
    try:
        yield opened
    finally:
        opened.close()
