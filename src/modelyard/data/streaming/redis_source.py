"""Redis Streams as a ``StreamSource``: one consumer of a consumer group (XREADGROUP / XACK).

On start the consumer first re-reads its own pending entries (XREADGROUP with id ``0``: delivered
to it before, never acknowledged — it crashed, or was stopped, before their batch was committed
or acknowledged), then reads new entries (id ``>``). That is Redis's at-least-once contract; the
ingestor removes the duplicates it can cause. ``claim_stale`` takes over the pending entries of
another consumer of the group that stayed idle too long (XAUTOCLAIM), for consumers that never
come back under their old name.

The ``redis`` package is an optional extra (``modelyard[redis]``): it is imported when a source
is opened, so importing this module never needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidArgument, StoreUnavailable
from modelyard.core.extras import require_extra
from modelyard.data.streaming.source import StreamMessage

if TYPE_CHECKING:
    import redis

__all__ = ["RedisStreamSource", "parse_stream_id"]


def parse_stream_id(message_id: str) -> tuple[int, int]:
    """``"1700000000000-3"`` -> ``(1700000000000, 3)``: Redis stream ids sort by this pair."""
    ms, _, seq = message_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        raise InvalidArgument(f"not a Redis stream id: {message_id!r}") from None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStreamSource:
    """Consumer ``consumer`` of group ``group`` on stream ``stream``.

    The group is created when missing (with the stream, if needed), starting at ``start_id``:
    ``"0"`` reads the stream from its beginning, ``"$"`` only what arrives from now on."""

    kind = "redis"

    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        group: str,
        consumer: str,
        *,
        start_id: str = "0",
    ) -> None:
        for what, value in (("stream", stream), ("group", group), ("consumer", consumer)):
            if not value:
                raise InvalidArgument(f"the {what} name must not be empty")
        self._client = client
        self._stream = stream
        self._group = group
        self._consumer = consumer
        self._pending_cursor: str | None = "0"  # None once this consumer's own backlog is re-read
        self._ensure_group(start_id)

    @classmethod
    def from_url(cls, url: str, stream: str, group: str, consumer: str, *, start_id: str = "0") -> RedisStreamSource:
        """Connect to ``redis://host:port/db`` (or ``rediss://``, ``unix://``)."""
        redis = require_extra("redis", purpose="streaming from Redis needs the redis package")
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
        except ValueError as exc:
            raise InvalidArgument(f"bad Redis URL {url!r}: {exc}") from None
        return cls(client, stream, group, consumer, start_id=start_id)

    @property
    def stream(self) -> str:
        return self._stream

    @property
    def group(self) -> str:
        return self._group

    @property
    def consumer(self) -> str:
        return self._consumer

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        import redis

        try:
            return getattr(self._client, method)(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from None
        except redis.ResponseError as exc:
            if method == "xgroup_create":
                raise
            # NOGROUP (the stream or its group was deleted meanwhile), WRONGTYPE (not a stream)...
            raise InvalidArgument(f"Redis refused {method.upper()} on {self._stream!r}: {exc}") from None

    def _ensure_group(self, start_id: str) -> None:
        import redis

        try:
            self._call("xgroup_create", self._stream, self._group, id=start_id, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise InvalidArgument(f"cannot create consumer group {self._group!r}: {exc}") from None

    def read(self, max_count: int, block_ms: int | None) -> list[StreamMessage]:
        if max_count <= 0:
            return []
        if self._pending_cursor is not None:
            reply = self._call(
                "xreadgroup", self._group, self._consumer, {self._stream: self._pending_cursor}, count=max_count
            )
            messages = self._messages(reply, redelivered=True)
            if messages:
                self._pending_cursor = messages[-1].id
                return messages
            self._pending_cursor = None  # backlog re-read: from now on, new entries only
        reply = self._call(
            "xreadgroup", self._group, self._consumer, {self._stream: ">"}, count=max_count, block=block_ms
        )
        return self._messages(reply, redelivered=False)

    def ack(self, ids: Sequence[str]) -> None:
        if ids:
            self._call("xack", self._stream, self._group, *ids)

    def claim_stale(self, min_idle_ms: int, max_count: int) -> list[StreamMessage]:
        # Entries deleted from the stream are dropped from the pending list by XAUTOCLAIM itself.
        reply = self._call("xautoclaim", self._stream, self._group, self._consumer, min_idle_ms, "0-0", count=max_count)
        entries = reply[1] if reply else []
        return [self._message(entry_id, fields, redelivered=True) for entry_id, fields in entries]

    def order_key(self, message_id: str) -> tuple[int, ...]:
        return parse_stream_id(message_id)

    def close(self) -> None:
        self._client.close()

    def _messages(self, reply: Any, *, redelivered: bool) -> list[StreamMessage]:
        out: list[StreamMessage] = []
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                out.append(self._message(entry_id, fields, redelivered=redelivered))
        return out

    @staticmethod
    def _message(entry_id: bytes | str, fields: dict[bytes, bytes] | None, *, redelivered: bool) -> StreamMessage:
        # A pending entry that was deleted from the stream comes back with no fields (XADD never
        # stores an entry without fields).
        return StreamMessage(id=_text(entry_id), fields=dict(fields or {}), redelivered=redelivered, deleted=not fields)
