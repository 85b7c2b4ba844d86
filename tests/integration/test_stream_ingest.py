"""Streaming ingestion from Redis Streams (modelyard.data.streaming) against the real server.

Every test uses its own random key prefix (``redis_prefix``). Nothing here waits on the wall clock:
time windows run on an injected clock, and the crash test kills the consumer at points the
consumer itself announces (after reading part of a window; after committing a version but before
acknowledging it), then checks that every message is in exactly one version.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from modelyard.artifacts.cas import ContentAddressedStore
from modelyard.core.datasets import DatasetVersion
from modelyard.core.errors import NotFound
from modelyard.data import DatasetService
from modelyard.data.streaming import MESSAGE_ID_COLUMN, MessageParser, SealedBatch, StreamIngestor
from modelyard.data.streaming.redis_source import RedisStreamSource
from tests.fixtures.stores import joined_store

GROUP = "ingest"


def open_service(home: Path) -> DatasetService:
    """The dataset service over MODELYARD_HOME's default stores (what the SDK and the CLI use)."""
    home.mkdir(parents=True, exist_ok=True)  # as the SDK does for its home (stores opened here are outside it)
    store = joined_store(f"sqlite:///{home / 'modelyard.db'}")
    return DatasetService(store, ContentAddressedStore(str(home / "artifacts")), home / "cache")  # type: ignore[arg-type]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[DatasetService]:
    svc = open_service(tmp_path / ".modelyard")
    yield svc
    svc.close()
    svc.store.close()  # type: ignore[attr-defined]


def source(client: Any, stream: str, consumer: str = "c1", group: str = GROUP) -> RedisStreamSource:
    return RedisStreamSource(client, stream, group, consumer)


def add_flat(client: Any, stream: str, count: int, start: int = 0) -> list[str]:
    return [client.xadd(stream, {"n": str(i), "kind": "click"}).decode() for i in range(start, start + count)]


def rows_of(service: DatasetService, name: str) -> list[dict[str, Any]]:
    """Every row of every version of ``name`` (oldest version first)."""
    try:
        versions = service.versions(name)
    except NotFound:
        return []
    rows: list[dict[str, Any]] = []
    for version in versions:
        rows.extend(pq.read_table(service.materialise(version)).to_pylist())
    return rows


def pending_count(client: Any, stream: str, group: str = GROUP) -> int:
    import redis

    try:
        return int(client.xpending(stream, group)["pending"])
    except redis.ResponseError:  # NOGROUP: no consumer has started yet
        return 0


class Recorder:
    def __init__(self) -> None:
        self.committed: list[SealedBatch] = []
        self.sealed: list[SealedBatch] = []

    def on_read(self, count: int, window: int) -> None:
        pass

    def on_committed(self, batch: SealedBatch) -> None:
        self.committed.append(batch)

    def on_sealed(self, batch: SealedBatch) -> None:
        self.sealed.append(batch)


def test_messages_become_versions_sealed_by_size(service: DatasetService, redis_client: Any, redis_prefix: str) -> None:
    stream = redis_prefix + "clicks"
    ids = add_flat(redis_client, stream, 10)
    ingestor = StreamIngestor(service, source(redis_client, stream), "clicks", max_rows=4, every=None)
    sealed = ingestor.run(once=True)

    assert [b.rows for b in sealed] == [4, 4, 2]
    versions = service.versions("clicks")
    assert [v.version for v in versions] == [1, 2, 3]
    first = versions[0]
    assert dict(first.params) == {
        "source": "redis",
        "stream": stream,
        "group": GROUP,
        "consumer": "c1",
        "first_message_id": ids[0],
        "last_message_id": ids[3],
        "messages": "4",
    }
    assert first.source == f"redis stream {stream} (group {GROUP})"  # not the staging file
    rows = rows_of(service, "clicks")
    assert [r[MESSAGE_ID_COLUMN] for r in rows] == ids
    assert [r["n"] for r in rows] == [str(i) for i in range(10)]
    assert {r["kind"] for r in rows} == {"click"}
    assert pending_count(redis_client, stream) == 0  # all acknowledged after their commit


