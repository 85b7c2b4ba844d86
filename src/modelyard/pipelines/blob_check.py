"""``modelyard db check --blobs``: every blob the metadata store references is in the artifact store
(and, with ``hashes``, still hashes to its address).

The metadata store's own checks (``Stores.tracking.check()``) look at rows; this one looks across
the two stores, through their interfaces only, so it works the same on SQLite, PostgreSQL and a
server. What references blobs:

- dataset versions (not removed): the manifest, and every file the manifest lists;
- model versions (not purged): the package manifest and every file of the package;
- runs (active and deleted, of every project): every logged artifact;
- prediction logs (every endpoint with one, deleted deployments' too): every partition's Parquet
  file (the serving store's ``prediction_partitions`` index).

Reading a manifest verifies its hash on the way; a manifest that cannot be read (missing, corrupt,
not a manifest) is a problem, and its files cannot be listed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from modelyard.core.errors import IntegrityError, InvalidArgument, NotFound
from modelyard.core.tracking import RunQuery
from modelyard.core.validation import INT64_MAX
from modelyard.data.changes import read_manifest_entries
from modelyard.store.bundle import Stores

__all__ = ["BlobReport", "Progress", "check_blobs", "referenced_blobs"]

_PAGE = 1000


class Progress(Protocol):
    """What long work reports to (the CLI draws it with rich; ``phase`` starts a new bar)."""

    def phase(self, description: str, total: int | None) -> None: ...
    def advance(self, amount: int) -> None: ...


class _NoProgress:
    def phase(self, description: str, total: int | None) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass


@dataclass
class BlobReport:
    """What ``check_blobs`` found: how many blobs it checked and the problems, one line each."""

    checked: int = 0
    hashed: int = 0
    problems: list[str] = field(default_factory=list)


def referenced_blobs(stores: Stores, problems: list[str] | None = None) -> dict[str, str]:
    """Every referenced digest -> the first thing found referencing it (for the report). A manifest
    that cannot be read is added to ``problems`` (its files cannot be listed)."""
    refs: dict[str, str] = {}
    problems = [] if problems is None else problems

    def add(digest: str, what: str) -> None:
        refs.setdefault(digest, what)

    for summary in stores.datasets.list_datasets():
        for version in stores.datasets.list_dataset_versions(summary.name):
            what = f"dataset {version.name}@v{version.version}"
            add(version.manifest_digest, f"{what} (manifest)")
            try:
                entries = read_manifest_entries(stores.artifacts, version.manifest_digest)
            except NotFound:
                continue  # reported as a missing blob
            except (IntegrityError, InvalidArgument) as exc:
                problems.append(f"unreadable manifest {version.manifest_digest} of {what}: {exc}")
                continue
            for path, (digest, _size) in entries.items():
                add(digest, f"{what} (file {path})")
    for model in stores.registry.list_registered_models():
        for model_version in stores.registry.list_model_versions(model.name):
            if model_version.purged_at is not None:
                continue  # its blobs were deleted on purpose
            what = f"model {model_version.model_name}@{model_version.version}"
            add(model_version.manifest_digest, f"{what} (package manifest)")
            for file in stores.registry.list_model_files(model_version.model_name, model_version.version):
                add(file.digest, f"{what} (file {file.path})")
    projects = stores.tracking.list_projects(include_deleted=True)
    for project in projects:
        token: str | None = None
        while True:
            page = stores.tracking.search_runs(
                RunQuery(
                    project_ids=[project.id],
                    max_results=_PAGE,
                    page_token=token,
                    lifecycle=None,
                    include_metrics=False,
                    include_params=False,
                    include_tags=False,
                )
            )
            for run in page.runs:
                for artifact in stores.tracking.list_artifacts(run.id):
                    add(artifact.digest, f"run {run.id} (artifact {artifact.path})")
            token = page.next_page_token
            if not token:
                break
    for endpoint in stores.serving.list_prediction_log_endpoints():
        for partition in stores.serving.list_prediction_partitions(endpoint, 0, INT64_MAX):
            add(partition.digest, f"prediction log of {endpoint} (partition {partition.id})")
    return refs


def check_blobs(stores: Stores, *, hashes: bool = False, progress: Progress | None = None) -> BlobReport:
    """Check that every referenced blob exists; with ``hashes``, re-hash each one as well."""
    progress = progress or _NoProgress()
    report = BlobReport()
    progress.phase("listing referenced blobs", None)
    refs = referenced_blobs(stores, report.problems)
    report.checked = len(refs)
    progress.phase(f"looking up {len(refs):,} blobs", len(refs))
    missing = set(stores.artifacts.missing(refs))
    progress.advance(len(refs))
    for digest in sorted(missing, key=lambda d: refs[d]):
        report.problems.append(f"missing blob {digest}, referenced by {refs[digest]}")
    if hashes:
        present = [d for d in refs if d not in missing]
        progress.phase(f"re-hashing {len(present):,} blobs", len(present))
        for digest in present:
            report.hashed += 1
            if not _verified(stores.artifacts.verify, digest):
                report.problems.append(
                    f"corrupt blob {digest} (its bytes no longer hash to it), referenced by {refs[digest]}"
                )
            progress.advance(1)
    return report


def _verified(verify: Callable[[str], bool], digest: str) -> bool:
    try:
        return verify(digest)
    except NotFound:  # deleted between the lookup and the re-hash
        return False
