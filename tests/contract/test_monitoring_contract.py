"""The MonitoringStore contract: every backend (SQLite, PostgreSQL, the HTTP client) passes it.

Monitors and their specs, window claims (one winner per window, among threads and among
processes, and lease take-over), results, alerts with their history, silences and reference
profiles.
"""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from modelyard.core.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from modelyard.core.monitoring import (
    Alert,
    AlertEvent,
    AlertRule,
    MonitorSpec,
    ReferenceProfile,
    Silence,
    WindowResult,
    WindowSpec,
    fingerprint,
)
from modelyard.store import Stores
from modelyard.store.monitoring import MonitoringStore
from tests.contract.conftest import stores_for


@pytest.fixture
def monitoring(stores: Stores) -> MonitoringStore:
    return stores.monitoring


def spec(**kw: object) -> MonitorSpec:
    fields: dict[str, object] = {
        "window": WindowSpec(size=60_000),
        "signals": ("health", "drift"),
        "rules": (AlertRule(name="errors", signal="health.error_rate", threshold=0.1, for_windows=2),),
    }
    fields.update(kw)
    return MonitorSpec.model_validate(fields)


def result(monitor: str, start: int, owner: str, **kw: object) -> WindowResult:
    fields: dict[str, object] = {
        "monitor": monitor, "window_start": start, "window_end": start + 60_000, "status": "ok", "rows": 3,
        "first_ms": start + 1, "last_ms": start + 5, "values": {"health": {"error_rate": 0.5, "p95_ms": 12.5}},
        "notes": ["column 'age' is missing from the log"], "evaluated_at": 10, "evaluated_by": owner,
    }  # fmt: skip
    fields.update(kw)
    return WindowResult.model_validate(fields)


def test_monitor_crud(monitoring: MonitoringStore) -> None:
    created = monitoring.create_monitor("churn-mon", "churn-api", spec(), actor="ana", at=5)
    assert created.spec.rules[0].for_windows == 2 and created.created_by == "ana"
    assert monitoring.get_monitor("churn-mon") == created
    with pytest.raises(AlreadyExists):
        monitoring.create_monitor("churn-mon", "churn-api", spec(), actor="ana", at=6)
    monitoring.create_monitor("other", "fraud-api", spec(signals=("health",), rules=()), actor="bo", at=7)
    assert [m.name for m in monitoring.list_monitors()] == ["churn-mon", "other"]
    assert [m.name for m in monitoring.list_monitors("fraud-api")] == ["other"]
    updated = monitoring.update_monitor("churn-mon", spec(window=WindowSpec(size=10, by="count")), actor="bo", at=9)
    assert updated.spec.window.by == "count" and updated.updated_by == "bo" and updated.created_at == 5
    assert monitoring.get_monitor("churn-mon").spec.window.size == 10
    with pytest.raises(NotFound):
        monitoring.update_monitor("nope", spec(), actor="bo", at=9)
    monitoring.delete_monitor("other")
    with pytest.raises(NotFound):
        monitoring.get_monitor("other")
    with pytest.raises(NotFound):
        monitoring.delete_monitor("other")
    with pytest.raises(InvalidArgument):
        monitoring.create_monitor("bad/name", "churn-api", spec(), actor="ana", at=5)


