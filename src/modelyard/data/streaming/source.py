"""The consumer interface every stream adapter implements (Redis Streams now; Kafka, NATS later).

An adapter speaks its broker's consumer-group protocol and nothing else: it hands out messages
with the broker's own ids, acknowledges ids, and takes over messages that a dead consumer of the
same group left unacknowledged. Deciding what a message *means*, batching, versioning and
deduplication live in the ingestor, so an adapter stays a page of code.

Delivery is at least once: a message may come back (``redelivered=True``) after a crash between
the moment its batch was committed and the moment it was acknowledged. The ingestor makes that
exactly-once in effect by checking redelivered ids against the ids already recorded in versions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["StreamMessage", "StreamSource"]


@dataclass(frozen=True)
class StreamMessage:
    """One message as the broker delivered it: raw bytes, not yet parsed."""

    id: str
    fields: Mapping[bytes, bytes] = field(default_factory=dict)
    #: Delivered before (re-read after a restart, or claimed from a dead consumer): it may already
    #: be in a committed version, so the ingestor checks before keeping it.
    redelivered: bool = False
    #: The broker still lists the id but the entry itself is gone (trimmed or deleted).
    deleted: bool = False


@runtime_checkable
class StreamSource(Protocol):
    """A consumer in a consumer group of one stream."""

    @property
    def stream(self) -> str: ...

    @property
    def group(self) -> str: ...

    @property
    def consumer(self) -> str: ...

    @property
    def kind(self) -> str:
        """Short name of the broker (``redis``), recorded in each version's params."""
        ...

    def read(self, max_count: int, block_ms: int | None) -> list[StreamMessage]:
        """Up to ``max_count`` messages for this consumer, oldest first. The first reads after a
        start return this consumer's own unacknowledged messages (``redelivered=True``), then new
        ones. ``block_ms``: wait at most that long when there is nothing (None: do not wait)."""
        ...

    def ack(self, ids: Sequence[str]) -> None:
        """Acknowledge: the group will not deliver these ids again."""
        ...

    def claim_stale(self, min_idle_ms: int, max_count: int) -> list[StreamMessage]:
        """Take over messages other consumers of the group received but did not acknowledge for
        ``min_idle_ms`` (their consumer died). Returned with ``redelivered=True``."""
        ...

    def order_key(self, message_id: str) -> tuple[int, ...]:
        """A sort key for ids (ids are ordered within a stream): used for the id ranges of versions."""
        ...

    def close(self) -> None: ...