def test_json_field_messages_keep_their_types(service: DatasetService, redis_client: Any, redis_prefix: str) -> None:
    stream = redis_prefix + "orders"
    for i in range(3):
        redis_client.xadd(stream, {"data": orjson.dumps({"id": i, "amount": i * 1.5, "tags": ["a"], "ok": True})})
    ingestor = StreamIngestor(
        service, source(redis_client, stream), "orders", parser=MessageParser("data"), max_rows=100, every=None
    )
    ingestor.run(once=True)
    table = pq.read_table(service.materialise(service.resolve("orders@v1")))
    assert table.column_names == [MESSAGE_ID_COLUMN, "id", "amount", "tags", "ok"]
    assert table.column("amount").to_pylist() == [0.0, 1.5, 3.0]
    assert table.column("tags").to_pylist() == [["a"]] * 3


def test_bad_messages_go_to_the_dead_letter_dataset(
    service: DatasetService, redis_client: Any, redis_prefix: str
) -> None:
    stream = redis_prefix + "orders"
    good = [redis_client.xadd(stream, {"data": orjson.dumps({"id": i})}).decode() for i in range(3)]
    bad = [
        redis_client.xadd(stream, {"data": b"{not json"}).decode(),
        redis_client.xadd(stream, {"data": b"[1, 2]"}).decode(),
        redis_client.xadd(stream, {"other": b"x"}).decode(),
        redis_client.xadd(stream, {"data": orjson.dumps({"_message_id": "forged"})}).decode(),
        redis_client.xadd(stream, {"data": b"\xff\xfe"}).decode(),
    ]
    ingestor = StreamIngestor(
        service, source(redis_client, stream), "orders", parser=MessageParser("data"), max_rows=100, every=None
    )
    (batch,) = ingestor.run(once=True)

    assert (batch.rows, batch.dead) == (3, 5)
    assert [r["id"] for r in rows_of(service, "orders")] == [0, 1, 2]
    assert [r[MESSAGE_ID_COLUMN] for r in rows_of(service, "orders")] == good
    dead = rows_of(service, "orders.dead_letter")
    assert [d[MESSAGE_ID_COLUMN] for d in dead] == bad
    assert "not valid JSON" in dead[0]["error"]
    assert "not an object" in dead[1]["error"]
    assert "no field 'data'" in dead[2]["error"]
    assert "reserved" in dead[3]["error"]
    assert dead[4]["fields"] == [{"name": b"data", "value": b"\xff\xfe"}]  # raw bytes, kept as they came
    dead_version = service.resolve("orders.dead_letter@v1")
    assert dead_version.params["stream"] == stream
    assert pending_count(redis_client, stream) == 0  # dead letters are acknowledged once stored


def test_column_type_clash_dead_letters_only_the_clashing_message(
    service: DatasetService, redis_client: Any, redis_prefix: str
) -> None:
    stream = redis_prefix + "mixed"
    ids = [
        redis_client.xadd(stream, {"data": orjson.dumps(row)}).decode() for row in ({"x": 1}, {"x": "one"}, {"x": 2})
    ]
    ingestor = StreamIngestor(
        service, source(redis_client, stream), "mixed", parser=MessageParser("data"), max_rows=10, every=None
    )
    (batch,) = ingestor.run(once=True)
    assert (batch.rows, batch.dead) == (2, 1)
    assert [r["x"] for r in rows_of(service, "mixed")] == [1, 2]
    assert [d[MESSAGE_ID_COLUMN] for d in rows_of(service, "mixed.dead_letter")] == [ids[1]]


