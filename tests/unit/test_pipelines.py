"""``modelyard.pipelines`` called directly (the CLI end-to-end lives in
tests/integration/test_reproduce.py): what reproduce refuses before it clones anything."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

from modelyard.artifacts import open_artifact_store
from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.pipelines.reproduce import reproduce
from modelyard.registry.service import RegistryService
from modelyard.store import Stores, open_stores


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    opened = open_stores(f"sqlite:///{tmp_path / 'meta.db'}", artifacts=open_artifact_store(str(tmp_path / "a")))
    yield opened
    opened.close()


def _registry(stores: Stores) -> RegistryService:
    return RegistryService(stores.registry, stores.tracking, stores.artifacts)


def test_unknown_reference_and_bad_tolerance_raise(stores: Stores) -> None:
    registry = _registry(stores)
    with pytest.raises(NotFound):
        reproduce("nothing@1", registry=registry, datasets=None, environment={})
    with pytest.raises(InvalidArgument):
        reproduce("nothing@1", registry=registry, datasets=None, environment={}, tolerance=-1)


def test_a_version_logged_outside_a_run_is_refused(stores: Stores, tmp_path: Path) -> None:
    registry = _registry(stores)
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    version = registry.log_model(model, "loose", project="p", actor="ana")
    report = reproduce(f"loose@{version.version}", registry=registry, datasets=None, environment={})
    assert report.status == "refused" and not report.reproduced
    assert "not logged in a run" in report.summary
    assert report.reproduction_ref is None