def test_claims_are_won_once_and_leases_expire(monitoring: MonitoringStore) -> None:
    monitoring.create_monitor("m", "api", spec(), actor="ana", at=1)
    first = monitoring.claim_window("m", 0, 60_000, owner="a", at=100, lease_ms=1_000)
    assert first is not None and first.owner == "a" and first.expires_at == 1_100 and not first.done
    assert monitoring.claim_window("m", 0, 60_000, owner="b", at=200, lease_ms=1_000) is None
    taken = monitoring.claim_window("m", 0, 60_000, owner="b", at=1_100, lease_ms=1_000)
    assert taken is not None and taken.owner == "b"
    with pytest.raises(Conflict):  # a's lease was taken over: its late result is refused
        monitoring.complete_window(result("m", 0, "a"))
    stored = monitoring.complete_window(result("m", 0, "b"))
    assert stored.values["health"]["p95_ms"] == 12.5
    with pytest.raises(Conflict):
        monitoring.complete_window(result("m", 0, "b"))
    assert monitoring.claim_window("m", 0, 60_000, owner="c", at=10**9, lease_ms=1_000) is None  # done: never again
    assert monitoring.claim_window("m", 60_000, 120_000, owner="c", at=300, lease_ms=1_000) is not None
    last = monitoring.last_claim("m")
    assert last is not None and last.window_start == 60_000 and last.owner == "c"
    assert monitoring.last_claim("nope") is None
    with pytest.raises(NotFound):
        monitoring.claim_window("nope", 0, 1, owner="a", at=1, lease_ms=1)
    with pytest.raises(InvalidArgument):
        monitoring.claim_window("m", 5, 5, owner="a", at=1, lease_ms=1)


def test_window_results_newest_first(monitoring: MonitoringStore) -> None:
    monitoring.create_monitor("m", "api", spec(), actor="ana", at=1)
    for start in (0, 60_000, 120_000):
        assert monitoring.claim_window("m", start, start + 60_000, owner="a", at=1, lease_ms=10) is not None
        monitoring.complete_window(
            result("m", start, "a", status="no_traffic", rows=0, first_ms=None, last_ms=None, values={})
            if start == 60_000
            else result("m", start, "a")
        )
    found = monitoring.list_window_results("m", limit=2)
    assert [r.window_start for r in found] == [120_000, 60_000]
    assert found[1].status == "no_traffic" and found[1].rows == 0 and found[1].first_ms is None
    assert found[0].notes == ("column 'age' is missing from the log",)
    with pytest.raises(InvalidArgument):  # NaN is not JSON
        monitoring.claim_window("m", 180_000, 240_000, owner="a", at=1, lease_ms=10)
        monitoring.complete_window(result("m", 180_000, "a", values={"x": float("nan")}))
    monitoring.delete_monitor("m")
    assert monitoring.list_window_results("m") == []


def _claim_all(store_uri: str, home: str, owner: str, starts: list[int], out: object) -> None:
    with stores_for(store_uri, Path(home)) as stores:
        won = [s for s in starts if stores.monitoring.claim_window("m", s, s + 1, owner=owner, at=1, lease_ms=10**9)]
    out.put((owner, won))  # type: ignore[attr-defined]


