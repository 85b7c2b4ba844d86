"""``POST /v1/feedback`` on the model server: ground truth for logged predictions, by request id.

``FeedbackRoute`` wraps the serving app (any ASGI app) and answers only ``POST /v1/feedback``;
every other request goes to the app untouched (one string comparison). The body is one item
``{"request_id": "...", "value": ...}``, a list of items, or ``{"items": [...]}``; ``value`` is any
JSON value (a label, a number, a list of one per row). The request id is the one the server
answered with (the ``x-request-id`` response header; a client may choose it by sending the header).

Before recording, the route flushes this process's prediction logger, so feedback may follow its
prediction at once. Every request id must be a logged prediction's: unknown ids are answered 404
with the ids listed (``{"error": {"code": "NOT_FOUND", "request_ids": [...]}}``) and nothing is
recorded; malformed bodies are 400. Recording is ``ServingStore.record_feedback`` (the metadata
store, so every replica and the main server see it); ``modelyard.predictions`` joins it on read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson

from modelyard.core.errors import InvalidArgument, ModelyardError, NotFound, UnknownRequestIds
from modelyard.core.serving import MAX_REQUEST_ID_LENGTH, Feedback
from modelyard.store.serving import ServingStore

__all__ = ["MAX_FEEDBACK_BYTES", "FeedbackRoute", "parse_feedback"]

MAX_FEEDBACK_BYTES = 16 * 1024**2
MAX_ITEMS = 100_000
_PATH = "/v1/feedback"


def parse_feedback(body: bytes, now_ms: int) -> list[Feedback]:
    """The items of a feedback body (see the module docstring); InvalidArgument naming what is wrong."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"malformed JSON: {exc}") from None
    if isinstance(data, dict) and "items" in data:
        data = data["items"]
    items = data if isinstance(data, list) else [data]
    if not items:
        raise InvalidArgument("no feedback items")
    if len(items) > MAX_ITEMS:
        raise InvalidArgument(f"at most {MAX_ITEMS} feedback items per request")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or set(item) - {"request_id", "value", "at"} or "value" not in item:
            raise InvalidArgument(f"item {i}: expected {{'request_id': ..., 'value': ...}}")
        rid = item.get("request_id")
        if not isinstance(rid, str) or not 0 < len(rid) <= MAX_REQUEST_ID_LENGTH:
            raise InvalidArgument(f"item {i}: request_id must be a string of 1-{MAX_REQUEST_ID_LENGTH} characters")
        at = item.get("at", now_ms)
        if isinstance(at, bool) or not isinstance(at, int) or not 0 <= at < 2**63:
            raise InvalidArgument(f"item {i}: at must be epoch milliseconds")
        out.append(Feedback(request_id=rid, value=item["value"], at=at))
    return out


def _json(status: int, data: Any) -> tuple[int, bytes]:
    return status, orjson.dumps(data)


class FeedbackRoute:
    """ASGI: ``POST /v1/feedback`` here, everything else to ``app``."""

    def __init__(self, app: Any, store: ServingStore, *, flush: Callable[[], Any] | None = None) -> None:
        self.app = app
        self.store = store
        self.flush = flush

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != _PATH:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            status, body = _json(405, {"error": {"code": "METHOD_NOT_ALLOWED", "message": "POST feedback here"}})
        else:
            status, body = await self._record(await _read(receive))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _record(self, body: bytes | None) -> tuple[int, bytes]:
        if body is None:
            return _json(413, {"error": {"code": "TOO_LARGE", "message": f"feedback over {MAX_FEEDBACK_BYTES} bytes"}})
        try:
            items = parse_feedback(body, int(time.time() * 1000))
            if self.flush is not None:
                await asyncio.to_thread(self.flush)
            recorded = await asyncio.to_thread(self.store.record_feedback, items)
        except NotFound as exc:  # UnknownRequestIds in-process; NotFound through a server's store
            ids = exc.request_ids[:100] if isinstance(exc, UnknownRequestIds) else []
            return _json(404, {"error": {"code": "NOT_FOUND", "message": str(exc), "request_ids": ids}})
        except InvalidArgument as exc:
            return _json(400, {"error": {"code": "INVALID_ARGUMENT", "message": str(exc)}})
        except ModelyardError as exc:
            return _json(503 if exc.code == "UNAVAILABLE" else 500, {"error": {"code": exc.code, "message": str(exc)}})
        return _json(200, {"recorded": recorded})


async def _read(receive: Any) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FEEDBACK_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)
