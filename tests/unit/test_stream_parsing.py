"""Streaming ingestion without a broker: parsing, micro-batching, and the ingestor's
commit-then-acknowledge and deduplication logic over an in-memory ``StreamSource``.

The same behaviour against the real Redis server is in tests/integration/test_stream_ingest.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from modelyard.artifacts.cas import ContentAddressedStore
from modelyard.core.errors import InvalidArgument
from modelyard.data import DatasetService
from modelyard.data.streaming import (
    MESSAGE_ID_COLUMN,
    MessageError,
    MessageParser,
    MicroBatcher,
    SealedBatch,
    StreamIngestor,
    StreamMessage,
    StreamSource,
)
from modelyard.data.streaming.parsing import dead_letter_table
from modelyard.data.streaming.redis_source import parse_stream_id
from tests.fixtures.stores import joined_store


def msg(i: int, fields: dict[bytes, bytes], redelivered: bool = False) -> StreamMessage:
    return StreamMessage(id=f"{1000 + i}-0", fields=fields, redelivered=redelivered)


class MemorySource:
    """A broker in a list: delivered-but-unacknowledged ids come back first after a 'restart'."""

    kind = "memory"
    stream = "s"
    group = "g"
    consumer = "c"

    def __init__(self, messages: Sequence[StreamMessage]) -> None:
        self.messages = list(messages)
        self.next = 0
        self.pending: dict[str, StreamMessage] = {}
        self.backlog: list[StreamMessage] = []

    def restart(self) -> None:
        self.backlog = [StreamMessage(m.id, m.fields, redelivered=True) for m in self.pending.values()]

    def read(self, max_count: int, block_ms: int | None) -> list[StreamMessage]:
        if self.backlog:
            out, self.backlog = self.backlog[:max_count], self.backlog[max_count:]
            return out
        out = self.messages[self.next : self.next + max_count]
        self.next += len(out)
        self.pending.update((m.id, m) for m in out)
        return out

    def ack(self, ids: Sequence[str]) -> None:
        for i in ids:
            self.pending.pop(i, None)

    def claim_stale(self, min_idle_ms: int, max_count: int) -> list[StreamMessage]:
        return []

    def order_key(self, message_id: str) -> tuple[int, ...]:
        return parse_stream_id(message_id)

    def close(self) -> None:
        pass


@pytest.fixture
def service(tmp_path: Path) -> Iterator[DatasetService]:
    store = joined_store(f"sqlite:///{tmp_path / 'meta.db'}")
    svc = DatasetService(store, ContentAddressedStore(str(tmp_path / "artifacts")), tmp_path / "cache")  # type: ignore[arg-type]
    yield svc
    svc.close()
    store.close()


def test_memory_source_satisfies_the_protocol() -> None:
    assert isinstance(MemorySource([]), StreamSource)


def test_flat_and_json_parsing() -> None:
    assert MessageParser().parse(msg(1, {b"a": b"1", b"b": b"x"})) == {"a": "1", "b": "x"}
    assert MessageParser("data").parse(msg(1, {b"data": b'{"a": 1, "b": [true]}', b"other": b"z"})) == {
        "a": 1,
        "b": [True],
    }
    for parser, fields, reason in [
        (MessageParser(), {b"a": b"\xff"}, "not UTF-8"),
        (MessageParser(), {b"_message_id": b"1"}, "reserved"),
        (MessageParser("data"), {b"x": b"{}"}, "no field"),
        (MessageParser("data"), {b"data": b"1"}, "not an object"),
        (MessageParser("data"), {b"data": b"{"}, "not valid JSON"),
    ]:
        with pytest.raises(MessageError, match=reason):
            parser.parse(msg(1, fields))
    with pytest.raises(MessageError, match="deleted"):
        MessageParser().parse(StreamMessage(id="1-0", deleted=True))


def test_to_table_keeps_ids_and_order() -> None:
    table, dead = MessageParser("data").to_table(
        [msg(1, {b"data": b'{"x": 1}'}), msg(2, {b"data": b"oops"}), msg(3, {b"data": b'{"x": 2, "y": "a"}'})]
    )
    assert dead[0].message.id == "1002-0"
    assert table is not None
    assert table.to_pylist() == [
        {MESSAGE_ID_COLUMN: "1001-0", "x": 1, "y": None},
        {MESSAGE_ID_COLUMN: "1003-0", "x": 2, "y": "a"},
    ]


def test_unstorable_or_clashing_rows_are_dead_letters_not_errors() -> None:
    payloads = [b'{"x": 1}', b'{"x": {}}', b'{"x": "one"}', b'{"x": 2.5}']
    table, dead = MessageParser("data").to_table([msg(i, {b"data": p}) for i, p in enumerate(payloads)])
    assert table is not None and table.column("x").to_pylist() == [1.0, 2.5]  # int and float unify
    assert [d.message.id for d in dead] == ["1001-0", "1002-0"]
    assert "Parquet" in dead[0].error and "clash" in dead[1].error


def _json_bytes(value: object) -> bytes:
    return json.dumps(value).encode()  # the stdlib writes integers of any size (orjson stops at 64 bits)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.dictionaries(st.sampled_from(["a", "b", "c"]), json_values, max_size=3).map(_json_bytes),
            st.binary(max_size=12),
        ),
        max_size=8,
    )
)
def test_every_message_is_a_row_or_a_dead_letter(payloads: list[bytes]) -> None:
    messages = [msg(i, {b"data": p}) for i, p in enumerate(payloads)]
    table, dead = MessageParser("data").to_table(messages)
    row_ids = [] if table is None else table.column(MESSAGE_ID_COLUMN).to_pylist()
    dead_ids = [d.message.id for d in dead]
    assert sorted(row_ids + dead_ids) == sorted(m.id for m in messages)
    assert row_ids == sorted(row_ids)
    if dead:
        assert dead_letter_table(dead).num_rows == len(dead)


def test_micro_batcher_seals_by_size_or_time() -> None:
    now = [0.0]
    batcher = MicroBatcher(max_messages=3, every=5.0, clock=lambda: now[0])
    assert not batcher.due() and batcher.seconds_left() is None
    assert batcher.add([msg(1, {b"a": b"1"}), msg(1, {b"a": b"1"})]) == 1  # the same id twice
    assert len(batcher) == 1 and "1001-0" in batcher and batcher.room() == 2
    now[0] = 4.0
    assert not batcher.due() and batcher.seconds_left() == 1.0
    now[0] = 5.0
    assert batcher.due()
    assert [m.id for m in batcher.take()] == ["1001-0"]
    batcher.add([msg(i, {b"a": b"1"}) for i in range(3)])
    assert batcher.due()  # full before its time
    with pytest.raises(InvalidArgument):
        MicroBatcher(max_messages=None, every=None)
    with pytest.raises(InvalidArgument):
        MicroBatcher(max_messages=0)


class Crash(Exception):
    pass


class CrashOnce:
    def __init__(self) -> None:
        self.armed = True

    def on_read(self, count: int, window: int) -> None:
        pass

    def on_committed(self, batch: SealedBatch) -> None:
        if self.armed:
            self.armed = False
            raise Crash

    def on_sealed(self, batch: SealedBatch) -> None:
        pass


def test_commit_then_ack_and_redelivery_is_deduplicated(service: DatasetService) -> None:
    source = MemorySource([msg(i, {b"data": b"bad" if i == 1 else orjson.dumps({"i": i})}) for i in range(5)])
    ingestor = StreamIngestor(
        service, source, "ds", parser=MessageParser("data"), max_rows=3, every=None, listener=CrashOnce()
    )
    with pytest.raises(Crash):
        ingestor.run()
    assert len(source.pending) == 3  # ds@v1 (2 rows) and ds.dead_letter@v1 (1) committed, nothing acknowledged
    assert service.resolve("ds@v1").params["messages"] == "2"
    source.restart()
    restarted = StreamIngestor(service, source, "ds", parser=MessageParser("data"), max_rows=3, every=None)
    sealed = restarted.run(once=True)
    assert [b.duplicates for b in sealed] == [3, 0]
    assert not source.pending
    ids = [
        r[MESSAGE_ID_COLUMN] for v in service.versions("ds") for r in pq.read_table(service.materialise(v)).to_pylist()
    ]
    assert ids == [f"{1000 + i}-0" for i in (0, 2, 3, 4)]
    assert [v.version for v in service.versions("ds.dead_letter")] == [1]  # the dead letter was not stored again


def test_cli_rejects_bad_options_and_an_unreachable_server() -> None:
    from modelyard.cli.main import app

    runner = CliRunner()
    base = ["ingest", "stream", "--stream", "s", "--to", "d"]
    bad = runner.invoke(app, [*base, "--redis", "redis://127.0.0.1:1/0", "--every", "soon"])
    assert bad.exit_code == 2 and "--every" in bad.output
    both = runner.invoke(app, [*base, "--redis", "redis://127.0.0.1:1/0", "--once", "--max-batches", "2"])
    assert both.exit_code == 2
    down = runner.invoke(app, [*base, "--redis", "redis://127.0.0.1:1/0", "--once"])
    assert down.exit_code == 1 and "unreachable" in down.output
