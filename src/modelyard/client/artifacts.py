"""``HttpArtifactStore``: the ArtifactStore contract over a modelyard server's blob endpoints.

Hashing happens here, on the client: a blob is hashed locally, the server is asked whether it
has that address already (``HEAD``), and only a missing blob is uploaded, streamed from its file.
The server re-hashes the upload and refuses one that does not match its address. Downloads are
streamed and re-hashed here as well, so bytes damaged anywhere between the server's disk and
this process raise ``IntegrityError`` instead of reaching a model loader.

Only the HTTP primitives live here (``exists``, ``open``, uploads); ``get_file``,
``get_directory``, ``get_manifest``, ``get_bytes`` and ``verify`` are ``ArtifactStore``'s, the
same code the local and S3 stores use.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import httpx

from modelyard.artifacts.interfaces import ArtifactStore, BlobRef
from modelyard.artifacts.paths import parse_digest
from modelyard.client._transport import ApiClient
from modelyard.core.errors import IntegrityError, InvalidArgument, NotFound, StoreUnavailable
from modelyard.wire import DIGEST_HEADER

__all__ = ["HttpArtifactStore"]

ALGORITHM = "sha256"
CHUNK_SIZE = 1 << 20


def _hash_file(path: Path) -> BlobRef:
    hasher = hashlib.new(ALGORITHM)
    size = 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                hasher.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        raise NotFound(f"no such file: {path}")
    except IsADirectoryError:
        raise InvalidArgument(f"cannot read {path}: is a directory")
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror or exc}")
    return BlobRef(digest=f"{ALGORITHM}:{hasher.hexdigest()}", size=size)


class _VerifyingResponseReader(io.RawIOBase):
    """Reads a streamed response, hashing it; IntegrityError at EOF if it does not match."""

    def __init__(self, chunks: Iterator[bytes], digest: str, on_close: Any) -> None:
        super().__init__()
        algorithm, self._expected = parse_digest(digest)
        self._hasher = hashlib.new(algorithm)
        self._chunks = chunks
        self._digest = digest
        self._pending = b""
        self._done = False
        self._on_close = on_close

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._done:
            return 0
        if not self._pending:
            try:
                self._pending = next(self._chunks, b"")
            except httpx.TransportError as exc:
                raise StoreUnavailable(f"download of {self._digest} broke off: {exc}")
            if not self._pending:
                actual = self._hasher.hexdigest()
                if actual != self._expected:
                    raise IntegrityError(f"blob {self._digest} is corrupt: its content hashes to {actual}")
                self._done = True
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._hasher.update(self._pending[:n])
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        try:
            self._on_close()
        finally:
            super().close()


class HttpArtifactStore(ArtifactStore):
    """The artifact store of the server at ``uri`` (``http(s)://host:port``)."""

    algorithm = ALGORITHM

    def __init__(
        self, uri: str, *, token: str | None = None, api: ApiClient | None = None, max_workers: int | None = 8
    ) -> None:
        self.uri = uri
        self._owns_api = api is None
        self.api = api or ApiClient(uri, token=token)
        self.max_workers = max_workers

    def __repr__(self) -> str:
        return f"HttpArtifactStore({self.uri!r})"

    def close(self) -> None:
        if self._owns_api:
            self.api.close()

    # -- writes -------------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> BlobRef:
        data = bytes(data)
        ref = BlobRef(digest=f"{ALGORITHM}:{hashlib.new(ALGORITHM, data).hexdigest()}", size=len(data))
        if not self.exists(ref.digest):
            self._upload(ref, lambda: data)
        return ref

    def put_file(self, path: str | Path) -> BlobRef:
        """Hash locally, upload only if the server lacks the blob, streamed from the file."""
        source = Path(path)
        ref = _hash_file(source)
        if not self.exists(ref.digest):
            self._upload(ref, lambda: open(source, "rb"))  # noqa: SIM115 - closed by the transport
        return ref

    def _upload(self, ref: BlobRef, body: Any) -> None:
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(ref.size)}
        self.api.send("PUT", f"/blobs/{ref.digest}", idempotent=True, content=body, headers=headers)

    def delete(self, digest: str) -> None:
        raise InvalidArgument("blobs are deleted on the server (retention), not through the HTTP client")

    # -- reads --------------------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        parse_digest(digest)
        try:
            self.api.send("HEAD", f"/blobs/{digest}", idempotent=True)
        except NotFound:
            return False
        return True

    def open(self, digest: str) -> BinaryIO:
        parse_digest(digest)
        context = self.api.stream(f"/blobs/{digest}")
        response = context.__enter__()
        served = response.headers.get(DIGEST_HEADER)
        if served is not None and served != digest:
            context.__exit__(None, None, None)
            raise IntegrityError(f"asked for blob {digest}, the server sent {served}")
        reader = _VerifyingResponseReader(
            response.iter_bytes(CHUNK_SIZE), digest, lambda: context.__exit__(None, None, None)
        )
        return cast(BinaryIO, io.BufferedReader(reader, buffer_size=CHUNK_SIZE))

    def iter_digests(self) -> Iterator[str]:
        raise InvalidArgument("listing every blob is a server-side maintenance task, not available over HTTP")
