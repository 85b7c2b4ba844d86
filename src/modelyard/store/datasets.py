"""Dataset versions and their lineage: the interface of this aggregate's metadata store.

store/sql/datasets.py implements it (``SqlDatasetStore``); services receive it typed as this ABC.

What the metadata store holds is small facts only: a version's number, the digest of its manifest
(the files themselves and the manifest live in the artifact store), counts, sizes, the message,
where it was added from, and its lineage (parent versions, the code and params that derived it).

Versions are immutable and numbered 1, 2, 3... per dataset. A number is never reused, not even
after ``remove_dataset_version`` (which hides a version but keeps its row, so lineage that points
at it stays resolvable).

The entities are in ``modelyard.core.datasets``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from modelyard.core.datasets import DatasetSummary, DatasetVersion, NewDatasetVersion


class DatasetStore(ABC):
    """Dataset versions and their lineage (ingestion watermarks come with batch ingestion)."""

    @abstractmethod
    def create_dataset_version(self, new: NewDatasetVersion) -> DatasetVersion:
        """Record the next version of ``new.name`` (the dataset is created on its first version).

        Safe under concurrent adders: each gets its own number. Parents must exist (NotFound).
        The caller stores the manifest first: a version row never points at a missing manifest."""

    @abstractmethod
    def get_dataset_version(self, name: str, version: int) -> DatasetVersion:
        """NotFound if there is no such dataset or version, or if the version was removed."""

    @abstractmethod
    def get_latest_dataset_version(self, name: str) -> DatasetVersion:
        """The newest version not removed; NotFound if there is none."""

    @abstractmethod
    def find_dataset_versions(self, name: str, digest_prefix: str) -> list[DatasetVersion]:
        """Versions (not removed) whose manifest digest starts with ``digest_prefix``
        (``sha256:ab12...`` or a bare hex prefix), oldest first."""

    @abstractmethod
    def list_dataset_versions(self, name: str, *, include_removed: bool = False) -> list[DatasetVersion]:
        """Every version of the dataset, oldest first; NotFound if the dataset does not exist."""

    @abstractmethod
    def list_dataset_versions_derived_from(self, name: str, version: int) -> list[DatasetVersion]:
        """The versions that list ``name@v<version>`` among their parents, ordered by dataset
        name then version. Removed versions are included (``removed_at`` says so), because
        lineage keeps pointing at them; an unknown dataset or version derives nothing (empty)."""

    @abstractmethod
    def list_dataset_versions_by_run(self, run_id: str) -> list[DatasetVersion]:
        """The versions added inside run ``run_id`` (their ``code`` is ``run:<run_id>``, what
        ``modelyard.datasets.add`` records in a run), removed ones included, ordered by dataset
        name then version. The run need not exist in this store: versions travel between
        stores (push, pull) without their runs."""

    @abstractmethod
    def list_datasets(self) -> list[DatasetSummary]:
        """Every dataset, ordered by name."""

    @abstractmethod
    def remove_dataset_version(self, name: str, version: int) -> DatasetVersion:
        """Hide a version (its number is never reused, lineage keeps pointing at it). NotFound if
        missing or already removed."""

    @abstractmethod
    def list_dataset_manifest_digests(self, *, include_removed: bool = False) -> list[str]:
        """The manifest digests of every version (for push/pull and garbage collection)."""
