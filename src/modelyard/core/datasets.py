"""Entities of the datasets aggregate: dataset versions, their lineage keys and summaries.

Versions are immutable and numbered 1, 2, 3... per dataset; a version's files and manifest live
in the artifact store, these hold the small facts (digest, counts, sizes, message, source, the
code and params that derived it, parent versions). The store interface is
``modelyard.store.datasets.DatasetStore``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from modelyard.core.base import Entity

DatasetKind = Literal["file", "directory"]


class DatasetVersionKey(Entity):
    """``NAME@vN``: how one version refers to another (lineage parents)."""

    name: str
    version: int

    def __init__(self, name: str, version: int) -> None:
        """Positional too (``DatasetVersionKey("raw", 1)``), as a key is written everywhere."""
        super().__init__(name=name, version=version)  # type: ignore[call-arg]

    def __str__(self) -> str:
        return f"{self.name}@v{self.version}"


class DatasetVersion(Entity):
    name: str
    version: int
    manifest_digest: str  # the artifact-store address of the version's manifest
    kind: DatasetKind  # "file": a one-entry manifest whose entry is the file's name
    file_count: int
    total_size: int
    created_at: int  # ms since the epoch
    message: str | None = None
    source: str | None = None  # the path (or URI) it was added from, for `status` defaults
    code: str | None = None  # what derived it: a script, a commit, a pipeline step
    params: Mapping[str, str] = Field(default_factory=dict)
    parents: tuple[DatasetVersionKey, ...] = ()
    removed_at: int | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "ref": self.ref,
            "digest": self.manifest_digest,
            "kind": self.kind,
            "file_count": self.file_count,
            "total_size": self.total_size,
            "created_at": self.created_at,
            "message": self.message,
            "source": self.source,
            "code": self.code,
            "params": dict(self.params),
            "parents": [str(p) for p in self.parents],
            "removed_at": self.removed_at,
        }


class DatasetSummary(Entity):
    name: str
    created_at: int
    version_count: int  # versions not removed
    latest: DatasetVersion | None  # the newest version not removed


class NewDatasetVersion(Entity):
    """What ``create_dataset_version`` records (the number is allocated by the store)."""

    name: str
    manifest_digest: str
    kind: DatasetKind
    file_count: int
    total_size: int
    message: str | None = None
    source: str | None = None
    code: str | None = None
    params: Mapping[str, str] = Field(default_factory=dict)
    parents: Sequence[DatasetVersionKey] = ()