def test_time_window_seals_on_the_injected_clock(service: DatasetService, redis_client: Any, redis_prefix: str) -> None:
    stream = redis_prefix + "ticks"
    now = [1000.0]
    ingestor = StreamIngestor(
        service, source(redis_client, stream), "ticks", max_rows=None, every=10.0, clock=lambda: now[0]
    )
    assert ingestor.poll(block=False) is None  # nothing yet: no window open
    add_flat(redis_client, stream, 3)
    assert ingestor.poll(block=False) is None  # window opens at 1000
    now[0] = 1009.5
    add_flat(redis_client, stream, 2, start=3)
    assert ingestor.poll(block=False) is None
    assert ingestor.batcher.seconds_left() == pytest.approx(0.5)
    now[0] = 1010.0
    batch = ingestor.poll(block=False)
    assert batch is not None and batch.rows == 5
    now[0] = 1500.0  # a long quiet time seals nothing: an empty window is not a version
    assert ingestor.poll(block=False) is None
    add_flat(redis_client, stream, 1, start=5)
    assert ingestor.poll(block=False) is None  # the new window opened at 1500
    now[0] = 1509.0
    assert ingestor.poll(block=False) is None
    now[0] = 1510.0
    second = ingestor.poll(block=False)
    assert second is not None and second.rows == 1
    assert [v.version for v in service.versions("ticks")] == [1, 2]


def test_two_consumers_in_one_group_split_the_work(
    service: DatasetService, redis_client: Any, redis_prefix: str
) -> None:
    stream = redis_prefix + "shared"
    ids = add_flat(redis_client, stream, 200)
    a = StreamIngestor(service, source(redis_client, stream, "a"), "shared", max_rows=15, every=None, read_count=7)
    b = StreamIngestor(service, source(redis_client, stream, "b"), "shared", max_rows=15, every=None, read_count=7)
    sealed: dict[str, list[SealedBatch]] = {"a": [], "b": []}
    for _ in range(100):  # alternate polls; each poll reads at most 7 messages
        for name, ingestor in (("a", a), ("b", b)):
            batch = ingestor.poll(block=False)
            if batch is not None:
                sealed[name].append(batch)
    for name, ingestor in (("a", a), ("b", b)):
        last = ingestor.seal()
        if last is not None:
            sealed[name].append(last)

    assert sealed["a"] and sealed["b"]  # both took part
    rows = rows_of(service, "shared")
    counts = Counter(r[MESSAGE_ID_COLUMN] for r in rows)
    assert set(counts) == set(ids) and max(counts.values()) == 1
    consumers = {v.params["consumer"] for v in service.versions("shared")}
    assert consumers == {"a", "b"}
    assert pending_count(redis_client, stream) == 0


class Crash(Exception):
    pass


class CrashAfterCommit(Recorder):
    def on_committed(self, batch: SealedBatch) -> None:
        super().on_committed(batch)
        raise Crash("the process dies between commit and acknowledgement")


def test_redelivered_messages_already_committed_are_not_stored_twice(
    service: DatasetService, redis_client: Any, redis_prefix: str
) -> None:
    stream = redis_prefix + "events"
    stream_ids = add_flat(redis_client, stream, 6)
    crashing = StreamIngestor(
        service, source(redis_client, stream), "events", max_rows=4, every=None, listener=CrashAfterCommit()
    )
    with pytest.raises(Crash):
        crashing.run()
    assert pending_count(redis_client, stream) == 4  # committed as events@v1, never acknowledged

    recorder = Recorder()
    restarted = StreamIngestor(
        service, source(redis_client, stream), "events", max_rows=4, every=None, listener=recorder
    )
    sealed = restarted.run(once=True)
    assert sealed[0].duplicates == 4 and sealed[0].version is None  # re-read, found in v1, acknowledged
    assert [r[MESSAGE_ID_COLUMN] for r in rows_of(service, "events")] == stream_ids
    assert pending_count(redis_client, stream) == 0


