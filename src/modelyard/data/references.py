"""What a dataset version points at must be there: the one rule both ways of recording a version
share (``DatasetService.add`` in the SDK and the CLI, ``POST .../versions`` on the server, which a
client that skips the SDK can call with any digest).

Before the version row is written, its manifest must be a stored, valid manifest whose every blob
is stored, and the version's file count and total size must be the manifest's. Otherwise nothing
is recorded and the caller gets ``InvalidArgument`` naming what is missing (a 400 over HTTP).
``modelyard db check --blobs`` applies the same rule to the versions already recorded.
"""

from __future__ import annotations

from collections.abc import Collection

from modelyard.artifacts.interfaces import ArtifactStore
from modelyard.core.datasets import DatasetVersion, NewDatasetVersion
from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.data.changes import read_manifest_entries
from modelyard.store.datasets import DatasetStore

__all__ = ["check_version_references", "record_version"]

#: Missing digests named in one error message at most.
_NAMED = 3


def check_version_references(
    artifacts: ArtifactStore, new: NewDatasetVersion, *, present: Collection[str] = ()
) -> None:
    """Raise ``InvalidArgument`` unless ``new``'s manifest and every blob it lists are stored and
    the counts match. ``present``: digests the caller has just stored or checked (not asked again)."""
    where = f"dataset {new.name!r}"
    if new.manifest_digest in present:
        return  # the caller wrote the manifest from blobs it stored: nothing to ask the store
    try:
        entries = read_manifest_entries(artifacts, new.manifest_digest)
    except NotFound:
        raise InvalidArgument(
            f"{where}: manifest {new.manifest_digest} is not in the artifact store (upload the blobs first)"
        ) from None
    missing = artifacts.missing(d for d, _ in entries.values() if d not in present)
    if missing:
        named = ", ".join(missing[:_NAMED]) + (f" and {len(missing) - _NAMED} more" if len(missing) > _NAMED else "")
        raise InvalidArgument(
            f"{where}: {len(missing)} blob(s) of manifest {new.manifest_digest} are not in the artifact store: {named}"
        )
    total = sum(size for _, size in entries.values())
    if (new.file_count, new.total_size) != (len(entries), total):
        raise InvalidArgument(
            f"{where}: file_count {new.file_count} and total_size {new.total_size} do not match manifest "
            f"{new.manifest_digest} ({len(entries)} files, {total} bytes)"
        )


def record_version(
    store: DatasetStore, artifacts: ArtifactStore, new: NewDatasetVersion, *, present: Collection[str] = ()
) -> DatasetVersion:
    """``check_version_references``, then the version row."""
    check_version_references(artifacts, new, present=present)
    return store.create_dataset_version(new)
