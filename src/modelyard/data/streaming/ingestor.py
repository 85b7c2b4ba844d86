"""Stream ingestion: read a stream, seal micro-batches into dataset versions, acknowledge after.

Each sealed micro-batch becomes one version of the target dataset (one Parquet file, one row per
message, ``_message_id`` first) and, if some messages could not be parsed, one version of
``<dataset>.dead_letter`` holding them raw with the reason. Both record in their params where they
came from: ``source``, ``stream``, ``group``, ``consumer``, ``first_message_id``,
``last_message_id`` and ``messages``.

Order of a seal, which is what makes a crash harmless:

1. the batch's Parquet files are written and recorded as versions (``DatasetService.add`` is
   atomic: an interrupted add leaves no visible version);
2. only then are the batch's message ids acknowledged.

A crash before 2 leaves the messages pending in the group, so they come back (``redelivered``) to
the restarted consumer, or to another one that claims them. Before keeping a redelivered message
the ingestor looks for its id in the versions already committed from the same stream and group
whose id range covers it (their ``_message_id`` column), so a message committed but not
acknowledged is acknowledged again, not stored twice. Fresh messages (never delivered to the group
before) cannot be in any version and cost no lookup. This is exact with several consumers in one
group and with claimed messages, where a single "last sealed id" watermark would not be: ids reach
different consumers interleaved, and a claimed message is older than what its new owner sealed.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from modelyard.core.datasets import DatasetVersion
from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.data.refs import validate_dataset_name
from modelyard.data.service import DatasetService
from modelyard.data.streaming.batcher import MicroBatcher
from modelyard.data.streaming.parsing import (
    MESSAGE_ID_COLUMN,
    MessageParser,
    dead_letter_table,
)
from modelyard.data.streaming.source import StreamSource

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DEAD_LETTER_SUFFIX", "IngestListener", "SealedBatch", "StreamIngestor"]

DEAD_LETTER_SUFFIX = ".dead_letter"
_MAX_BLOCK_S = 1.0  # wake up at least this often (status line, stop requests)


@dataclass(frozen=True)
class SealedBatch:
    """What one seal did. ``version``/``dead_letter`` are None when there was nothing for them."""

    version: DatasetVersion | None
    dead_letter: DatasetVersion | None
    message_ids: tuple[str, ...]  # every id acknowledged by this seal
    rows: int
    dead: int
    duplicates: int  # redelivered messages found in versions committed before
    errors: tuple[str, ...] = field(default=())  # the dead letters' reasons
    #: the versions of rows committed before that hold some of the redelivered messages: a
    #: listener that acts on committed rows (the online push) acts on them again, since the
    #: crash that caused the redelivery may have come before it did
    replayed: tuple[DatasetVersion, ...] = field(default=())


class IngestListener(Protocol):
    """Observer of an ingestor: the CLI's status line; tests use ``on_committed`` to crash at the
    worst moment."""

    def on_read(self, count: int, window: int) -> None:
        """``count`` messages were read; the open window now holds ``window``."""

    def on_committed(self, batch: SealedBatch) -> None:
        """The batch's versions are committed; its messages are not acknowledged yet."""

    def on_sealed(self, batch: SealedBatch) -> None:
        """The batch is committed and acknowledged."""


class _Silent:
    def on_read(self, count: int, window: int) -> None:
        pass

    def on_committed(self, batch: SealedBatch) -> None:
        pass

    def on_sealed(self, batch: SealedBatch) -> None:
        pass


