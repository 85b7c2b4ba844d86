"""The artifact store interface, and the one implementation of reads every store shares.

Blobs are addressed by the hash of their bytes (see docs/architecture.md for which hash and why).
A directory is stored as its files' blobs plus a manifest blob (JSON: relative path -> digest,
size) whose own digest addresses the directory. Reads verify the hash before returning bytes.

A store implements the primitives (``put_bytes``, ``put_file``, ``exists``, ``open`` — a stream
verified as it is read —, ``iter_digests``, ``delete``). Everything else has one definition here,
built on them: ``get_file``/``get_directory``/``get_manifest``/``get_bytes``/``verify`` for the
local, S3 and HTTP stores alike, and the optional features with their defaults (``algorithm``,
``put_files``, ``local_blob_path``), which callers use without asking whether a store has them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from modelyard.artifacts.paths import materialise_targets, parse_digest
from modelyard.core.errors import IntegrityError


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
    #: The hash new blobs are addressed with (readers accept any algorithm a digest names).
    algorithm: str = "sha256"
    #: Threads for batch reads and writes (None: the executor's default).
    max_workers: int | None = None

    # -- writes ----------------------------------------------------------------------------------

    @abstractmethod
    def put_bytes(self, data: bytes) -> BlobRef:
        """Store bytes; storing the same bytes twice stores them once."""

    @abstractmethod
    def put_file(self, path: str | Path) -> BlobRef:
        """Stream a local file into the store (atomic: a crash leaves no partial blob visible)."""

    def put_files(self, paths: Sequence[str | Path], *, durable: bool | None = None) -> list[BlobRef]:
        """Store many files; refs in the order of ``paths``. Default: ``put_file`` in a thread pool
        (hashing releases the GIL). A store may do a batch better (the local store packs small
        files and, when ``durable`` — default: its own setting —, syncs once per batch)."""
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="modelyard-put") as pool:
            return list(pool.map(self.put_file, paths))

    def put_directory(self, path: str | Path) -> Manifest:
        """Store every file under ``path`` (one ``put_files`` batch) and a manifest of them;
        returns the manifest with its digest. One definition for every store."""
        from modelyard.artifacts.manifest import build_manifest, manifest_to_bytes
        from modelyard.artifacts.paths import collect_files

        files = collect_files(Path(path))
        refs = self.put_files([source for _, source in files])
        entries = [
            ManifestEntry(path=name, digest=ref.digest, size=ref.size)
            for (name, _), ref in zip(files, refs, strict=True)
        ]
        manifest = build_manifest(entries)
        ref = self.put_bytes(manifest_to_bytes(manifest))
        return Manifest(entries=manifest.entries, digest=ref.digest)

    @abstractmethod
    def delete(self, digest: str) -> None:
        """Remove a blob (retention policies; never called for referenced blobs)."""

    # -- primitives for reads --------------------------------------------------------------------

    @abstractmethod
    def exists(self, digest: str) -> bool: ...

    @abstractmethod
    def open(self, digest: str) -> BinaryIO:
        """A stream over the blob; the hash is checked as it is read and IntegrityError raised at EOF
        if it does not match (NotFound if there is no such blob)."""

    @abstractmethod
    def iter_digests(self) -> Iterator[str]:
        """Every blob address in the store (for integrity checks and garbage collection)."""

    def missing(self, digests: Iterable[str]) -> list[str]:
        """The digests among ``digests`` that have no blob here, in the order given (each asked once;
        the lookups run on ``max_workers`` threads, which matters for remote stores)."""
        unique = list(dict.fromkeys(digests))
        if len(unique) <= 1:
            return [d for d in unique if not self.exists(d)]
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="modelyard-exists") as pool:
            present = list(pool.map(self.exists, unique))
        return [d for d, here in zip(unique, present, strict=True) if not here]

    def local_blob_path(self, digest: str) -> Path | None:
        """The file a loose blob is kept in, for a store on the local filesystem (the path may not
        exist: the blob may be packed or missing); None for any other store. For reading only:
        blobs are immutable, and a copy is what a caller should hand to users."""
        parse_digest(digest)
        return None

    # -- reads, one implementation for every store -----------------------------------------------

    def get_bytes(self, digest: str) -> bytes:
        """The blob's bytes, verified against the digest (IntegrityError on mismatch, NotFound if missing)."""
        chunks = []
        with self.open(digest) as stream:
            while chunk := stream.read(_CHUNK):
                chunks.append(chunk)
        return b"".join(chunks)

    def get_file(self, digest: str, dest: str | Path) -> Path:
        """Write the verified blob to ``dest`` atomically: into a temp file beside it, fsynced,
        renamed over ``dest`` only once the whole blob hashed right (nothing is left otherwise)."""
        dest = Path(dest)
        parse_digest(digest)
        with self.open(digest) as src:  # NotFound before anything is created
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)  # the stream verifies at EOF
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(tmp, _FILE_MODE)
                os.replace(tmp, dest)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        return dest

    def get_manifest(self, digest: str) -> Manifest:
        from modelyard.artifacts.manifest import manifest_from_bytes

        return manifest_from_bytes(self.get_bytes(digest), digest=digest)

    def get_directory(self, manifest_digest: str, dest: str | Path) -> Path:
        """Materialise every file (each one atomically and verified); other files in ``dest`` stay.

        Each target's parent is resolved and must lie inside ``dest``, so a symlink that already
        sits in ``dest`` cannot redirect a write outside it.
        """
        manifest = self.get_manifest(manifest_digest)
        dest = Path(dest)
        targets = materialise_targets(manifest.entries, dest)
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="modelyard-get") as pool:
            list(pool.map(lambda item: self.get_file(*item), targets))
        return dest

    def verify(self, digest: str) -> bool:
        """Re-hash a stored blob; False if it is corrupt (NotFound if it is missing)."""
        try:
            with self.open(digest) as stream:
                while stream.read(_CHUNK):
                    pass
        except IntegrityError:
            return False
        return True


_CHUNK = 1 << 20
_FILE_MODE = 0o644  # files handed back to the user by get_file / get_directory
