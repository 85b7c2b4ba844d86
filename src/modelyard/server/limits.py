"""Request limits at the very edge, before any route parses anything (pure ASGI middleware).

- **Body size.** Every request body is bounded while it is received: uploads (the raw-body
  ``PUT`` routes of artifacts and blobs) by ``ServerConfig.max_upload_bytes``, the login form by
  ``MAX_LOGIN_BYTES`` and every other body by ``ServerConfig.max_json_bytes``. An announced
  ``Content-Length`` over the limit is answered 413 before a byte is read. A non-upload body is
  received here, counted chunk by chunk, and handed to the route only once it is complete and
  within its limit, so a route never starts on an oversized body and the server never holds more
  than the limit of it in memory. Upload bodies stay streamed (the routes spool them to disk);
  the count here stops one that outgrows its limit even if a route forgot to.
- **URLs are UTF-8.** A path or query string whose percent-escapes do not decode as UTF-8
  (``%ff%fe.txt``) is refused with 400 instead of being silently rewritten to U+FFFD, so a
  name recorded from a URL is always the name that was sent.

Errors use the one JSON error shape (``{"error": {"code", "message"}}``).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.server.errors import error_body

#: Default largest JSON (or form) body: metric batches of 10,000 points are about 1 MB.
DEFAULT_MAX_JSON_BYTES = 16 * 1024**2
#: Login bodies hold a user name and a password: anything bigger is not a login.
MAX_LOGIN_BYTES = 64 * 1024
LOGIN_PATH = "/api/v1/auth/login"
#: Routes whose body is a raw upload (streamed to disk by the route), under max_upload_bytes.
_UPLOAD_ROUTES = re.compile(r"^/api/v1/(?:blobs/[^/]+|runs/[^/]+/artifacts/.+)$")


def _too_large(limit: int, what: str) -> JSONResponse:
    message = f"{what} is larger than the server's limit of {limit} bytes"
    return JSONResponse(error_body("TOO_LARGE", message), status_code=413, headers={"Connection": "close"})


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse(error_body("INVALID_ARGUMENT", message), status_code=400)


def _valid_utf8(raw: bytes) -> bool:
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class RequestLimits:
    """See the module docstring. ``max_json_bytes`` and ``max_upload_bytes`` come from
    ``ServerConfig`` (settings: MODELYARD_MAX_JSON_BYTES, MODELYARD_MAX_UPLOAD_BYTES)."""

    def __init__(self, app: ASGIApp, *, max_json_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.max_upload_bytes = max_upload_bytes

    def limit_for(self, method: str, path: str) -> tuple[int, str, bool]:
        """(limit, what it applies to, whether the body is a streamed upload)."""
        if method == "PUT" and _UPLOAD_ROUTES.match(path):
            return self.max_upload_bytes, "upload", True
        if path == LOGIN_PATH:
            return min(MAX_LOGIN_BYTES, self.max_json_bytes), "login body", False
        return self.max_json_bytes, "request body", False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        raw_path = scope.get("raw_path") or path.encode("utf-8", "surrogateescape")
        if not _valid_utf8(raw_path) or not _valid_utf8(scope.get("query_string", b"")):
            await _bad_request("the URL is not valid UTF-8 once its %-escapes are decoded")(scope, receive, send)
            return
        limit, what, streamed = self.limit_for(scope.get("method", "GET"), path)
        declared = _content_length(scope)
        if declared == -1:
            await _bad_request("invalid Content-Length header")(scope, receive, send)
            return
        if declared is not None and declared > limit:
            await _too_large(limit, what)(scope, receive, send)
            return
        if streamed:
            await self.app(scope, _counting(receive, limit, what), send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its whole body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(limit, what)(scope, receive, send)
                return
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, replay_body(b"".join(chunks), receive), send)


def _content_length(scope: Scope) -> int | None:
    """The announced length; None when absent, -1 when it is not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.strip()
            if not text.isdigit():
                return -1
            return int(text) if len(text) <= 19 else 2**63  # more than any limit, without a bigint
    return None


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands ``body`` (already received, whole) to the app once more."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # waits for the disconnect, as the server's own receive would

    return replay


def _counting(receive: Receive, limit: int, what: str) -> Receive:
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise HTTPException(413, f"{what} is larger than the server's limit of {limit} bytes")
        return message

    return counted