class StreamIngestor:
    """Consumes ``source`` into versions of ``dataset``, sealed by size or time window."""

    def __init__(
        self,
        service: DatasetService,
        source: StreamSource,
        dataset: str,
        *,
        max_rows: int | None = 10_000,
        every: float | None = 60.0,
        parser: MessageParser | None = None,
        clock: Callable[[], float] = time.monotonic,
        listener: IngestListener | None = None,
        claim_idle: float | None = None,
        read_count: int = 1000,
    ) -> None:
        """``claim_idle`` (seconds): also take over messages other consumers of the group left
        unacknowledged that long; it must exceed the time window plus a seal, or a live but slow
        consumer's messages are taken from it. None: never claim."""
        self.service = service
        self.source = source
        self.dataset = validate_dataset_name(dataset)
        self.dead_letter_name = validate_dataset_name(dataset + DEAD_LETTER_SUFFIX)
        self.parser = parser or MessageParser()
        self.batcher = MicroBatcher(max_messages=max_rows, every=every, clock=clock)
        self.listener: IngestListener = listener or _Silent()
        if claim_idle is not None and claim_idle < 0:
            raise InvalidArgument("the claim idle time must not be negative")
        self.claim_idle = claim_idle
        self.read_count = max(1, read_count)
        self._clock = clock
        self._last_claim: float | None = None
        key = "\0".join((self.dataset, source.kind, source.stream, source.group, source.consumer))
        self._staging = Path(service.cache_dir) / "streaming" / hashlib.sha256(key.encode()).hexdigest()[:24]

    # --- the loop ----------------------------------------------------------------------------

    def poll(self, *, block: bool = True) -> SealedBatch | None:
        """One step: claim stale messages if due, read what is there (waiting at most until the
        window closes when ``block``), and seal the window if it is due."""
        self._claim_if_due()
        room = self.batcher.room()
        if room is None or room > 0:
            block_ms: int | None = None
            if block:
                left = self.batcher.seconds_left()
                block_ms = max(1, int(1000 * min(_MAX_BLOCK_S, _MAX_BLOCK_S if left is None else left)))
            count = self.read_count if room is None else min(room, self.read_count)
            messages = self.source.read(count, block_ms)
            if messages:
                self.batcher.add(messages)
                self.listener.on_read(len(messages), len(self.batcher))
        return self.seal() if self.batcher.due() else None

    def run(
        self,
        *,
        max_batches: int | None = None,
        once: bool = False,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[SealedBatch]:
        """Poll until ``max_batches`` seals happened, or ``should_stop()``; ``once``: read what the
        stream holds now, seal it (by size along the way, the rest at the end) and return.

        Messages of a window still open when this returns (stopped, interrupted) are not sealed:
        they stay pending and come back on the next start."""
        sealed: list[SealedBatch] = []

        def done() -> bool:
            return (max_batches is not None and len(sealed) >= max_batches) or bool(should_stop and should_stop())

        while not done():
            before = len(self.batcher)
            batch = self.poll(block=not once)
            if batch is not None:
                sealed.append(batch)
            elif once and len(self.batcher) == before:  # drained
                last = self.seal()
                if last is not None:
                    sealed.append(last)
                break
        return sealed

    def _claim_if_due(self) -> None:
        if self.claim_idle is None:
            return
        now = self._clock()
        if self._last_claim is not None and now - self._last_claim < max(self.claim_idle / 2, 1.0):
            return
        self._last_claim = now
        room = self.batcher.room()
        if room == 0:
            return
        claimed = self.source.claim_stale(int(self.claim_idle * 1000), room or self.read_count)
        if claimed:
            self.batcher.add(claimed)
            self.listener.on_read(len(claimed), len(self.batcher))

    # --- sealing -----------------------------------------------------------------------------

    def seal(self) -> SealedBatch | None:
        """Seal the open window now (whatever its size or age); None if it is empty."""
        messages = self.batcher.take()
        if not messages:
            return None
        redelivered = [m.id for m in messages if m.redelivered]
        committed, replayed = self._committed(redelivered) if redelivered else (set(), [])
        fresh = [m for m in messages if m.id not in committed]
        table, dead = self.parser.to_table(fresh)
        version = self._commit(table, self.dataset, "rows.parquet") if table is not None else None
        dead_version = None
        if dead:
            dead_version = self._commit(dead_letter_table(dead), self.dead_letter_name, "dead_letter.parquet")
        batch = SealedBatch(
            version=version,
            dead_letter=dead_version,
            message_ids=tuple(m.id for m in messages),
            rows=0 if table is None else table.num_rows,
            dead=len(dead),
            duplicates=len(committed),
            errors=tuple(d.error for d in dead),
            replayed=tuple(replayed),
        )
        self.listener.on_committed(batch)
        self.source.ack(batch.message_ids)
        self.listener.on_sealed(batch)
        return batch

    def _commit(self, table: pa.Table, name: str, file_name: str) -> DatasetVersion:
        import pyarrow.parquet as pq

        ids = [str(i) for i in table.column(MESSAGE_ID_COLUMN).to_pylist()]
        keys = sorted(ids, key=self.source.order_key)
        self._staging.mkdir(parents=True, exist_ok=True)
        path = self._staging / file_name
        partial = path.with_name(f".{file_name}.partial")
        pq.write_table(table, partial)
        os.replace(partial, path)
        result = self.service.add(
            path,
            name=name,
            message=f"{len(ids)} messages from {self.source.kind} stream {self.source.stream}",
            source=f"{self.source.kind} stream {self.source.stream} (group {self.source.group})",
            params={
                "source": self.source.kind,
                "stream": self.source.stream,
                "group": self.source.group,
                "consumer": self.source.consumer,
                "first_message_id": keys[0],
                "last_message_id": keys[-1],
                "messages": len(ids),
            },
        )
        return result.version

    # --- deduplication -----------------------------------------------------------------------

    def committed_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are already in a version (rows or dead letters) committed from this
        stream and group, removed versions included (they were ingested all the same)."""
        return self._committed(ids)[0]

    def _committed(self, ids: Iterable[str]) -> tuple[set[str], list[DatasetVersion]]:
        """``committed_ids``, and the versions of rows (not dead letters, not removed) that hold some."""
        wanted = set(ids)
        if not wanted:
            return set(), []
        keys = [self.source.order_key(i) for i in wanted]
        found: set[str] = set()
        holding: list[DatasetVersion] = []
        for name in (self.dataset, self.dead_letter_name):
            try:
                versions = self.service.versions(name, include_removed=True)
            except NotFound:
                continue
            for version in versions:
                if not self._may_hold(version, keys):
                    continue
                held = wanted & self._version_ids(version)
                found |= held
                if held and name == self.dataset and version.removed_at is None:
                    holding.append(version)
        return found, holding

    def _may_hold(self, version: DatasetVersion, keys: list[tuple[int, ...]]) -> bool:
        params = version.params
        if (
            params.get("source") != self.source.kind
            or params.get("stream") != self.source.stream
            or params.get("group") != self.source.group
            or "first_message_id" not in params
            or "last_message_id" not in params
        ):
            return False
        first = self.source.order_key(params["first_message_id"])
        last = self.source.order_key(params["last_message_id"])
        return any(first <= k <= last for k in keys)

    def _version_ids(self, version: DatasetVersion) -> set[str]:
        import pyarrow.parquet as pq

        path = self.service.materialise(version)
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*.parquet"))
        out: set[str] = set()
        for file in files:
            column = pq.read_table(file, columns=[MESSAGE_ID_COLUMN]).column(MESSAGE_ID_COLUMN)
            out.update(str(v) for v in column.to_pylist())
        return out
