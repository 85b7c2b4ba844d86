"""The artifact store interface.

Blobs are addressed by the hash of their bytes (see docs/architecture.md for which hash and why).
A directory is stored as its files' blobs plus a manifest blob (JSON: relative path -> digest,
size) whose own digest addresses the directory. Reads verify the hash before returning bytes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO


@dataclass(frozen=True)
class BlobRef:
    digest: str  # "<algorithm>:<hex>", e.g. "sha256:ab12..."
    size: int


@dataclass(frozen=True)
class ManifestEntry:
    path: str  # relative, POSIX separators, validated by artifacts.paths.safe_relpath
    digest: str
    size: int


@dataclass(frozen=True)
class Manifest:
    entries: tuple[ManifestEntry, ...] = field(default_factory=tuple)
    digest: str | None = None  # the manifest blob's own address once stored

    @property
    def total_size(self) -> int:
        return sum(e.size for e in self.entries)


class ArtifactStore(ABC):
    uri: str

    @abstractmethod
    def put_bytes(self, data: bytes) -> BlobRef:
        """Store bytes; storing the same bytes twice stores them once."""

    @abstractmethod
    def put_file(self, path: str | Path) -> BlobRef:
        """Stream a local file into the store (atomic: a crash leaves no partial blob visible)."""

    def put_directory(self, path: str | Path) -> Manifest:
        """Store every file under ``path`` (in parallel: hashing releases the GIL) and a manifest of
        them; returns the manifest with its digest. One definition for every store."""
        from concurrent.futures import ThreadPoolExecutor

        from modelyard.artifacts.manifest import build_manifest, manifest_to_bytes
        from modelyard.artifacts.paths import collect_files

        files = collect_files(Path(path))
        workers = getattr(self, "_max_workers", None)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="modelyard-put") as pool:
            refs = list(pool.map(lambda item: self.put_file(item[1]), files))
        entries = [
            ManifestEntry(path=name, digest=ref.digest, size=ref.size)
            for (name, _), ref in zip(files, refs, strict=True)
        ]
        manifest = build_manifest(entries)
        ref = self.put_bytes(manifest_to_bytes(manifest))
        return Manifest(entries=manifest.entries, digest=ref.digest)

    @abstractmethod
    def exists(self, digest: str) -> bool: ...

    @abstractmethod
    def get_bytes(self, digest: str) -> bytes:
        """The blob's bytes, verified against the digest (IntegrityError on mismatch, NotFound if missing)."""

    @abstractmethod
    def open(self, digest: str) -> BinaryIO:
        """A stream over the blob; the hash is checked as it is read and IntegrityError raised at EOF
        if it does not match."""

    @abstractmethod
    def get_file(self, digest: str, dest: str | Path) -> Path:
        """Write the verified blob to ``dest`` atomically."""

    @abstractmethod
    def get_manifest(self, digest: str) -> Manifest: ...

    @abstractmethod
    def get_directory(self, manifest_digest: str, dest: str | Path) -> Path:
        """Materialise a stored directory under ``dest`` (every file verified)."""

    @abstractmethod
    def iter_digests(self) -> Iterator[str]:
        """Every blob address in the store (for integrity checks and garbage collection)."""

    @abstractmethod
    def verify(self, digest: str) -> bool:
        """Re-hash a stored blob; False if it is corrupt."""

    @abstractmethod
    def delete(self, digest: str) -> None:
        """Remove a blob (retention policies; never called for referenced blobs)."""
