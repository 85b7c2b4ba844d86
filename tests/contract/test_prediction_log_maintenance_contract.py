"""Prediction-log compaction and retention (``serving/logmaint.py``) on SQLite and PostgreSQL:
rows, order and feedback survive a compaction; every index row points at a stored blob and no
blob is left behind; concurrent maintainers do each piece of work once; a reader racing a
compaction sees every row exactly once. Over a server's HTTP stores maintenance is refused in one
line (blobs are deleted where the stores are)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.core.ids import new_id
from modelyard.core.serving import Feedback
from modelyard.serving.endpoint import PredictionRecord
from modelyard.serving.logmaint import DAY_MS, LogMaintainer
from modelyard.serving.predictions import predictions
from modelyard.serving.predlog import PredictionLogger
from modelyard.store import Stores


@pytest.fixture
def local(stores: Stores, backend: str) -> Iterator[Stores]:
    if backend == "http":
        pytest.skip("maintenance runs where the stores are (checked by test_refused_over_a_server)")
    yield stores


def _log(stores: Stores, endpoint: str, times: list[int], per_partition: int, prefix: str = "r") -> None:
    """Rows at ``times`` (request ids ``<prefix><i>``), ``per_partition`` rows per logged partition."""
    with PredictionLogger(stores.serving, stores.artifacts, flush_interval_s=60) as log:
        for i, t in enumerate(times):
            log.offer(
                PredictionRecord(f"{prefix}{i}", endpoint, "main", "m", 1, {"x": [i]}, [i % 2], 1.0, t, False, "ok")
            )
            if i % per_partition == per_partition - 1:
                assert log.flush()


def _partitions(stores: Stores, endpoint: str = "api") -> list:
    return stores.serving.list_prediction_partitions(endpoint, 0, 2**62)


def _consistent(stores: Stores) -> None:
    """Every index row has its blob, and every blob is some index row's (the artifact store of a
    contract test holds prediction logs only)."""
    indexed = {p.digest for e in ("api", "other") for p in _partitions(stores, e)}
    stored = set(stores.artifacts.iter_digests())
    assert indexed == stored
    assert stores.serving.list_blob_deletions("api") == []


def test_compaction_keeps_rows_order_and_feedback_and_deletes_the_old_blobs(local: Stores) -> None:
    _log(local, "api", [1_000 + i for i in range(12)], 3)  # four partitions of three rows
    _log(local, "other", [1_000, 1_001], 1, prefix="o")
    local.serving.record_feedback([Feedback(request_id="r4", value=0, at=9)])
    before = predictions(local, "api")
    old = {p.digest for p in _partitions(local)}
    result = LogMaintainer(local).compact("api", before_ms=1_009, target_rows=9)
    assert (result.replaced, result.written, result.blobs_deleted) == (3, 1, 3)  # the last one is too recent
    assert [p.row_count for p in _partitions(local)] == [9, 3]
    assert not any(local.artifacts.exists(d) for d in old - {p.digest for p in _partitions(local)})
    _consistent(local)
    after = predictions(local, "api")
    assert after.drop(columns=["inputs", "outputs"]).equals(before.drop(columns=["inputs", "outputs"]))
    assert after["inputs"].tolist() == before["inputs"].tolist()
    assert after.set_index("request_id").loc["r4", "feedback"] == 0
    local.serving.record_feedback([Feedback(request_id="r1", value=1, at=9)])  # ids moved with their rows
    assert predictions(local, "api").set_index("request_id").loc["r1", "feedback"] == 1
    again = LogMaintainer(local).compact("api", before_ms=1_009, target_rows=9)
    assert (again.replaced, again.written) == (0, 0)
    assert len(_partitions(local, "other")) == 2  # another endpoint is untouched


def test_retention_deletes_old_partitions_with_feedback_and_blobs(local: Stores) -> None:
    _log(local, "api", [1_000 + i for i in range(6)] + [5_000 + i for i in range(3)], 3)
    local.serving.record_feedback([Feedback(request_id="r1", value=1, at=9), Feedback(request_id="r7", value=0, at=9)])
    result = LogMaintainer(local).prune("api", before_ms=1_005)  # the second partition ends at 1_005: kept
    assert (result.pruned, result.pruned_rows, result.blobs_deleted) == (1, 3, 1)
    result = LogMaintainer(local).prune("api", before_ms=5_000)
    assert (result.pruned, result.pruned_rows) == (1, 3)
    frame = predictions(local, "api")
    assert frame["request_id"].tolist() == ["r6", "r7", "r8"]
    assert frame.set_index("request_id").loc["r7", "feedback"] == 0
    assert local.serving.get_feedback(["r1"]) == {}  # pruned with its prediction
    with pytest.raises(NotFound, match="r1"):  # and feedback for it is refused now
        local.serving.record_feedback([Feedback(request_id="r1", value=1, at=10)])
    _consistent(local)
    assert LogMaintainer(local).prune("api", before_ms=5_000).pruned == 0


def test_a_deployments_retention_is_applied_by_the_serving_processes_periodic_work(local: Stores) -> None:
    from modelyard.core.serving import DeploymentSpec, VariantSpec
    from modelyard.serving.hosting import LogRetention

    spec = DeploymentSpec(variants=(VariantSpec(name="main", model="m", ref="1", version=1, traffic=100),))
    local.serving.create_deployment("api", spec, actor="ana", at=1)
    local.serving.create_deployment("other", spec, actor="ana", at=1)
    now = 100 * DAY_MS
    _log(local, "api", [now - 40 * DAY_MS, now - 35 * DAY_MS, now - DAY_MS], 1)
    _log(local, "other", [now - 40 * DAY_MS], 1, prefix="o")

    class Service:
        def get(self, name: str):  # type: ignore[no-untyped-def]
            return local.serving.get_deployment(name)

    maintainer = LogMaintainer(local, clock=lambda: now)
    retention = LogRetention(Service(), maintainer, lambda: ["api", "other"], every_s=3600)  # type: ignore[arg-type]
    assert retention.run_once() == []  # no deployment has a retention yet
    keep_30 = spec.model_copy(update={"log_retention_days": 30})
    local.serving.update_deployment("api", keep_30, expected_revision=1, actor="ana", at=2)
    retention.tick()
    retention.join()
    assert [p.start_ms for p in _partitions(local)] == [now - DAY_MS]
    assert len(_partitions(local, "other")) == 1  # no retention: kept
    _consistent(local)


def test_one_claim_per_endpoint_taken_over_once_expired(local: Stores) -> None:
    serving = local.serving
    assert serving.claim_prediction_log("api", owner="a", at=0, lease_ms=100)
    assert not serving.claim_prediction_log("api", owner="b", at=50, lease_ms=100)
    assert serving.claim_prediction_log("other", owner="b", at=50, lease_ms=100)  # per endpoint
    assert serving.claim_prediction_log("api", owner="a", at=60, lease_ms=100)  # renewed: until 160
    assert not serving.claim_prediction_log("api", owner="b", at=150, lease_ms=100)
    assert serving.claim_prediction_log("api", owner="b", at=160, lease_ms=100)  # expired: taken over
    serving.release_prediction_log("api", owner="a")  # not a's any more: nothing happens
    assert not serving.claim_prediction_log("api", owner="c", at=170, lease_ms=100)
    serving.release_prediction_log("api", owner="b")
    assert serving.claim_prediction_log("api", owner="c", at=170, lease_ms=100)
    _log(local, "api", [1, 2, 3, 4], 1)
    busy = LogMaintainer(local, clock=lambda: 180).compact("api", before_ms=10)
    assert busy.busy and busy.replaced == 0 and len(_partitions(local)) == 4


def test_a_maintainer_whose_claim_was_taken_over_stops(local: Stores) -> None:
    """Its lease expired mid-run and another maintainer claimed the endpoint: the first stops
    after the merge it was doing, leaving the rest to the new owner."""
    _log(local, "api", [1_000 + i for i in range(6)], 1)  # six partitions, merged two by two
    now = [0]
    slow = LogMaintainer(local, lease_ms=100, clock=lambda: now[0])
    merge = slow._merge

    def merge_then_lose_the_claim(endpoint: str, group: list) -> bool:
        done = merge(endpoint, group)
        now[0] += 1_000  # the lease ran out meanwhile
        assert local.serving.claim_prediction_log(endpoint, owner="other", at=now[0], lease_ms=10_000)
        return done

    slow._merge = merge_then_lose_the_claim  # type: ignore[method-assign]
    result = slow.compact("api", before_ms=2_000, target_rows=2)
    assert (result.replaced, result.written) == (2, 1)
    assert [p.row_count for p in _partitions(local)] == [2, 1, 1, 1, 1]
    _consistent(local)
    local.serving.release_prediction_log("api", owner="other")
    again = LogMaintainer(local).compact("api", before_ms=2_000, target_rows=2)
    assert (again.replaced, again.written) == (4, 2)


def test_concurrent_maintainers_do_the_work_once(local: Stores) -> None:
    _log(local, "api", [1_000 + i for i in range(16)], 2)  # eight partitions
    local.serving.record_feedback([Feedback(request_id="r5", value=1, at=9)])
    before = predictions(local, "api")
    results = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        results.append(LogMaintainer(local).compact("api", before_ms=2_000, target_rows=1_000))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.replaced for r in results) == 8 and sum(r.written for r in results) == 1
    assert [p.row_count for p in _partitions(local)] == [16]
    after = predictions(local, "api")
    assert after["request_id"].tolist() == before["request_id"].tolist()
    assert after.set_index("request_id").loc["r5", "feedback"] == 1
    _consistent(local)


def _crashed_compaction(stores: Stores) -> list:
    """Four partitions swapped for a merged one by a compactor that died before deleting the old
    blobs; returns the old partitions."""
    _log(stores, "api", [1, 2, 3, 4], 2)
    old = _partitions(stores)
    data = b"".join(stores.artifacts.get_bytes(p.digest) for p in old[:1])  # any stored bytes will do
    blob = stores.artifacts.put_bytes(data + b"merged")
    merged = old[0].model_copy(update={"id": new_id(), "digest": blob.digest, "size": blob.size, "row_count": 4})
    stores.serving.compact_prediction_partitions("api", [p.id for p in old], merged)
    return old


def test_blobs_queued_by_a_crashed_run_are_deleted_by_the_next(local: Stores) -> None:
    old = _crashed_compaction(local)
    assert sorted(local.serving.list_blob_deletions("api")) == sorted(p.digest for p in old)
    assert all(local.artifacts.exists(p.digest) for p in old)
    assert LogMaintainer(local).prune("api", before_ms=0).blobs_deleted == 2
    _consistent(local)


def test_a_compactor_that_lost_its_partitions_deletes_only_its_own_blob(local: Stores) -> None:
    """A lease that expired mid-run: another maintainer swapped the same partitions first."""
    old = _crashed_compaction(local)
    merged = _partitions(local)
    stored = set(local.artifacts.iter_digests())
    assert LogMaintainer(local)._merge("api", old) is False  # Conflict inside; its new blob removed
    assert _partitions(local) == merged and set(local.artifacts.iter_digests()) == stored
    assert LogMaintainer(local).prune("api", before_ms=0).blobs_deleted == 2  # the old blobs go
    assert LogMaintainer(local)._merge("api", old) is False  # it cannot even read them now
    _consistent(local)


def test_a_reader_racing_a_compaction_sees_every_row_once(local: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader lists the partitions, then a compaction swaps them and deletes their blobs before
    the reader gets to them: it lists again and reads the merged partition."""
    _log(local, "api", [1_000 + i for i in range(6)], 2)
    expected = predictions(local, "api")["request_id"].tolist()
    real = local.serving.list_prediction_partitions
    calls: list[int] = []
    compacted = threading.Event()

    def listing_then_compaction(endpoint: str, start_ms: int, end_ms: int) -> list:
        found = real(endpoint, start_ms, end_ms)
        if not compacted.is_set():
            compacted.set()
            LogMaintainer(local).compact(endpoint, before_ms=5_000)  # lists through here too
        calls.append(len(found))
        return found

    monkeypatch.setattr(local.serving, "list_prediction_partitions", listing_then_compaction)
    frame = predictions(local, "api")
    assert calls == [3, 3, 1]  # the compactor's listing, the reader's first, the reader's second
    assert frame["request_id"].tolist() == expected


def test_refused_over_a_server(stores: Stores, backend: str) -> None:
    if backend != "http":
        pytest.skip("a server's stores only")
    with pytest.raises(InvalidArgument, match="--store"):
        LogMaintainer(stores)
