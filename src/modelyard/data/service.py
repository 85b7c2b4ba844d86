"""Dataset versioning: add, resolve, list, diff, status, checkout, materialise, remove.

A dataset version *is* a manifest in the artifact store (one file: a one-entry manifest), plus a
numbered row in the metadata store that points at it. Files are blobs addressed by their hash, so
a file that did not change between versions is stored once, whatever the number of versions.

Order of writes in ``add`` (what makes an interrupted add invisible): every file blob, then a
filesystem sync, then the manifest blob, then the version row in one transaction. A crash before
the row leaves only unreferenced blobs, which no version, listing or lookup ever shows.

Speed comes from not reading what did not change: the stat cache (statcache.py) remembers each
file's digest by (path, size, mtime, inode), so re-adding or checking the status of an unchanged
20,000-file directory costs 20,000 ``stat`` calls, and only changed files are hashed, in parallel.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from modelyard.artifacts.interfaces import ArtifactStore, BlobRef, Manifest, ManifestEntry
from modelyard.artifacts.manifest import manifest_to_bytes
from modelyard.artifacts.paths import parse_digest, safe_relpath
from modelyard.core.datasets import DatasetSummary, DatasetVersion, DatasetVersionKey, NewDatasetVersion
from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.data.changes import DatasetDiff, compare, read_manifest_entries
from modelyard.data.checkout import fetch_verified, kind_on_disk, shape_conflicts, write_files
from modelyard.data.references import record_version
from modelyard.data.refs import DatasetRef, parse_ref, validate_dataset_name
from modelyard.data.scan import FileStat, hash_files, scan, stat_snapshot
from modelyard.data.statcache import RACY_NS, StatCache
from modelyard.data.tabular import read_schema, table_format
from modelyard.store.datasets import DatasetStore

if TYPE_CHECKING:
    import pyarrow as pa

    from modelyard.data.ingest.schema import SchemaDiff

__all__ = ["AddResult", "DatasetService", "Progress"]

_BATCH_FILES = 8192  # files per put_files batch (one pack or filesystem sync at most per batch)
_BATCH_BYTES = 1 << 30


class Progress(Protocol):
    """Where long operations report progress (the CLI draws a rich bar; the SDK reports nothing)."""

    def phase(self, description: str, total: int | None) -> None: ...
    def advance(self, amount: int) -> None: ...


class _NoProgress:
    def phase(self, description: str, total: int | None) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass


@dataclass(frozen=True)
class AddResult:
    version: DatasetVersion
    created: bool  # False: the content equals the latest version, which is returned instead
    files_read: int  # files whose bytes were read (new or changed since the stat cache saw them)
    bytes_read: int
    files_cached: int  # files skipped thanks to the stat cache


class DatasetService:
    """Dataset versions over a metadata store and an artifact store.

    ``cache_dir`` (``MODELYARD_HOME/cache`` from the edges) holds the stat cache and materialised
    versions; this package never reads settings itself."""

    def __init__(
        self,
        store: DatasetStore,
        artifacts: ArtifactStore,
        cache_dir: str | os.PathLike[str],
        *,
        max_workers: int | None = None,
    ) -> None:
        """Whether new blobs reach the disk before a version is recorded is the artifact store's
        setting (``MODELYARD_DURABLE_WRITES``), not this service's."""
        self.store = store
        self.artifacts = artifacts
        self.cache_dir = Path(cache_dir)
        self.stat_cache = StatCache(self.cache_dir / "stat-cache.sqlite")
        self._max_workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self._algorithm = artifacts.algorithm

    def close(self) -> None:
        self.stat_cache.close()

    # --- resolving ---------------------------------------------------------------------------

    def resolve(self, ref: str | DatasetRef) -> DatasetVersion:
        """The version a reference names: NotFound if none, InvalidArgument if a hash is ambiguous."""
        parsed = ref if isinstance(ref, DatasetRef) else parse_ref(ref)
        if parsed.version is not None:
            return self.store.get_dataset_version(parsed.name, parsed.version)
        if parsed.digest_prefix is not None:
            found = self.store.find_dataset_versions(parsed.name, parsed.digest_prefix)
            if not found:
                raise NotFound(f"no version of {parsed.name!r} has a digest starting with {parsed.digest_prefix!r}")
            if len({v.manifest_digest for v in found}) > 1:
                names = ", ".join(f"{v.ref} ({v.manifest_digest[:19]})" for v in found)
                raise InvalidArgument(f"{parsed} is ambiguous: {names}; give more digits")
            return found[-1]  # identical content added twice: the newest number
        return self.store.get_latest_dataset_version(parsed.name)

    def list_datasets(self) -> list[DatasetSummary]:
        return self.store.list_datasets()

    def versions(self, name: str, *, include_removed: bool = False) -> list[DatasetVersion]:
        return self.store.list_dataset_versions(validate_dataset_name(name), include_removed=include_removed)

    def files(self, version: DatasetVersion) -> dict[str, tuple[str, int]]:
        """``{path: (digest, size)}`` of a version."""
        return read_manifest_entries(self.artifacts, version.manifest_digest)

    def remove(self, ref: str) -> DatasetVersion:
        """Hide a version. Its blobs stay (other versions may share them; garbage collection of
        unreferenced blobs is a separate, later step) and its number is never reused."""
        version = self.resolve(ref)
        return self.store.remove_dataset_version(version.name, version.version)

    # --- add ---------------------------------------------------------------------------------

    def add(
        self,
        path: str | os.PathLike[str],
        *,
        name: str,
        message: str | None = None,
        parents: Sequence[str | DatasetVersion] = (),
        code: str | None = None,
        params: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
        source: str | None = None,
    ) -> AddResult:
        """Record the file or directory at ``path`` as the next version of ``name``.

        ``source`` is where the data came from when ``path`` is only a staging copy (ingestion
        writes Parquet to a temporary directory: the version records the CSV file, the SQL URL
        or the stream instead); by default it is ``path`` itself, which ``status`` compares with.
        Re-adding content identical to the latest version (with the same lineage) creates
        nothing and returns the latest version (``created=False``)."""
        with _gc_paused():
            return self._add(path, name, message, parents, code, params, progress, source)

    def _add(
        self,
        path: str | os.PathLike[str],
        name: str,
        message: str | None,
        parents: Sequence[str | DatasetVersion],
        code: str | None,
        params: Mapping[str, Any] | None,
        progress: Progress | None,
        source: str | None = None,
    ) -> AddResult:
        name = validate_dataset_name(name)
        progress = progress or _NoProgress()
        parent_keys = tuple(sorted({self._parent_key(p) for p in parents}, key=lambda k: (k.name, k.version)))
        str_params = {str(k): str(v) for k, v in (params or {}).items()}
        root = Path(path).absolute()
        started_ns = time.time_ns()
        progress.phase(f"scanning {path}", None)
        kind, files = scan(root)
        known = self._cached_digests(root, kind, files)
        digests: dict[str, tuple[str, int]] = {}
        to_read: list[FileStat] = []
        for f in files:
            digest = known.get(f.path)
            if digest is not None and self._has_blob(digest, f.size):
                digests[f.name] = (digest, f.size)
            else:
                to_read.append(f)
        bytes_to_read = sum(f.size for f in to_read)
        progress.phase(f"storing {len(to_read):,} of {len(files):,} files", bytes_to_read)
        fresh: list[tuple[str, int, int, int, str, int]] = []
        for batch in _batches(to_read):
            refs: list[BlobRef] = self._put_files([f.path for f in batch])
            for f, ref in zip(batch, refs, strict=True):
                digests[f.name] = (ref.digest, ref.size)
                if ref.size == f.size:  # else it changed while read: do not vouch for its stat
                    fresh.append((f.path, f.size, f.mtime_ns, f.inode, ref.digest, started_ns))
            progress.advance(sum(f.size for f in batch))
        entries = [ManifestEntry(path=n, digest=d, size=s) for n, (d, s) in digests.items()]
        # manifest_to_bytes validates and sorts the entries (once: no build_manifest before it).
        manifest_ref = self.artifacts.put_bytes(manifest_to_bytes(Manifest(entries=tuple(entries))))
        self.stat_cache.update(fresh)
        if len(fresh) == len(to_read):  # no file changed while it was read
            self._save_tree(f"{kind}:{os.path.realpath(root)}", manifest_ref.digest, root, kind, files, started_ns)
        total = sum(s for _, s in digests.values())
        result_kwargs: dict[str, Any] = {
            "files_read": len(to_read),
            "bytes_read": bytes_to_read,
            "files_cached": len(files) - len(to_read),
        }
        try:
            latest = self.store.get_latest_dataset_version(name)
        except NotFound:
            latest = None
        if (
            latest is not None
            and self._same_content(latest, kind, manifest_ref.digest, digests)
            and tuple(latest.parents) == parent_keys
            and dict(latest.params) == str_params
            and latest.code == code
        ):
            return AddResult(version=latest, created=False, **result_kwargs)
        version = record_version(
            self.store,
            self.artifacts,
            NewDatasetVersion(
                name=name,
                manifest_digest=manifest_ref.digest,
                kind=kind,
                file_count=len(entries),
                total_size=total,
                message=message,
                source=source or os.fspath(root),
                code=code,
                params=str_params,
                parents=parent_keys,
            ),
            present={manifest_ref.digest},  # written just now, from blobs stored or found above
        )
        return AddResult(version=version, created=True, **result_kwargs)

    def _same_content(
        self, latest: DatasetVersion, kind: str, manifest_digest: str, digests: Mapping[str, tuple[str, int]]
    ) -> bool:
        """Whether what is being added is the content of ``latest``. Where it was added from is a
        fact about the add, not about the content: a file dataset is its bytes, whatever the file
        is called (as ``status`` compares it), so the same bytes from another path are no new version."""
        if latest.manifest_digest == manifest_digest:
            return True
        if kind != "file" or latest.kind != "file" or latest.file_count != 1 or len(digests) != 1:
            return False
        ((digest, size),) = digests.values()
        if latest.total_size != size:
            return False
        return list(self.files(latest).values()) == [(digest, size)]

    def _parent_key(self, parent: str | DatasetVersion) -> DatasetVersionKey:
        version = parent if isinstance(parent, DatasetVersion) else self.resolve(parent)
        return DatasetVersionKey(version.name, version.version)

    def _cached_digests(self, root: Path, kind: str, files: Sequence[FileStat]) -> dict[str, str]:
        """``{path: digest}`` for files the stat cache vouches for."""
        if not files:
            return {}
        if kind == "file":
            cached = self.stat_cache.load(Path(files[0].path), tree=False)
        else:
            cached = self.stat_cache.load(Path(os.path.realpath(root)), tree=True)
        known: dict[str, str] = {}
        for f in files:
            entry = cached.get(f.path)
            if entry is not None and entry.matches(f.size, f.mtime_ns, f.inode):
                known[f.path] = entry.digest
        return known

    def _has_blob(self, digest: str, size: int) -> bool:
        local = self._local_blob(digest)
        if local is not None:
            try:
                return local.stat().st_size == size
            except OSError:
                pass  # not a loose blob: it may sit in a pack
        return self.artifacts.exists(digest)

    def _local_blob(self, digest: str) -> Path | None:
        return self.artifacts.local_blob_path(digest)

    def _put_files(self, paths: Sequence[str]) -> list[BlobRef]:
        """Store files as one batch (the local store packs small files and syncs once when durable)."""
        return self.artifacts.put_files(paths)

    # --- compare -----------------------------------------------------------------------------

    def diff(self, old_ref: str, new_ref: str) -> DatasetDiff:
        """Files added, removed and modified from ``old_ref`` to ``new_ref`` (any two datasets)."""
        old, new = self.resolve(old_ref), self.resolve(new_ref)
        return compare(self.files(old), self.files(new), old.ref, new.ref)

    def schema_diff(self, old_ref: str, new_ref: str) -> SchemaDiff | None:
        """Columns added, removed and retyped from ``old_ref`` to ``new_ref``, read from the first
        tabular file of each (ingested parts share one schema); None unless both are tabular."""
        from modelyard.data.ingest.schema import schema_diff

        schemas = [self.schema(self.resolve(ref)) for ref in (old_ref, new_ref)]
        if schemas[0] is None or schemas[1] is None:
            return None
        return schema_diff(schemas[0], schemas[1])

    def schema(self, version: DatasetVersion) -> pa.Schema | None:
        """The Arrow schema of a tabular version (its first tabular file), or None."""
        for name, (digest, _size) in sorted(self.files(version).items()):
            fmt = table_format(name)
            if fmt is not None:
                return read_schema(self.artifacts.get_bytes(digest), fmt)
        return None

    def status(
        self, ref: str, path: str | os.PathLike[str] | None = None, *, progress: Progress | None = None
    ) -> DatasetDiff:
        """How the files at ``path`` (default: where the version was added from) differ from the
        version ``ref`` (default: latest). Only files whose stat changed are read."""
        with _gc_paused():
            return self._status(ref, path, progress)

    def _status(self, ref: str, path: str | os.PathLike[str] | None, progress: Progress | None) -> DatasetDiff:
        version = self.resolve(ref)
        if path is None:
            if not version.source:
                raise InvalidArgument(f"{version.ref} records no source path: pass the path to compare")
            if "ingest.source" in version.params or "stream" in version.params:
                raise InvalidArgument(
                    f"{version.ref} was ingested from {version.source}, not added from a path: pass the path to compare"
                )
            path = version.source
        root = Path(path).absolute()
        started_ns = time.time_ns()
        fast = stat_snapshot(os.fspath(root)) if version.kind == "directory" else None
        if fast is not None:
            # Fast path: the same stats, listed in the same order, as when this exact content was
            # last seen mean clean, with nothing else to read or build.
            saved = self.stat_cache.load_tree(f"directory:{os.path.realpath(root)}")
            if saved is not None and saved[0] == version.manifest_digest and saved[1] == orjson.dumps(fast):
                return DatasetDiff(version.ref, os.fspath(path), unchanged=len(fast))
        kind, files = scan(root, validate_names=False)
        tree_key = f"{kind}:{os.path.realpath(root)}"
        if fast is None:  # a tree the fast walk leaves alone (symlinks...) or a file: the scan's snapshot
            saved = self.stat_cache.load_tree(tree_key)
            if saved is not None and saved[0] == version.manifest_digest and saved[1] == _tree_stats(files):
                return DatasetDiff(version.ref, os.fspath(path), unchanged=len(files))
        recorded = self.files(version)
        if kind == "file" and version.kind == "file" and len(recorded) == 1:
            # A file dataset compares by content whatever the file is called now.
            old_name = next(iter(recorded))
            files = [FileStat(old_name, files[0].path, files[0].size, files[0].mtime_ns, files[0].inode)]
        known = self._cached_digests(root, kind, files)
        current: dict[str, tuple[str, int]] = {}
        stale = [f for f in files if f.path not in known]
        progress = progress or _NoProgress()
        if stale:
            progress.phase(f"hashing {len(stale):,} changed files", sum(f.size for f in stale))
        algorithm = parse_digest(version.manifest_digest)[0]
        hashed = hash_files([f.path for f in stale], algorithm, max_workers=self._max_workers, on_done=progress.advance)
        fresh = []
        for f, (digest, size) in zip(stale, hashed, strict=True):
            current[f.name] = (digest, size)
            if size == f.size:
                fresh.append((f.path, f.size, f.mtime_ns, f.inode, digest, started_ns))
        for f in files:
            if f.path in known:
                current[f.name] = (known[f.path], f.size)
        self.stat_cache.update(fresh)
        result = compare(recorded, current, version.ref, os.fspath(path), rehashed=len(stale))
        if result.is_clean and kind == version.kind:
            self._save_tree(tree_key, version.manifest_digest, root, kind, files, started_ns)
        return result

    def _save_tree(
        self, key: str, digest: str, root: Path, kind: str, files: Sequence[FileStat], started_ns: int
    ) -> None:
        """Remember that the scanned stats mean ``digest`` (never when a file is racy). For a
        directory of plain files the snapshot is the fast walk's list, in its order, so that
        ``status`` compares it as it walks; it is saved only if it shows exactly the scanned
        stats (a file changed in between: nothing is saved)."""
        if not all(f.mtime_ns + RACY_NS < started_ns for f in files):
            return
        snapshot = _tree_stats(files)
        if kind == "directory":
            fast = stat_snapshot(os.fspath(root))
            if fast is not None:
                scanned = [(f.name, f.size, f.mtime_ns, f.inode) for f in files]
                if sorted(fast) != scanned:
                    return
                snapshot = orjson.dumps(fast)
        self.stat_cache.save_tree(key, digest, snapshot)

    # --- materialise -------------------------------------------------------------------------

    def checkout(
        self,
        ref: str | DatasetVersion,
        dest: str | os.PathLike[str],
        *,
        clean: bool = False,
        progress: Progress | None = None,
    ) -> Path:
        """Write a version's files under ``dest`` (each verified against its digest, written
        atomically). Files already identical are left alone. ``clean`` also deletes files under
        ``dest`` that the version lacks. A file dataset goes to ``dest`` itself, or into it if
        ``dest`` is an existing directory. Returns the path written (file or directory).

        Where the working copy's shape differs from the version's (``x`` a file on disk and a
        directory in the version, or the reverse), ``clean`` replaces it; without ``clean`` the
        checkout is refused (InvalidArgument) before anything is written. A directory dataset is
        never written over a regular file ``dest``."""
        version = ref if isinstance(ref, DatasetVersion) else self.resolve(ref)
        entries = self.files(version)
        dest_path = Path(dest).absolute()
        if version.kind == "file":
            ((file_name, (digest, size)),) = entries.items()
            target = dest_path / file_name if dest_path.is_dir() else dest_path
            if target.is_dir():
                raise InvalidArgument(
                    f"cannot check out {version.ref} to {target}: it is a directory and the version is a file"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            fetch_verified(self.artifacts, digest, size, target)
            return target
        for name in entries:
            safe_relpath(name)  # a manifest is untrusted input joined to dest
        if dest_path.exists() and not dest_path.is_dir():
            raise InvalidArgument(
                f"cannot check out {version.ref} to {dest}: it is a file and the version is a directory; "
                "remove it or choose another destination"
            )
        created_dest = not dest_path.exists()
        try:
            dest_path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidArgument(f"cannot create {dest}: {exc.strerror or exc}") from None
        kind, existing = scan(dest_path, validate_names=False)
        have = {f.name: f for f in existing}
        in_the_way = shape_conflicts(dest_path, entries, have)
        if in_the_way and not clean:
            first = in_the_way[0]
            more = f" (and {len(in_the_way) - 1:,} more)" if len(in_the_way) > 1 else ""
            raise InvalidArgument(
                f"cannot check out {version.ref} to {dest}: {first} is a {kind_on_disk(dest_path / first)} there and "
                f"a {'file' if first in entries else 'directory'} in the version{more}; nothing was changed "
                "(--clean / clean=True replaces them)"
            )
        have = {n: f for n, f in have.items() if not any(n == c or n.startswith(c + "/") for c in in_the_way)}
        known = self._cached_digests(dest_path, kind, list(have.values()))
        todo = [
            (name, digest, size)
            for name, (digest, size) in entries.items()
            if not (name in have and known.get(have[name].path) == digest)
        ]
        progress = progress or _NoProgress()
        progress.phase(f"writing {len(todo):,} of {len(entries):,} files", sum(s for _, _, s in todo))
        write_files(
            version,
            self.artifacts,
            dest_path,
            todo,
            created_dest=created_dest,
            replace_first=in_the_way if clean else [],
            remove_after=[name for name in have if name not in entries] if clean else [],
            keep={name.split("/", 1)[0] for name in entries},
            max_workers=self._max_workers,
            progress=progress,
        )
        return dest_path

    def materialise(self, ref: str | DatasetVersion) -> Path:
        """A read-only local copy of a version under the cache, verified, made once per content
        (keyed by manifest digest, so versions with the same content share it). Returns the
        directory, or the file for a file dataset."""
        version = ref if isinstance(ref, DatasetVersion) else self.resolve(ref)
        algorithm, hex_digest = parse_digest(version.manifest_digest)
        final = self.cache_dir / "datasets" / f"{algorithm}-{hex_digest}"
        if not final.is_dir():
            final.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=".staging-"))
            try:
                self.artifacts.get_directory(version.manifest_digest, staging)
                try:
                    os.rename(staging, final)  # atomic: readers see nothing or the whole version
                except OSError:
                    if not final.is_dir():
                        raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        if version.kind == "file":
            (file_name,) = self.files(version)
            return final / file_name
        return final


def _tree_stats(files: Sequence[FileStat]) -> bytes:
    """The stat snapshot of a scan, encoded (compared as bytes: one memcmp for 20,000 files)."""
    return orjson.dumps([(f.name, f.size, f.mtime_ns, f.inode) for f in files])


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while tens of thousands of entries are built: its full collections
    would rescan them again and again (it cost status a third of its time on 20,000 files)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _batches(files: Sequence[FileStat]) -> list[Sequence[FileStat]]:
    """Split into durable batches of at most _BATCH_FILES files or about _BATCH_BYTES."""
    out: list[Sequence[FileStat]] = []
    start, size = 0, 0
    for i, f in enumerate(files):
        size += f.size
        if i + 1 - start >= _BATCH_FILES or size >= _BATCH_BYTES:
            out.append(files[start : i + 1])
            start, size = i + 1, 0
    if start < len(files):
        out.append(files[start:])
    return out
