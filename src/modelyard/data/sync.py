"""``push`` / ``pull``: copy dataset blobs between the local artifact store and a remote (S3).

The metadata (version numbers, lineage) lives in the metadata store, which a team shares
(PostgreSQL); the bytes live in each machine's local artifact store. A remote is a second
content-addressed store, so syncing is set arithmetic on digests: copy what the other side lacks.
Every copied blob is re-hashed on arrival, and manifests are copied after the files they list,
so a remote manifest never points at a missing file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.artifacts.interfaces import ArtifactStore
from modelyard.core.errors import IntegrityError, InvalidArgument
from modelyard.data.changes import read_manifest_entries
from modelyard.data.service import DatasetService, Progress, _NoProgress

__all__ = ["SyncResult", "pull", "push"]

_WORKERS = 8  # object stores reward concurrency: latency, not bandwidth, bounds small objects


@dataclass(frozen=True)
class SyncResult:
    versions: int
    blobs_copied: int
    bytes_copied: int
    blobs_present: int  # already on the other side

    def as_dict(self) -> dict[str, Any]:
        return {
            "versions": self.versions,
            "blobs_copied": self.blobs_copied,
            "bytes_copied": self.bytes_copied,
            "blobs_present": self.blobs_present,
        }


def _manifests(service: DatasetService, refs: Sequence[str]) -> list[str]:
    if refs:
        return sorted({service.resolve(ref).manifest_digest for ref in refs})
    return service.store.list_dataset_manifest_digests()


def _require_local(service: DatasetService) -> None:
    probe = "sha256:" + "0" * 64
    if service.artifacts.local_blob_path(probe) is None:
        raise InvalidArgument(
            f"the artifact store {service.artifacts.uri} is not local: push/pull sync a local store with a remote"
        )


def push(
    service: DatasetService, remote: ArtifactStore, refs: Sequence[str] = (), *, progress: Progress | None = None
) -> SyncResult:
    """Copy the blobs of ``refs`` (default: every version) that ``remote`` lacks."""
    _require_local(service)
    progress = progress or _NoProgress()
    manifests = _manifests(service, refs)
    files: dict[str, int] = {}
    for digest in manifests:
        for file_digest, size in read_manifest_entries(service.artifacts, digest).values():
            files[file_digest] = size
    missing = _missing(remote, files)
    progress.phase(f"pushing {len(missing):,} of {len(files):,} files", sum(files[d] for d in missing))

    def send(digest: str) -> None:
        path = service._local_blob(digest)
        if path is not None and path.is_file():
            ref = remote.put_file(path)
        else:  # a packed blob (small: packs hold blobs under 1 MB) has no file of its own
            ref = remote.put_bytes(service.artifacts.get_bytes(digest))
        if ref.digest != digest:
            raise IntegrityError(f"local blob {digest} hashes to {ref.digest}: the local store is damaged")
        progress.advance(files[digest])

    _each(send, missing)
    manifest_sizes = {d: 0 for d in manifests}
    missing_manifests = _missing(remote, manifest_sizes)
    for digest in missing_manifests:
        remote.put_bytes(service.artifacts.get_bytes(digest))
    copied = len(missing) + len(missing_manifests)
    total = len(files) + len(manifests)
    return SyncResult(len(manifests), copied, sum(files[d] for d in missing), total - copied)


def pull(
    service: DatasetService, remote: ArtifactStore, refs: Sequence[str] = (), *, progress: Progress | None = None
) -> SyncResult:
    """Copy into the local store the blobs of ``refs`` (default: every version) it lacks."""
    _require_local(service)
    progress = progress or _NoProgress()
    manifests = _manifests(service, refs)
    copied_manifests = 0
    for digest in manifests:
        if not service.artifacts.exists(digest):
            service.artifacts.put_bytes(remote.get_bytes(digest))  # get_bytes verifies the hash
            copied_manifests += 1
    files: dict[str, int] = {}
    for digest in manifests:
        for file_digest, size in read_manifest_entries(service.artifacts, digest).values():
            files[file_digest] = size
    missing = [d for d, size in files.items() if not service._has_blob(d, size)]
    progress.phase(f"pulling {len(missing):,} of {len(files):,} files", sum(files[d] for d in missing))
    staging = Path(tempfile.mkdtemp(dir=service.cache_dir if service.cache_dir.is_dir() else None, prefix="pull-"))
    try:

        def fetch(digest: str) -> None:
            target = staging / digest.replace(":", "-")
            remote.get_file(digest, target)  # verified as it is read
            try:
                ref = service.artifacts.put_file(target)
            finally:
                os.unlink(target)
            if ref.digest != digest:
                raise IntegrityError(f"remote blob {digest} arrived as {ref.digest}")
            progress.advance(files[digest])

        _each(fetch, missing)
    finally:
        for leftover in staging.iterdir():
            leftover.unlink()
        staging.rmdir()
    copied = len(missing) + copied_manifests
    total = len(files) + len(manifests)
    return SyncResult(len(manifests), copied, sum(files[d] for d in missing), total - copied)


def _missing(store: ArtifactStore, digests: dict[str, int]) -> list[str]:
    with ThreadPoolExecutor(_WORKERS, thread_name_prefix="modelyard-sync") as pool:
        present = list(pool.map(store.exists, digests))
    return [d for d, here in zip(digests, present, strict=True) if not here]


def _each(fn: Any, items: Iterable[str]) -> None:
    with ThreadPoolExecutor(_WORKERS, thread_name_prefix="modelyard-sync") as pool:
        list(pool.map(fn, items))
