"""Artifacts of runs and raw blobs of the content-addressed store.

Uploads stream: the body goes to a temporary file while it is hashed (one chunk in memory at a
time, refused with 413 past ``ServerConfig.max_upload_bytes``), then into the artifact store.
Downloads stream from the store's verifying reader, with the blob's address in the
``X-Modelyard-Digest`` header so the client re-hashes what it received and knows it is intact.

The blob endpoints let ``HttpArtifactStore`` work like any other artifact store: it hashes
locally, asks whether the server already has the blob (``HEAD``), uploads it under its digest
(the server re-hashes and refuses a body that does not match), and downloads by digest. A blob
is addressed by its content, not by project, so blob reads need "viewer" and writes "editor" on
at least one project; knowing a digest is knowing the content already.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from modelyard.artifacts.paths import parse_digest, safe_relpath
from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.core.tracking import ArtifactEntry
from modelyard.core.validation import DIGEST_PATTERN
from modelyard.server.routers._common import (
    Call,
    WireJSONResponse,
    get_call,
    iter_stream,
    spool_body,
)
from modelyard.server.routers.projects import ERRORS
from modelyard.wire import API_PREFIX, DIGEST_HEADER, ArtifactEntryBody, ArtifactList, BlobInfo
from modelyard.wire._base import ARTIFACT_PATH_PATTERN, matching

router = APIRouter(prefix=API_PREFIX, tags=["artifacts"], responses=ERRORS)

_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_RAW_BODY = {
    "requestBody": {
        "required": False,  # an empty file is a file
        "content": _BINARY,
    }
}
_STREAM: dict[int | str, dict[str, Any]] = {200: {"content": _BINARY}}

RunArtifactPath = Annotated[
    str,
    matching(ARTIFACT_PATH_PATTERN, "artifact name"),
    Path(max_length=4096, json_schema_extra={"pattern": ARTIFACT_PATH_PATTERN}),
]
BlobDigest = Annotated[
    str, Path(pattern=DIGEST_PATTERN, description="sha256:<64 hex>, blake2b:<128 hex> or sha512:<128 hex>.")
]


def _store_algorithm(c: Call) -> str:
    return c.services.artifacts.algorithm


def _stream(c: Call, digest: str, size: int | None) -> StreamingResponse:
    stream = c.services.artifacts.open(digest)  # NotFound here, before the response starts
    headers = {DIGEST_HEADER: digest, "ETag": f'"{digest}"'}
    if size is not None:
        headers["Content-Length"] = str(size)
    return StreamingResponse(iter_stream(stream, digest), media_type="application/octet-stream", headers=headers)


# -- artifacts of a run -------------------------------------------------------------------------
@router.get("/runs/{run_id}/artifacts", response_model=ArtifactList)
def list_artifacts(run_id: str, prefix: str | None = None, c: Call = Depends(get_call)) -> Any:
    """Artifacts of a run ordered by path, optionally under a directory ``prefix``."""
    c.allow_run(run_id, "viewer")
    entries = c.stores.tracking.list_artifacts(run_id, prefix)
    return WireJSONResponse({"artifacts": [e.model_dump() for e in entries]})


@router.put("/runs/{run_id}/artifacts/{path:path}", response_model=ArtifactEntryBody, openapi_extra=_RAW_BODY)
async def upload_artifact(run_id: str, path: RunArtifactPath, request: Request, c: Call = Depends(get_call)) -> Any:
    """Store the body as the artifact ``path`` of the run (replacing an earlier one)."""
    name = safe_relpath(path)
    await run_in_threadpool(c.allow_run, run_id, "editor")
    await run_in_threadpool(c.stores.tracking.get_run, run_id)  # 404 before receiving a byte
    spooled = await spool_body(request, c.services.config.max_upload_bytes, _store_algorithm(c))
    try:
        ref = await run_in_threadpool(c.services.artifacts.put_file, spooled.path)
    finally:
        spooled.remove()
    entry = ArtifactEntry(path=name, digest=ref.digest, size=ref.size)
    await run_in_threadpool(c.stores.tracking.add_artifacts, run_id, [entry])
    await run_in_threadpool(c.audit, "log_artifact", "run", run_id, path=name, digest=ref.digest)
    return WireJSONResponse(entry.model_dump())


def _find_artifact(c: Call, run_id: str, path: str) -> ArtifactEntry:
    name = safe_relpath(path)
    for entry in c.stores.tracking.list_artifacts(run_id, name):
        if entry.path == name:
            return entry
    raise NotFound(f"artifact {name!r} not found in run {run_id!r}")


@router.get("/runs/{run_id}/artifacts/{path:path}", responses=_STREAM, response_class=StreamingResponse)
def download_artifact(run_id: str, path: RunArtifactPath, c: Call = Depends(get_call)) -> StreamingResponse:
    """The artifact's bytes, streamed; ``X-Modelyard-Digest`` carries its content address."""
    c.allow_run(run_id, "viewer")
    entry = _find_artifact(c, run_id, path)
    return _stream(c, entry.digest, entry.size)


# -- raw blobs ----------------------------------------------------------------------------------
@router.put("/blobs/{digest}", response_model=BlobInfo, openapi_extra=_RAW_BODY, tags=["blobs"])
async def put_blob(digest: BlobDigest, request: Request, c: Call = Depends(get_call)) -> Any:
    """Store the body under ``digest``; a body that hashes to anything else is refused (400) and
    nothing is stored."""
    algorithm, hex_digest = parse_digest(digest)
    await run_in_threadpool(c.allow_somewhere, "editor")
    if algorithm != _store_algorithm(c):
        raise InvalidArgument(f"this server stores {_store_algorithm(c)} blobs, not {algorithm}")
    spooled = await spool_body(request, c.services.config.max_upload_bytes, algorithm)
    try:
        if spooled.hex_digest != hex_digest:
            raise InvalidArgument(
                f"upload does not match its address: it hashes to {algorithm}:{spooled.hex_digest}, not {digest}"
            )
        ref = await run_in_threadpool(c.services.artifacts.put_file, spooled.path)
    finally:
        spooled.remove()
    await run_in_threadpool(c.audit, "put_blob", "blob", ref.digest, size=ref.size)
    return WireJSONResponse({"digest": ref.digest, "size": ref.size})


@router.head("/blobs/{digest}", tags=["blobs"], status_code=204, response_class=Response)
def blob_exists(digest: BlobDigest, c: Call = Depends(get_call)) -> Response:
    """204 if the server has the blob, 404 if not (lets a client skip uploading it again)."""
    parse_digest(digest)
    c.allow_somewhere("viewer")
    if not c.services.artifacts.exists(digest):
        raise NotFound(f"blob {digest} not found")
    return Response(status_code=204)


@router.get("/blobs/{digest}", responses=_STREAM, response_class=StreamingResponse, tags=["blobs"])
def get_blob(digest: BlobDigest, c: Call = Depends(get_call)) -> StreamingResponse:
    """The blob's bytes, streamed and verified by the store as they are read."""
    parse_digest(digest)
    c.allow_somewhere("viewer")
    return _stream(c, digest, None)


def register(app: FastAPI) -> None:
    app.include_router(router)
