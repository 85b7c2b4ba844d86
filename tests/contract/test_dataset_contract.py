"""The DatasetStore contract: every backend (SQLite, PostgreSQL, the HTTP client) passes it.

Two layers: the dataset service's own checks (``tests/unit/test_data_versioning.py``), imported
here so they run over the contract ``store`` and ``artifacts`` fixtures and so over HTTP too
(files go to the server as blobs), and checks of the store methods themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.artifacts.interfaces import ArtifactStore
from modelyard.core.datasets import DatasetVersion, DatasetVersionKey, NewDatasetVersion
from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.data import DatasetService
from modelyard.store.datasets import DatasetStore
from tests.unit.test_data_versioning import (
    test_add_directory_versions_and_dedup as _add_directory_versions_and_dedup,
)

# The dataset service's checks, run here against every contract backend (the ``service``
# fixture below replaces the one of their home module).
from tests.unit.test_data_versioning import (  # noqa: F401 - collected as tests of this module
    test_add_single_file_is_a_one_entry_manifest,
    test_an_ambiguous_hash_prefix_is_an_error,
    test_an_interrupted_add_leaves_no_visible_version,
    test_bad_input_changes_nothing,
    test_checkout_writes_verified_files_and_clean_removes_extras,
    test_concurrent_adders_get_distinct_numbers,
    test_diff_shows_added_removed_modified_with_sizes,
    test_lineage_records_parents_code_and_params,
    test_racy_files_are_rehashed,
    test_remove_hides_a_version_and_never_reuses_its_number,
    test_status_of_a_file_dataset,
    test_status_uses_the_stat_cache_and_sees_same_size_edits,
    test_tree_snapshot_short_circuits_status_and_never_hides_a_change,
)


@pytest.fixture
def service(dataset_store: DatasetStore, artifacts: ArtifactStore, tmp_path: Path) -> Iterator[DatasetService]:
    svc = DatasetService(dataset_store, artifacts, tmp_path / "cache")
    yield svc
    svc.close()


@pytest.fixture
def datasets(dataset_store: DatasetStore) -> DatasetStore:
    return dataset_store


def digest(fill: str) -> str:
    return "sha256:" + fill * 64


def add(datasets: DatasetStore, name: str, fill: str, **kw: object) -> DatasetVersion:
    return datasets.create_dataset_version(
        NewDatasetVersion(name=name, manifest_digest=digest(fill), kind="directory", file_count=2, total_size=30, **kw)  # type: ignore[arg-type]
    )


def test_add_directory_versions_and_dedup(service: DatasetService, tmp_path: Path, backend: str) -> None:
    if backend == "http":
        pytest.skip("counts blobs by listing the artifact store, which only the server may do")
    _add_directory_versions_and_dedup(service, tmp_path)


def test_versions_are_numbered_and_read_back(datasets: DatasetStore) -> None:
    first = add(datasets, "raw/events", "a", message="m", source="/data/raw", code="ingest.py", params={"n": "1"})
    assert (first.name, first.version, first.kind, first.file_count, first.total_size) == (
        "raw/events", 1, "directory", 2, 30,
    )  # fmt: skip
    assert (first.message, first.source, first.code, dict(first.params), first.removed_at) == (
        "m", "/data/raw", "ingest.py", {"n": "1"}, None,
    )  # fmt: skip
    assert first.created_at > 0 and first.ref == "raw/events@v1"
    second = add(datasets, "raw/events", "b")
    assert second.version == 2
    assert datasets.get_dataset_version("raw/events", 1) == first
    assert datasets.get_latest_dataset_version("raw/events") == second
    assert datasets.list_dataset_versions("raw/events") == [first, second]
    single = datasets.create_dataset_version(
        NewDatasetVersion(name="one", manifest_digest=digest("c"), kind="file", file_count=1, total_size=0)
    )
    assert single.kind == "file" and single.total_size == 0


def test_lineage_parents_are_a_set_and_must_exist(datasets: DatasetStore) -> None:
    add(datasets, "raw", "a")
    add(datasets, "other", "b")
    parents = [DatasetVersionKey("raw", 1), DatasetVersionKey("other", 1), DatasetVersionKey("raw", 1)]
    child = add(datasets, "clean", "c", parents=parents, params={"dropna": "True"})
    assert child.parents == (DatasetVersionKey("other", 1), DatasetVersionKey("raw", 1))
    assert datasets.get_dataset_version("clean", 1).parents == child.parents
    with pytest.raises(NotFound, match="raw@v9"):
        add(datasets, "clean", "d", parents=[DatasetVersionKey("raw", 9)])
    with pytest.raises(NotFound):
        add(datasets, "clean", "d", parents=[DatasetVersionKey("ghost", 1)])
    assert [v.version for v in datasets.list_dataset_versions("clean")] == [1]  # the refusals added nothing


def test_find_by_digest_prefix(datasets: DatasetStore) -> None:
    add(datasets, "ds", "a")
    add(datasets, "ds", "b")
    add(datasets, "ds", "a")  # same content again: a new number, the same digest
    assert [v.version for v in datasets.find_dataset_versions("ds", "aaaa")] == [1, 3]
    assert [v.version for v in datasets.find_dataset_versions("ds", "sha256:bbbbbb")] == [2]
    assert datasets.find_dataset_versions("ds", "abcd") == []
    datasets.remove_dataset_version("ds", 3)
    assert [v.version for v in datasets.find_dataset_versions("ds", "aaaa")] == [1]
    for bad in ("ab", "zzzz", "md5:aaaa", "aaaa%"):
        with pytest.raises(InvalidArgument, match="prefix"):  # over HTTP, the schema's pattern refuses it
            datasets.find_dataset_versions("ds", bad)
    with pytest.raises(NotFound):
        datasets.find_dataset_versions("nope", "aaaa")


def test_removal_hides_and_never_reuses_numbers(datasets: DatasetStore) -> None:
    add(datasets, "ds", "a")
    add(datasets, "ds", "b")
    removed = datasets.remove_dataset_version("ds", 2)
    assert removed.version == 2 and removed.removed_at is not None
    with pytest.raises(NotFound, match="removed"):
        datasets.get_dataset_version("ds", 2)
    with pytest.raises(NotFound):
        datasets.remove_dataset_version("ds", 2)
    assert datasets.get_latest_dataset_version("ds").version == 1
    assert [v.version for v in datasets.list_dataset_versions("ds")] == [1]
    assert [v.version for v in datasets.list_dataset_versions("ds", include_removed=True)] == [1, 2]
    assert add(datasets, "ds", "c").version == 3
    datasets.remove_dataset_version("ds", 1)
    datasets.remove_dataset_version("ds", 3)
    with pytest.raises(NotFound, match="no versions"):
        datasets.get_latest_dataset_version("ds")


def test_catalogue_listing_and_manifest_digests(datasets: DatasetStore) -> None:
    assert datasets.list_datasets() == [] and datasets.list_dataset_manifest_digests() == []
    add(datasets, "b", "1")
    add(datasets, "b", "2")
    add(datasets, "a/nested", "3")
    datasets.remove_dataset_version("b", 2)
    summaries = datasets.list_datasets()
    assert [(s.name, s.version_count) for s in summaries] == [("a/nested", 1), ("b", 1)]
    latest = summaries[1].latest
    assert latest is not None and latest == datasets.get_dataset_version("b", 1)
    assert summaries[0].created_at > 0
    assert datasets.list_dataset_manifest_digests() == [digest("1"), digest("3")]
    assert datasets.list_dataset_manifest_digests(include_removed=True) == [digest("1"), digest("2"), digest("3")]


def test_unknown_datasets_and_bad_input_change_nothing(datasets: DatasetStore) -> None:
    for read in (
        lambda: datasets.get_dataset_version("nope", 1),
        lambda: datasets.get_latest_dataset_version("nope"),
        lambda: datasets.list_dataset_versions("nope"),
        lambda: datasets.remove_dataset_version("nope", 1),
    ):
        with pytest.raises(NotFound):
            read()
    add(datasets, "ds", "a")
    with pytest.raises(NotFound):
        datasets.get_dataset_version("ds", 2)
    bad_versions = [
        # The entity refuses an unknown kind itself; the store must too (model_construct skips the check).
        NewDatasetVersion.model_construct(
            name="ds",
            manifest_digest=digest("b"),
            kind="folder",
            file_count=1,
            total_size=1,
            message=None,
            source=None,
            code=None,
            params={},
            parents=(),
        ),
        NewDatasetVersion(name="ds", manifest_digest=digest("b"), kind="file", file_count=-1, total_size=1),
        NewDatasetVersion(name="", manifest_digest=digest("b"), kind="file", file_count=1, total_size=1),
    ]
    for bad in bad_versions:
        with pytest.raises(InvalidArgument):
            datasets.create_dataset_version(bad)
    assert [v.version for v in datasets.list_dataset_versions("ds", include_removed=True)] == [1]
    assert [s.name for s in datasets.list_datasets()] == ["ds"]
