"""The SQL registry store refuses a version that lists a file path twice (before touching the
database: a unique-constraint crash would be a 500 through the server), and records nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.core.errors import InvalidArgument
from modelyard.core.registry import ModelFile
from tests.fixtures.stores import joined_store


def test_a_version_listing_a_path_twice_is_refused(tmp_path: Path) -> None:
    store = joined_store(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        project = store.create_project("p")
        store.create_registered_model("m", project.id, created_by="ana", at=1)  # type: ignore[attr-defined]
        digest = "sha256:" + "c" * 64
        twice = [ModelFile(path="model.pkl", digest=digest, size=1)] * 2
        with pytest.raises(InvalidArgument, match="twice"):
            store.create_model_version(  # type: ignore[attr-defined]
                "m", manifest_digest=digest, flavor="python", files=twice, created_by="ana", at=2
            )
        assert store.list_model_versions("m") == []  # type: ignore[attr-defined]
        assert store.get_registered_model("m").latest_version == 0  # type: ignore[attr-defined]
    finally:
        store.close()