def test_concurrent_claimers_never_share_a_window(stores: Stores, store_uri: str, tmp_path: Path) -> None:
    stores.monitoring.create_monitor("m", "api", spec(), actor="ana", at=1)
    starts = list(range(0, 40))
    won: dict[str, list[int]] = {}
    lock = threading.Lock()

    def claim(owner: str) -> None:
        with stores_for(store_uri, tmp_path) as mine:
            got = [s for s in starts if mine.monitoring.claim_window("m", s, s + 1, owner=owner, at=1, lease_ms=10**9)]
        with lock:
            won[owner] = got

    threads = [threading.Thread(target=claim, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [s for got in won.values() for s in got]
    assert sorted(claimed) == starts  # every window once, none twice

    more = list(range(100, 130))
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(store_uri, str(tmp_path), f"p{i}", more, queue)) for i in range(3)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    claimed = [s for _, got in results for s in got]
    assert sorted(claimed) == more


def test_alerts_and_history(monitoring: MonitoringStore) -> None:
    fp = fingerprint("m", "errors")
    alert = Alert(
        fingerprint=fp, monitor="m", rule="errors", signal="health.error_rate", severity="critical", state="firing",
        value=0.4, threshold=0.1, first_seen=10, last_seen=10, window_start=0, window_end=60_000,
    )  # fmt: skip
    events = monitoring.save_alert(alert, [AlertEvent(fingerprint=fp, monitor="m", rule="errors", kind="firing", at=10,
                                                       value=0.4, detail={"window": [0, 60_000]})])  # fmt: skip
    assert events[0].seq > 0 and events[0].detail == {"window": [0, 60_000]}
    assert monitoring.get_alert(fp) == alert
    resolved = alert.model_copy(update={"state": "resolved", "last_seen": 20, "resolved_at": 20, "value": 0.01})
    monitoring.save_alert(resolved, [AlertEvent(fingerprint=fp, monitor="m", rule="errors", kind="resolved", at=20)])
    monitoring.add_alert_events(
        [AlertEvent(fingerprint=fp, monitor="m", rule="errors", kind="notify_failed", at=21, detail={"error": "500"})]
    )
    assert monitoring.get_alert(fp).state == "resolved"
    assert [a.fingerprint for a in monitoring.list_alerts(monitor="m")] == [fp]
    assert monitoring.list_alerts(state="firing") == []
    history = monitoring.list_alert_events(fingerprint=fp)
    assert [e.kind for e in history] == ["firing", "resolved", "notify_failed"]
    assert [e.seq for e in history] == sorted(e.seq for e in history)
    assert [e.kind for e in monitoring.list_alert_events(monitor="m", limit=1)] == ["notify_failed"]
    with pytest.raises(NotFound):
        monitoring.get_alert("0" * 32)


def test_silences(monitoring: MonitoringStore) -> None:
    s = Silence(id="s1", matchers={"monitor": "m"}, start=100, end=200, created_by="ana", created_at=50, comment="x")
    assert monitoring.create_silence(s) == s
    with pytest.raises(AlreadyExists):
        monitoring.create_silence(s)
    assert [x.id for x in monitoring.list_silences(active_at=150)] == ["s1"]
    assert monitoring.list_silences(active_at=250) == []
    expired = monitoring.expire_silence("s1", at=120)
    assert expired.end == 120
    assert monitoring.list_silences(active_at=150) == []
    assert [x.id for x in monitoring.list_silences()] == ["s1"]
    with pytest.raises(NotFound):
        monitoring.expire_silence("nope", at=1)


def test_reference_profiles(stores: Stores) -> None:
    blob = stores.artifacts.put_bytes(b"profile bytes")
    ref = ReferenceProfile(
        model="churn", version=3, format="parquet", digest=blob.digest, size=blob.size, rows=100,
        summary={"columns": {"age": {"kind": "numeric"}}}, created_at=1, created_by="ana",
    )  # fmt: skip
    assert stores.monitoring.put_reference(ref) == ref
    assert stores.monitoring.get_reference("churn", 3) == ref
    again = ref.model_copy(update={"rows": 200})
    stores.monitoring.put_reference(again)
    stores.monitoring.put_reference(again.model_copy(update={"role": "evaluation"}))
    assert [(r.version, r.role, r.rows) for r in stores.monitoring.list_references("churn")] == [
        (3, "evaluation", 200),
        (3, "training", 200),
    ]
    with pytest.raises(NotFound):
        stores.monitoring.get_reference("churn", 4)
    assert stores.monitoring.delete_reference("churn", 3, "evaluation") is True
    assert stores.monitoring.delete_reference("churn", 3, "evaluation") is False  # nothing left to forget
    assert [r.role for r in stores.monitoring.list_references("churn")] == ["training"]
    with pytest.raises(NotFound):
        stores.monitoring.get_reference("churn", 3, "evaluation")


def test_a_done_window_is_revised_under_a_lease(monitoring: MonitoringStore) -> None:
    monitoring.create_monitor("m", "api", spec(), actor="ana", at=1)
    assert monitoring.claim_window("m", 0, 60_000, owner="a", at=100, lease_ms=1_000, revise=True) is None  # not done
    assert monitoring.claim_window("m", 0, 60_000, owner="a", at=100, lease_ms=1_000) is not None
    assert monitoring.claim_window("m", 0, 60_000, owner="b", at=150, lease_ms=1_000, revise=True) is None  # not done
    monitoring.complete_window(result("m", 0, "a", evaluated_at=200))
    # done: the first evaluation's lease is released, so a reviser takes it at once; only one of two
    revision = monitoring.claim_window("m", 0, 60_000, owner="b", at=300, lease_ms=1_000, revise=True)
    assert revision is not None and revision.owner == "b" and revision.done and revision.expires_at == 1_300
    assert monitoring.claim_window("m", 0, 60_000, owner="c", at=400, lease_ms=1_000, revise=True) is None
    with pytest.raises(Conflict):  # c holds no lease
        monitoring.complete_window(result("m", 0, "c", evaluated_at=500), revise=True)
    # b dies; its lease expires and c takes over: b's late revision is refused, c's replaces the result
    taken = monitoring.claim_window("m", 0, 60_000, owner="c", at=1_300, lease_ms=1_000, revise=True)
    assert taken is not None and taken.owner == "c"
    with pytest.raises(Conflict):
        monitoring.complete_window(result("m", 0, "b", evaluated_at=1_400), revise=True)
    revised = {"health": {"error_rate": 0.5}, "performance": {"accuracy": 0.7, "labelled": 3}}
    monitoring.complete_window(result("m", 0, "c", evaluated_at=1_400, values=revised), revise=True)
    with pytest.raises(Conflict):  # the lease was released by the revision: not twice
        monitoring.complete_window(result("m", 0, "c", evaluated_at=1_500), revise=True)
    [stored] = monitoring.list_window_results("m")
    assert stored.values == revised and stored.evaluated_by == "c" and stored.evaluated_at == 1_400
    with pytest.raises(Conflict):  # a first result for a done window stays refused
        monitoring.complete_window(result("m", 0, "c", evaluated_at=1_600))
    assert not [p for p in monitoring.check() if "monitor" in p]  # still one done claim, one result


def test_alert_transitions_are_compare_and_set(monitoring: MonitoringStore) -> None:
    fp = fingerprint("m", "cas")
    alert = Alert(
        fingerprint=fp, monitor="m", rule="cas", signal="drift.share_drifted", severity="info", state="firing",
        value=1.0, threshold=0.5, first_seen=1, last_seen=1, window_start=0, window_end=10,
    )  # fmt: skip
    fired = AlertEvent(fingerprint=fp, monitor="m", rule="cas", kind="firing", at=1)
    assert len(monitoring.save_alert(alert, [fired], expected_state="absent")) == 1
    with pytest.raises(Conflict):  # a second evaluator firing the same alert records nothing
        monitoring.save_alert(alert, [fired], expected_state="absent")
    resolved = alert.model_copy(update={"state": "resolved", "resolved_at": 2})
    with pytest.raises(Conflict):
        monitoring.save_alert(resolved, expected_state="resolved")
    monitoring.save_alert(resolved, [fired.model_copy(update={"kind": "resolved"})], expected_state="firing")
    with pytest.raises(Conflict):
        monitoring.save_alert(resolved, expected_state="firing")
    assert [e.kind for e in monitoring.list_alert_events(fingerprint=fp)] == ["firing", "resolved"]
    assert monitoring.get_alert(fp).state == "resolved"


def test_integrity_check_sees_claims_and_results(stores: Stores, backend: str) -> None:
    monitoring = stores.monitoring
    monitoring.create_monitor("m", "api", spec(), actor="ana", at=1)
    assert monitoring.claim_window("m", 0, 60_000, owner="a", at=1, lease_ms=10) is not None
    monitoring.complete_window(result("m", 0, "a"))
    assert not [p for p in monitoring.check() if "monitor" in p]
    if backend == "http":
        return  # damaging the server's database is done by the SQL backends only
    from sqlalchemy import update

    from modelyard.store.sql.monitoring_tables import monitor_windows

    with monitoring.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(update(monitor_windows).values(done=False))
    assert any("has no finished claim" in p for p in monitoring.check())