def test_a_dead_consumers_messages_are_claimed_once(
    service: DatasetService, redis_client: Any, redis_prefix: str
) -> None:
    stream = redis_prefix + "claims"
    ids = add_flat(redis_client, stream, 8)
    dead = source(redis_client, stream, "dead")
    assert len(dead.read(5, None)) == 5  # delivered to "dead", which then disappears
    survivor = StreamIngestor(
        service, source(redis_client, stream, "alive"), "claims", max_rows=100, every=None, claim_idle=0
    )
    sealed = survivor.run(once=True)
    assert sum(b.rows for b in sealed) == 8
    assert sorted(r[MESSAGE_ID_COLUMN] for r in rows_of(service, "claims")) == sorted(ids)
    assert pending_count(redis_client, stream) == 0


def test_an_entry_deleted_while_pending_is_dead_lettered(
    service: DatasetService, redis_client: Any, redis_prefix: str
) -> None:
    stream = redis_prefix + "trimmed"
    ids = add_flat(redis_client, stream, 3)
    first = source(redis_client, stream)
    assert len(first.read(10, None)) == 3  # read, then the consumer stops before sealing
    redis_client.xdel(stream, ids[1])
    restarted = StreamIngestor(service, source(redis_client, stream), "trimmed", max_rows=100, every=None)
    (batch,) = restarted.run(once=True)
    assert (batch.rows, batch.dead) == (2, 1)
    (letter,) = rows_of(service, "trimmed.dead_letter")
    assert letter[MESSAGE_ID_COLUMN] == ids[1] and "deleted" in letter["error"]


# --- kill -9 mid-batch, restart, nothing lost or duplicated -------------------------------------

CHILD = textwrap.dedent(
    """
    import sys, threading
    from modelyard import datasets
    from modelyard.data.streaming import MessageParser, StreamIngestor
    from modelyard.data.streaming.redis_source import RedisStreamSource

    url, stream, group, consumer, dataset, mode = sys.argv[1:7]
    source = RedisStreamSource.from_url(url, stream, group, consumer)

    class Stopper:
        def __init__(self):
            self.sealed = 0
        def freeze(self, what):
            print(what, flush=True)          # the parent SIGKILLs us now
            threading.Event().wait()
        def on_read(self, count, window):
            if mode == "mid-window" and self.sealed >= 1 and window >= 25:
                self.freeze("MID-WINDOW")
        def on_committed(self, batch):
            if mode == "after-commit" and self.sealed == 1:
                self.freeze("COMMITTED-NOT-ACKED")
        def on_sealed(self, batch):
            self.sealed += 1

    ingestor = StreamIngestor(
        datasets.service(), source, dataset, max_rows=50, every=None, listener=Stopper(), read_count=10,
        parser=MessageParser("data"),
    )
    ingestor.run()
    """
)


def versions_of(home: Path, name: str) -> list[DatasetVersion]:
    svc = open_service(home)
    try:
        return svc.versions(name)
    finally:
        svc.close()
        svc.store.close()  # type: ignore[attr-defined]


