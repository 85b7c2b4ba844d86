"""``BlobBackend``: the one interface ``ContentAddressedStore`` uses to keep blobs, and the
hashing helpers every backend shares.

A backend knows keys, not digests: a key is ``blob_key(algorithm, hex)``
(``blobs/<algorithm>/<hex[:2]>/<hex[2:4]>/<hex>``), the same on every backend, so a blob has one
name wherever it is kept. The store above turns digests into keys, verifies what is read and
maps failures to domain errors; a backend only moves bytes. It must:

* ``size``/``exists``: say whether a whole blob is there (a wrong size is a damaged copy);
* ``open_read``: give a raw stream (``readinto``/``close``) over a blob, ``FileNotFoundError``
  if absent;
* ``write_bytes``/``ingest_file``: store bytes or a file **atomically** (a reader sees no blob or
  the whole blob), hashing a file while it is stored and returning its ``BlobRef``;
* ``iter_keys``/``remove``: list and delete (deleting a missing blob succeeds).

Optional fast paths have defaults here and are overridden where a backend can do better:
``read_bytes`` (one call), ``put_files`` (a batch: the local backend packs small files and syncs
once), ``local_path`` (a blob's file, for the local backend only) and ``sync``.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from modelyard.artifacts.interfaces import BlobRef
from modelyard.artifacts.paths import HASH_HEX_LENGTHS, parse_digest
from modelyard.core.errors import InvalidArgument, NotFound

__all__ = [
    "CHUNK_SIZE",
    "BlobBackend",
    "Hasher",
    "RawStream",
    "blob_key",
    "digest_from_key",
    "hash_stream",
    "is_transport_error",
    "new_hasher",
    "open_source",
]

#: Read/hash/write granularity: big enough that hashlib releases the GIL and syscalls are few,
#: small enough that many parallel streams stay cheap in memory.
CHUNK_SIZE = 1 << 20
#: Libraries whose exceptions mean "the remote store is not reachable or refused us".
_TRANSPORT_MODULES = frozenset({"botocore", "aiobotocore", "aiohttp", "urllib3", "requests", "httpx"})


class Hasher(Protocol):
    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...
    def hexdigest(self) -> str: ...


class RawStream(Protocol):
    """What ``open_read`` returns: an unbuffered, read-only stream."""

    def readinto(self, buffer: Any, /) -> int | None: ...
    def close(self) -> None: ...


def new_hasher(algorithm: str) -> Hasher:
    return cast(Hasher, hashlib.new(algorithm))


def blob_key(algorithm: str, hex_digest: str) -> str:
    return f"blobs/{algorithm}/{hex_digest[:2]}/{hex_digest[2:4]}/{hex_digest}"


def digest_from_key(key: str) -> str | None:
    """The digest a ``blobs/...`` key stores, or None for anything that is not a blob address."""
    parts = key.split("/")
    if len(parts) != 5 or parts[0] != "blobs":
        return None
    _, algorithm, fan1, fan2, hex_digest = parts
    if HASH_HEX_LENGTHS.get(algorithm) != len(hex_digest) or (fan1, fan2) != (hex_digest[:2], hex_digest[2:4]):
        return None
    try:
        parse_digest(f"{algorithm}:{hex_digest}")
    except InvalidArgument:
        return None
    return f"{algorithm}:{hex_digest}"


def is_transport_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in _TRANSPORT_MODULES


@contextmanager
def open_source(path: Path) -> Iterator[BinaryIO]:
    """Open a caller's file; its problems are the caller's (NotFound/InvalidArgument), not the store's."""
    try:
        handle = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise NotFound(f"no such file: {path}")
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror or exc}")
    with handle:
        yield cast(BinaryIO, handle)


def hash_stream(
    source: BinaryIO, algorithm: str, sink: BinaryIO | None = None, size_hint: int | None = None
) -> tuple[str, int]:
    """Hash (and optionally copy) a stream in fixed-size chunks; returns (hex digest, size).

    ``size_hint`` shrinks the buffer for small files: zero-filling a 1 MB buffer per 50 KB file
    costs more than reading the file."""
    hasher = new_hasher(algorithm)
    buffer = bytearray(CHUNK_SIZE if size_hint is None else max(1 << 16, min(CHUNK_SIZE, size_hint + 1)))
    view = memoryview(buffer)
    size = 0
    while True:
        n = source.readinto(view)  # type: ignore[attr-defined]
        if not n:
            break
        chunk = view[:n]
        hasher.update(chunk)
        if sink is not None:
            sink.write(chunk)
        size += n
    return hasher.hexdigest(), size


class BlobBackend(ABC):
    """Where a ``ContentAddressedStore`` keeps its blobs (see the module docstring)."""

    #: The backend's root, for messages.
    location: str

    # -- required --------------------------------------------------------------------------------

    @abstractmethod
    def size(self, key: str) -> int | None:
        """The stored blob's size, or None if there is no such blob."""

    @abstractmethod
    def open_read(self, key: str) -> RawStream:
        """A raw stream over the blob's bytes (not verified: the store verifies)."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes, *, durable: bool) -> None:
        """Store ``data`` at ``key`` atomically (``key`` is already its address)."""

    @abstractmethod
    def ingest_file(self, source: Path, algorithm: str, *, durable: bool) -> BlobRef:
        """Hash ``source`` and store it atomically at its address; returns its ref."""

    @abstractmethod
    def remove(self, key: str) -> None:
        """Delete the blob; a missing blob is not an error."""

    @abstractmethod
    def iter_keys(self) -> Iterator[str]:
        """Every key under ``blobs/`` (callers skip what is not a blob address)."""

    # -- defaults (fast paths a backend may override) --------------------------------------------

    def exists(self, key: str, size: int | None = None) -> bool:
        """Is the blob there (and, when ``size`` is given, whole: a damaged copy gets rewritten)?"""
        found = self.size(key)
        return found is not None and (size is None or found == size)

    def read_bytes(self, key: str) -> bytes:
        stream = self.open_read(key)
        try:
            chunks = []
            buffer = bytearray(CHUNK_SIZE)
            while n := stream.readinto(buffer):
                chunks.append(bytes(buffer[:n]))
        finally:
            stream.close()
        return b"".join(chunks)

    def put_files(
        self, sources: Sequence[str], algorithm: str, *, durable: bool, max_workers: int | None
    ) -> list[BlobRef]:
        """Store many files; refs in the order of ``sources``. Default: ``ingest_file`` in a pool."""
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="modelyard-put") as pool:
            return list(pool.map(lambda source: self.ingest_file(Path(source), algorithm, durable=durable), sources))

    def local_path(self, key: str) -> Path | None:
        """The file a loose blob is (or would be) stored in, for local backends; None otherwise."""
        return None
