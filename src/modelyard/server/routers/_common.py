"""What every router shares: the per-request ``Call`` (services, principal, the auth and audit
hooks), JSON responses that keep NaN metrics, fast JSON bodies for big batches, and streamed
request bodies spooled to a temporary file for uploads."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pydantic_core
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from modelyard.core.errors import IntegrityError, InvalidArgument, PermissionDenied
from modelyard.server.app import Services
from modelyard.server.deps import Principal, audit, auth_enabled, authorize, current_principal, get_services
from modelyard.store.bundle import Stores

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
logger = logging.getLogger("modelyard.server")

#: Chunk size of streamed downloads: big enough for few syscalls, small enough that many
#: concurrent downloads stay cheap in memory.
STREAM_CHUNK = 1 << 20


def json_bytes(content: Any) -> bytes:
    """JSON with NaN/+-inf as the strings the wire schemas document (never ``null``)."""
    return pydantic_core.to_json(content, inf_nan_mode="strings")


class WireJSONResponse(Response):
    """Returned by the routes directly, so FastAPI neither re-validates nor re-encodes big bodies
    (a page of 1,000 runs); the route's ``response_model`` still documents the schema."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


@dataclass
class Call:
    """Everything one request needs, from ``app.state`` (there is no module-level state)."""

    request: Request
    principal: Principal
    services: Services

    @property
    def stores(self) -> Stores:
        return self.services.stores

    def allow(self, project_id: str | None, role: str) -> None:
        authorize(self.request, self.principal, project_id, role)

    def can(self, project_id: str | None, role: str) -> bool:
        try:
            self.allow(project_id, role)
        except PermissionDenied:
            return False
        return True

    def visible_projects(self) -> set[str] | None:
        """Project ids the caller may read (to filter listings); None means every project."""
        authenticator: Any = self.request.app.state.authenticator
        if authenticator is None:
            return None
        visible: set[str] | None = authenticator.visible_project_ids(self.principal)
        return visible

    def allow_somewhere(self, role: str) -> None:
        """Refuse unless the caller holds ``role`` on at least one project (or on all of them).

        For content-addressed blobs, which belong to no single project: a client uploads a
        model's files before it records them on a run, and anyone who may write to some project
        may store bytes; reading needs a digest, which only someone who had the content knows.
        """
        if not auth_enabled(self.request) or self.principal.is_admin:
            return
        if self.principal.anonymous:
            self.allow(None, role)  # the authorizer's own 401
        # Not ``can(None, "viewer")``: that is the permission to *list* projects, which every
        # signed-in user has (the list is filtered); a user with no role anywhere gets nothing.
        candidates = self.visible_projects()
        if candidates is None:
            candidates = {p.id for p in self.stores.tracking.list_projects()}
        if any(self.can(project_id, role) for project_id in sorted(candidates)):
            return
        raise PermissionDenied(f"user {self.principal.user!r} has no {role} role on any project; this needs one")

    def allow_run(self, run_id: str, role: str) -> None:
        """Authorize on the run's project; the run is only looked up when auth is on."""
        if auth_enabled(self.request):
            self.allow(self.stores.tracking.get_run(run_id).project_id, role)

    def audit(self, action: str, object_type: str, object_id: str | None, **details: Any) -> None:
        audit(self.request, self.principal, action, object_type, object_id, details)


async def get_call(request: Request, services: Services = Depends(get_services)) -> Call:
    """Async so that the unauthenticated hot path costs no thread hop; the authenticator (which
    may query the store) runs in the threadpool."""
    if auth_enabled(request):
        principal = await run_in_threadpool(current_principal, request)
    else:
        principal = current_principal(request)
    return Call(request=request, principal=principal, services=services)


def built(entity: Callable[[], T]) -> T:
    """The core entity a request body stands for (``body.entity``): its validators apply the
    rules between fields that the body's schema cannot state, and their refusal is a 422 like
    the schema's, located in the body."""
    try:
        return entity()
    except ValidationError as exc:
        raise body_error(exc) from None


def body_error(exc: ValidationError) -> RequestValidationError:
    """A body's validation error as FastAPI reports its own (a 422 located in the body)."""
    return RequestValidationError(
        [{**err, "loc": ("body", *err.get("loc", ()))} for err in exc.errors(include_url=False)]
    )


def json_body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route that parses its body itself (see ``parse_json_body``)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


async def parse_json_body(request: Request, model: type[M]) -> M:
    """Read and validate a JSON body in one pass of pydantic's parser (no intermediate dicts):
    metric batches of 10,000 points are the hot path of the server."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise InvalidArgument("expected a JSON body (Content-Type: application/json)")
    raw = await request.body()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise body_error(exc) from None


@dataclass
class Spooled:
    """A request body received into a temporary file, with its hash and size."""

    path: str
    hex_digest: str
    size: int

    def remove(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"upload is larger than the server's limit of {limit} bytes")


async def spool_body(request: Request, limit: int, algorithm: str = "sha256") -> Spooled:
    """Stream the body to a temporary file while hashing it; never more than one chunk in memory.

    An announced Content-Length over ``limit`` is refused before a byte is read; a body that
    grows past it while streaming is refused at that point and its temporary file removed.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    hasher = hashlib.new(algorithm)
    fd, path = tempfile.mkstemp(prefix="modelyard-upload-")
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                hasher.update(chunk)
                out.write(chunk)
    except BaseException:
        os.unlink(path)
        raise
    return Spooled(path=path, hex_digest=hasher.hexdigest(), size=size)


def iter_stream(stream: Any, digest: str) -> Iterator[bytes]:
    """Chunks of an open (verifying) blob stream, closed at the end or on disconnect.

    The store only knows a blob is corrupt at EOF, after its bytes went out. The response then
    ends normally and the client, which re-hashes against the digest header, raises
    IntegrityError; the server logs the corruption for the operator.
    """
    try:
        while True:
            try:
                chunk = stream.read(STREAM_CHUNK)
            except IntegrityError as exc:
                logger.error("served a corrupt blob: %s", exc)
                return
            if not chunk:
                return
            yield chunk
    finally:
        stream.close()