def run_until_killed(script: Path, args: list[str], env: dict[str, str], marker: str) -> None:
    child = subprocess.Popen(
        [sys.executable, str(script), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        if line != marker:
            child.kill()
            _, err = child.communicate()
            pytest.fail(f"the consumer did not reach {marker}: {line!r} {err[-2000:]}")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
        if child.stdout:
            child.stdout.close()
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_sigkill_mid_batch_then_restart_loses_and_duplicates_nothing(
    tmp_path: Path, redis_url: str, redis_client: Any, redis_prefix: str
) -> None:
    stream = redis_prefix + "payments"
    ids = [redis_client.xadd(stream, {"data": orjson.dumps({"seq": i})}).decode() for i in range(300)]
    bad = redis_client.xadd(stream, {"data": b"garbage"}).decode()
    ids += [redis_client.xadd(stream, {"data": orjson.dumps({"seq": i})}).decode() for i in range(300, 330)]
    home = tmp_path / ".modelyard"
    env = {**os.environ, "MODELYARD_HOME": str(home)}
    for key in ("MODELYARD_STORE_URI", "MODELYARD_ARTIFACT_URI"):
        env.pop(key, None)
    script = tmp_path / "consumer.py"
    script.write_text(CHILD)
    args = [redis_url, stream, GROUP, "worker-1", "payments"]

    # 1. killed after committing its 2nd version, before acknowledging it
    run_until_killed(script, [*args, "after-commit"], env, "COMMITTED-NOT-ACKED")
    assert pending_count(redis_client, stream) == 50  # payments@v2 is committed, its 50 ids are not acknowledged
    assert [v.version for v in versions_of(home, "payments")] == [1, 2]
    # 2. restarted (re-reads its pending messages first), killed with a half-full window
    run_until_killed(script, [*args, "mid-window"], env, "MID-WINDOW")
    assert pending_count(redis_client, stream) >= 25  # the open window: read, neither sealed nor acknowledged
    assert [v.version for v in versions_of(home, "payments")] == [1, 2]  # the redelivered 50 were not re-stored
    # 3. restarted through the CLI, which drains the stream and stops
    cli = [sys.executable, "-m", "modelyard.cli.main", "ingest", "stream", "--redis", redis_url]
    cli += ["--stream", stream, "--to", "payments", "--group", GROUP, "--consumer", "worker-1"]
    cli += ["--json-field", "data", "--once", "--max-rows", "50"]
    done = subprocess.run(cli, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr

    svc = open_service(home)
    try:
        rows = rows_of(svc, "payments")
        counts = Counter(r[MESSAGE_ID_COLUMN] for r in rows)
        assert sorted(counts, key=lambda i: tuple(map(int, i.split("-")))) == ids  # nothing lost...
        assert max(counts.values()) == 1  # ...nothing twice
        assert sorted(r["seq"] for r in rows) == list(range(330))
        dead = rows_of(svc, "payments.dead_letter")
        assert [d[MESSAGE_ID_COLUMN] for d in dead] == [bad]
        versions: list[DatasetVersion] = svc.versions("payments")
        assert all(v.params["consumer"] == "worker-1" for v in versions)
    finally:
        svc.close()
        svc.store.close()  # type: ignore[attr-defined]
    assert pending_count(redis_client, stream) == 0


def wait_for(condition: Any, what: str, child: subprocess.Popen[str]) -> None:
    """Poll until ``condition()`` (a deadline only guards against a hang; nothing asserts on time)."""
    import time

    deadline = time.monotonic() + 60
    while not condition():
        if child.poll() is not None:
            pytest.fail(f"the consumer exited ({child.returncode}) before {what}: {child.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_ctrl_c_seals_nothing_and_the_window_is_read_again(
    tmp_path: Path, redis_url: str, redis_client: Any, redis_prefix: str
) -> None:
    stream = redis_prefix + "interrupted"
    ids = add_flat(redis_client, stream, 5)
    home = tmp_path / ".modelyard"
    env = {**os.environ, "MODELYARD_HOME": str(home)}
    base = [sys.executable, "-m", "modelyard.cli.main", "ingest", "stream", "--redis", redis_url]
    base += ["--stream", stream, "--to", "clicks", "--group", GROUP, "--consumer", "c1"]
    cli = [*base, "--every", "1h", "--max-rows", "100"]
    child = subprocess.Popen(cli, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Once the 5 messages are pending for c1 they sit in its open window (sealed only in an hour).
        wait_for(lambda: pending_count(redis_client, stream) == 5, "the consumer read the messages", child)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate()
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 130, err
    assert "5 messages of the open window were not sealed" in out
    assert not (home / "modelyard.db").exists() or versions_or_none(home, "clicks") is None
    assert pending_count(redis_client, stream) == 5

    again = subprocess.run([*base, "--once"], env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    svc = open_service(home)
    try:
        assert [r[MESSAGE_ID_COLUMN] for r in rows_of(svc, "clicks")] == ids
    finally:
        svc.close()
        svc.store.close()  # type: ignore[attr-defined]
    assert pending_count(redis_client, stream) == 0


def versions_or_none(home: Path, name: str) -> list[DatasetVersion] | None:
    try:
        return versions_of(home, name)
    except NotFound:
        return None
