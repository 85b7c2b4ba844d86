"""``FsspecBackend``: blobs as objects on an fsspec filesystem (S3 and compatible, or any other).

One object per blob at its key under ``bucket/prefix`` (two levels of fan-out make listings by
prefix cheap). A file is hashed first (the key is the hash), then uploaded to its final key only
if that key does not exist yet (a PUT or a completed multipart upload is atomic per object); the
upload re-hashes what it sends and is aborted, not completed, if the file changed in between.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelyard.artifacts.backends.base import (
    CHUNK_SIZE,
    BlobBackend,
    RawStream,
    blob_key,
    hash_stream,
    is_transport_error,
    open_source,
)
from modelyard.artifacts.interfaces import BlobRef
from modelyard.core.errors import InvalidArgument, ModelyardError, StoreUnavailable
from modelyard.core.extras import require_extra

__all__ = ["FsspecBackend", "open_fsspec"]


class FsspecBackend(BlobBackend):
    """Blobs as objects on an fsspec filesystem; ``durable`` is meaningless here (an object
    store acknowledges a PUT once it has it)."""

    def __init__(self, fs: Any, root: str, uri: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.location = uri

    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def check_reachable(self) -> None:
        """Fail at open time, with one line, if the endpoint or the bucket is wrong."""
        bucket = self.root.split("/", 1)[0]
        try:
            # info, not exists: s3fs's exists() turns a dead endpoint into a quiet False.
            self.fs.info(bucket)
        except FileNotFoundError:
            raise StoreUnavailable(f"artifact store {self.location}: bucket {bucket!r} does not exist")

    def size(self, key: str) -> int | None:
        try:
            info = self.fs.info(self.path(key))
        except FileNotFoundError:
            return None
        found = info.get("size")
        return int(found) if info.get("type") == "file" and found is not None else None

    def read_bytes(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(self.path(key)))

    def open_read(self, key: str) -> RawStream:
        stream: RawStream = self.fs.open(self.path(key), "rb", block_size=4 * CHUNK_SIZE)
        return stream

    def write_bytes(self, key: str, data: bytes, *, durable: bool) -> None:
        self.fs.pipe_file(self.path(key), data)

    def ingest_file(self, source: Path, algorithm: str, *, durable: bool) -> BlobRef:
        """Hash first (the key is the hash), upload only if absent, re-hash what is uploaded."""
        with open_source(source) as src:
            hex_digest, size = hash_stream(src, algorithm)
        ref = BlobRef(digest=f"{algorithm}:{hex_digest}", size=size)
        key = blob_key(algorithm, hex_digest)
        if self.exists(key, size):
            return ref
        target = self.fs.open(self.path(key), "wb", block_size=_upload_part_size(size))
        try:
            with open_source(source) as src:
                uploaded_hex, _ = hash_stream(src, algorithm, sink=target)
            if uploaded_hex != hex_digest:
                raise InvalidArgument(f"{source} changed while it was being stored; nothing was stored")
        except BaseException:
            # Abort before the object is committed: no partial or mismatched object at the key.
            if hasattr(target, "discard"):
                target.discard()
            target.closed = True
            raise
        target.close()
        return ref

    def remove(self, key: str) -> None:
        try:
            self.fs.rm_file(self.path(key))
        except FileNotFoundError:
            pass

    def iter_keys(self) -> Iterator[str]:
        prefix = self.root + "/"
        try:
            found = self.fs.find(self.path("blobs"))
        except FileNotFoundError:
            return
        for path in found:
            if path.startswith(prefix):
                yield path[len(prefix) :]


def _upload_part_size(size: int) -> int:
    """Multipart part size: small (bounded memory per upload, since s3fs buffers a whole part)
    but large enough that any object fits in S3's 10,000 parts."""
    minimum = 8 << 20
    needed = -(-size // 9_000)
    return max(minimum, -(-needed // (1 << 20)) << 20)


def _s3_defaults(options: dict[str, Any]) -> dict[str, Any]:
    """Fail fast on a dead endpoint instead of botocore's minute of retries; no stale listings."""
    merged = dict(options)
    merged.setdefault("use_listings_cache", False)
    merged.setdefault("skip_instance_cache", True)
    config = dict(merged.get("config_kwargs") or {})
    config.setdefault("connect_timeout", 3)
    config.setdefault("read_timeout", 60)
    config.setdefault("retries", {"max_attempts": 2, "mode": "standard"})
    merged["config_kwargs"] = config
    return merged


#: Remote artifact stores modelyard supports (and tests); any other scheme is refused before
#: fsspec is asked, so a typo such as ftp://host never reaches the network.
REMOTE_SCHEMES = ("s3", "s3a")


def open_fsspec(uri: str, storage_options: dict[str, Any]) -> FsspecBackend:
    """The backend for a remote ``uri``, checked reachable (StoreUnavailable in one line if not)."""
    scheme = uri.split("://", 1)[0].lower()
    if scheme not in REMOTE_SCHEMES:
        raise InvalidArgument(
            f"unsupported artifact store URI {uri!r}: use a local path, file:///path or s3://bucket/prefix"
        )
    try:
        import fsspec
    except ImportError as exc:  # pragma: no cover - fsspec is a core dependency
        raise StoreUnavailable(f"cannot open {uri}: {exc}")
    if scheme in ("s3", "s3a"):
        require_extra("s3fs", purpose="s3:// artifact stores need s3fs")
    options = _s3_defaults(storage_options) if scheme in ("s3", "s3a") else dict(storage_options)
    try:
        fs, root = fsspec.core.url_to_fs(uri, **options)
    except ImportError as exc:  # another fsspec protocol whose package is not installed
        raise StoreUnavailable(f"cannot open {uri}: {exc}")
    except ValueError as exc:
        raise InvalidArgument(f"cannot open artifact store {uri}: {exc}")
    if scheme in ("s3", "s3a") and hasattr(fs, "retries"):
        fs.retries = 2  # s3fs retries transport errors itself on top of botocore; keep it short
    if not root.strip("/"):
        raise InvalidArgument(f"artifact store URI {uri} names no bucket")
    backend = FsspecBackend(fs, root, uri)
    try:
        backend.check_reachable()
    except ModelyardError:
        raise
    except Exception as exc:
        if not is_transport_error(exc):
            raise
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StoreUnavailable(f"artifact store {uri} unavailable: {detail}")
    return backend
