"""``MonitoringService`` over a real store and a real prediction log: windows (time and count,
empty ones), health, quality against the reference's suite, drift against the stored profile,
performance from feedback, alert rules that fire, deduplicate, resolve and roll back, silences,
claims shared by two evaluators."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.core.serving import Feedback
from modelyard.monitoring.service import MonitoringService
from modelyard.monitoring.signals import label_digest
from modelyard.registry.service import RegistryService
from modelyard.serving.deployments import DeploymentService
from modelyard.serving.endpoint import PredictionRecord
from modelyard.serving.predlog import PredictionLogger
from modelyard.settings import Settings
from modelyard.store.bundle import Stores, open_stores

MINUTE = 60_000


class Threshold:
    """A classifier: 1 when a > 0.5."""

    def predict(self, data: Any) -> Any:
        return (np.asarray(data["a"], dtype=float) > 0.5).astype(int)


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@dataclass
class World:
    stores: Stores
    registry: RegistryService
    deployments: DeploymentService
    clock: Clock

    def service(self, owner: str = "test") -> MonitoringService:
        return MonitoringService(self.stores, clock=self.clock, owner=owner)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    settings = Settings(home=tmp_path, store_uri=f"sqlite:///{tmp_path / 'm.db'}", artifact_uri=str(tmp_path / "a"))
    with open_stores(settings) as stores:
        registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
        example = pd.DataFrame({"a": [0.1, 0.9], "b": ["x", "y"]})
        for _ in range(2):
            registry.log_model(Threshold(), "m", actor="t", project="mon", input_example=example)
        deployments = DeploymentService(stores.serving, registry)
        deployments.create("api", ["main=m@1"], actor="t")
        yield World(stores, registry, deployments, Clock(10 * MINUTE))


def reference(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, 1.0, n)
    return pd.DataFrame({"a": a, "b": rng.choice(["x", "y"], n), "prediction": (a > 0.5).astype(int)})


def log(world: World, start_ms: int, frame: pd.DataFrame, *, version: int = 1, errors: int = 0,
        per_request: int = 10, prefix: str = "r") -> list[str]:  # fmt: skip
    """Log ``frame`` as requests of ``per_request`` rows spread over one minute from ``start_ms``."""
    logger = PredictionLogger(world.stores.serving, world.stores.artifacts, flush_interval_s=0.05)
    ids: list[str] = []
    chunks = [frame.iloc[i : i + per_request] for i in range(0, len(frame), per_request)]
    for i, chunk in enumerate(chunks):
        rid = f"{prefix}{start_ms}-{i}"
        ids.append(rid)
        failed = i < errors
        logger.offer(PredictionRecord(
            request_id=rid, endpoint="api", variant="main", model_name="m", model_version=version,
            inputs={"a": chunk["a"].tolist(), "b": chunk["b"].tolist()},
            outputs=None if failed else (chunk["a"].to_numpy() > 0.5).astype(int).tolist(),
            latency_ms=5.0 + i, timestamp_ms=start_ms + int(i * MINUTE / max(1, len(chunks))), shadow=False,
            status="error" if failed else "ok", error="boom" if failed else None,
        ))  # fmt: skip
    logger.close()
    return ids


def current(n: int, seed: int, shift: float = 0.0, unseen: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    b = rng.choice(["x", "y", "z"] if unseen else ["x", "y"], n)
    return pd.DataFrame({"a": rng.normal(shift, 1.0, n), "b": b})


def test_windows_signals_alerts_and_rollback(world: World) -> None:
    service = world.service()
    service.set_reference("m", 1, reference(), actor="t")
    world.deployments.update("api", variants=["main=m@2"], actor="t")  # revision 2: m@2 serves
    service.set_reference("m", 2, reference(seed=1), actor="t")
    monitor = service.create(
        "api-mon", "api", window={"size": MINUTE, "delay_ms": 0}, signals=["health", "quality", "drift", "performance"],
        rules=[
            {"name": "drift", "signal": "drift.share_drifted", "threshold": 0.4, "severity": "critical",
             "actions": [{"type": "rollback"}, {"type": "gate"}]},
            {"name": "unseen", "signal": "quality.unseen_category_share", "threshold": 0.05},
            {"name": "errors", "signal": "health.error_rate", "threshold": 0.2, "for_windows": 2},
            {"name": "accuracy", "signal": "performance.accuracy", "comparator": "<", "threshold": 0.9},
        ],
        options={"performance": {"task": "classification", "metrics": ["accuracy"]}}, start=0, actor="ana",
    )  # fmt: skip
    assert monitor.spec.start == 0
    log(world, 0, current(400, 1), version=2)  # window 0: like the reference
    shifted_ids = log(world, 2 * MINUTE, current(400, 2, shift=3.0, unseen=True), version=2, errors=15)  # window 2
    world.clock.now = 3 * MINUTE + 1
    report = service.run()
    assert [(r.window_start, r.status) for r in report.results] == [(0, "ok"), (MINUTE, "no_traffic"),
                                                                     (2 * MINUTE, "ok")]  # fmt: skip
    ok, empty, shifted = report.results
    assert ok.values["health"]["requests"] == 40 and ok.values["health"]["error_rate"] == 0.0
    assert ok.values["health"]["p50_ms"] is not None and "main" in ok.values["health"]["variants"]
    assert ok.values["drift"]["share_drifted"] < 0.4 and ok.values["reference"] == {"model": "m", "version": 2}
    assert ok.values["quality"]["unseen_category_share"] == 0.0
    assert empty.notes == ("no traffic in this window",)
    assert shifted.values["drift"]["columns"]["a"]["drifted"] is True
    assert shifted.values["quality"]["unseen_category_share"] > 0.2
    assert shifted.values["quality"]["out_of_range_share"] > 0.0
    assert shifted.values["health"]["error_rate"] == 15 / 40
    assert shifted.values["performance"] == {"labelled": 0, "unlabelled": 250, "labels": label_digest(pd.DataFrame())}
    assert {a.rule for a in report.fired} == {"drift", "unseen"}  # errors needs 2 windows; no labels yet
    drift_alert = next(a for a in report.fired if a.rule == "drift")
    assert drift_alert.state == "firing" and drift_alert.severity == "critical"
    # the rollback: revision 3 restores revision 1 (m@1), by system:monitor, guarded by revision 2
    deployment = world.deployments.get("api")
    assert deployment.revision == 3 and deployment.spec.variants[0].version == 1
    event = world.deployments.history("api")[-1]
    assert event.action == "rollback" and event.actor == "system:monitor" and "drift.share_drifted" in event.reason
    history = service.history(fingerprint=drift_alert.fingerprint)
    assert [e.kind for e in history] == ["firing", "action", "action"]
    assert {e.detail.get("action") for e in history[1:]} == {"rollback", "gate"}
    assert [a.rule for a in service.gate("api")] == ["drift"]

    # labels arrive for the shifted window: the model is wrong on shifted rows -> accuracy alert
    rows_per_request = 10
    labels = [Feedback(request_id=rid, value=[0] * rows_per_request, at=1) for rid in shifted_ids[15:]]
    world.stores.serving.record_feedback(labels)
    # the same window is never evaluated twice, even by another evaluator
    assert world.service("other").run().results == []
    # a new window with the same shifted traffic: the alerts stay firing (one alert, no new events)
    more_ids = log(world, 3 * MINUTE, current(400, 3, shift=3.0, unseen=True), version=1, errors=15, prefix="s")
    world.stores.serving.record_feedback(
        [Feedback(request_id=rid, value=[0] * rows_per_request, at=1) for rid in more_ids[15:]]
    )
    world.clock.now = 4 * MINUTE + 1
    service.set_reference("m", 1, reference(), actor="t")
    again = service.run()
    assert [r.window_start for r in again.results] == [3 * MINUTE]
    assert again.results[0].values["performance"]["accuracy"] < 0.9
    assert {a.rule for a in again.fired} == {"errors", "accuracy"}  # errors: its second window
    assert len(service.history(fingerprint=drift_alert.fingerprint)) == 3  # deduplicated
    assert service.alerts(state="firing")[0].last_seen == 4 * MINUTE + 1
    # traffic back to normal: every alert resolves, the gate opens
    log(world, 4 * MINUTE, current(400, 4), version=1, prefix="t")
    world.clock.now = 5 * MINUTE + 1
    back = service.run()
    assert {a.rule for a in back.resolved} == {"drift", "unseen", "errors"}
    assert service.gate("api") == []
    kinds = [e.kind for e in service.history(fingerprint=drift_alert.fingerprint)]
    assert kinds[-2:] == ["resolved", "action"]
    assert world.deployments.get("api").revision == 3  # resolving rolls nothing forward


def test_silence_records_but_does_not_notify(world: World) -> None:
    service = world.service()
    service.create(
        "h", "api", window={"size": MINUTE, "delay_ms": 0}, start=0, actor="ana",
        rules=[{"name": "errors", "signal": "health.error_rate", "threshold": 0.1,
                "notifiers": [{"type": "webhook", "url": "http://127.0.0.1:9/hook"}]}],
    )  # fmt: skip
    world.clock.now = MINUTE + 1
    silence = service.silence({"monitor": "h"}, duration_ms=10 * MINUTE, actor="ana", comment="maintenance")
    assert [s.id for s in service.silences(active=True)] == [silence.id]
    log(world, 0, current(100, 1), errors=5)
    report = service.run()
    (alert,) = report.fired
    assert alert.silenced
    assert [e.kind for e in service.history(fingerprint=alert.fingerprint)] == ["firing", "silenced"]
    world.clock.now += 1000
    assert service.unsilence(silence.id).end == world.clock.now
    assert service.silences(active=True) == []
    with pytest.raises(InvalidArgument):
        service.silence({"nope": "x"}, duration_ms=1, actor="ana")


def test_count_windows_and_bad_input(world: World) -> None:
    service = world.service()
    service.create("c", "api", window={"size": 5, "by": "count"}, start=0, actor="ana")
    log(world, 0, current(120, 1))  # 12 requests: two windows of 5, 2 left over
    world.clock.now = MINUTE
    report = service.run()
    assert [(r.window_start, r.window_end, r.rows) for r in report.results] == [(0, 5, 5), (5, 10, 5)]
    assert service.run().results == []
    with pytest.raises(NotFound):
        service.create("x", "no-such-deployment", window={"size": 5}, actor="ana")
    with pytest.raises(InvalidArgument, match="sliding"):
        service.create("x", "api", window={"size": 5, "kind": "sliding"}, actor="ana")
    with pytest.raises(InvalidArgument, match="does not compute"):
        service.create("x", "api", window={"size": 5}, rules=[{"name": "d", "signal": "drift.share_drifted",
                                                               "threshold": 1}], actor="ana")  # fmt: skip
    with pytest.raises(InvalidArgument):
        service.set_reference("m", 1, pd.DataFrame(), actor="t")
    with pytest.raises(NotFound):
        service.set_reference("m", 9, reference(), actor="t")


def test_count_windows_read_the_log_from_the_last_position(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelyard.monitoring import service as service_module

    reads: list[int] = []
    real = service_module.read_log
    monkeypatch.setattr(service_module, "read_log", lambda s, e, start: reads.append(start) or real(s, e, start))
    service = world.service()
    service.create("c", "api", window={"size": 5, "step": 3, "kind": "sliding", "by": "count"}, start=0, actor="ana")
    log(world, 0, current(120, 1))  # 12 requests of 10 rows, one every 5 s
    world.clock.now = MINUTE
    report = service.run()
    assert [(r.window_start, r.window_end) for r in report.results] == [(0, 5), (3, 8), (6, 11)]
    assert reads == [0]
    # the newest window began at request 6: its time, and the 6 live requests logged before it
    assert report.results[-1].values["log"] == {"from_ms": 6 * 5_000, "offset": 6}
    log(world, 2 * MINUTE, current(120, 2), prefix="s")  # 12 more
    world.clock.now = 3 * MINUTE
    again = service.run()
    assert reads == [0, 6 * 5_000]  # from the last position, not from the start
    assert [(r.window_start, r.window_end) for r in again.results] == [(9, 14), (12, 17), (15, 20), (18, 23)]
    for result in again.results:  # the same rows as cutting the whole log from the start
        a = result.window_start
        assert result.rows == 5 and result.first_ms == (a * 5_000 if a < 12 else 2 * MINUTE + (a - 12) * 5_000)
    assert service.run().results == []
    assert reads[-1] == 2 * MINUTE + 6 * 5_000  # where window 18 began


def test_late_labels_re_evaluate_a_window_within_the_horizon(world: World) -> None:
    service = world.service()
    with pytest.raises(InvalidArgument, match="label horizon"):
        service.create("x", "api", window={"size": MINUTE}, signals=["health"], label_horizon_ms=1, actor="ana")
    service.create(
        "p", "api", window={"size": MINUTE, "delay_ms": 0}, signals=["health", "performance"], start=0,
        rules=[{"name": "accuracy", "signal": "performance.accuracy", "comparator": "<", "threshold": 0.9}],
        options={"performance": {"task": "classification", "metrics": ["accuracy"]}},
        label_horizon_ms=30 * MINUTE, actor="ana",
    )  # fmt: skip
    ids = log(world, 0, current(200, 1, shift=3.0))  # the model predicts 1 on almost every shifted row
    world.clock.now = MINUTE + 1
    first = service.run()
    assert first.results[0].values["performance"]["labelled"] == 0 and first.fired == [] and first.revised == []
    # the labels arrive after the window was evaluated: all 0, so the model was wrong
    world.stores.serving.record_feedback([Feedback(request_id=r, value=[0] * 10, at=1) for r in ids])
    world.clock.now = 2 * MINUTE + 1
    late = world.service("other").run()  # any evaluator: the revision is claimed like a window
    assert [r.window_start for r in late.results] == [MINUTE]  # the next window: no traffic
    (revised,) = late.revised
    assert revised.window_start == 0 and revised.evaluated_by == "other"
    assert revised.values["performance"]["labelled"] == 200 and revised.values["performance"]["accuracy"] < 0.5
    assert revised.values["health"] == first.results[0].values["health"]  # the other signals stay
    assert any(n.startswith("late labels: performance re-evaluated with 200") for n in revised.notes)
    assert [a.rule for a in late.fired] == ["accuracy"]  # the alert state follows the revised window
    stored = service.results("p")[-1]
    assert stored.window_start == 0 and stored.values == revised.values
    # nothing new: the window is not revised again (fully labelled, it is no longer even read)
    world.clock.now += 1
    assert service.run().revised == []
    # a window still partly unlabelled is revised again when more labels arrive, and when labels change
    more = log(world, 2 * MINUTE, current(200, 2), prefix="s")  # normal traffic: the model is right
    world.clock.now = 3 * MINUTE + 1
    assert service.run().results[0].values["performance"]["labelled"] == 0
    truth = (current(200, 2)["a"].to_numpy() > 0.5).astype(int).tolist()
    world.stores.serving.record_feedback(
        [Feedback(request_id=r, value=truth[i * 10 : i * 10 + 10], at=1) for i, r in enumerate(more[:10])]
    )
    world.clock.now += 1
    partly = service.run()
    assert [r.values["performance"]["labelled"] for r in partly.revised] == [100]
    assert [a.rule for a in partly.resolved] == ["accuracy"]  # the newest window with traffic is fine
    world.stores.serving.record_feedback(  # the same count, other values: the labels changed
        [
            Feedback(request_id=r, value=[1 - v for v in truth[i * 10 : i * 10 + 10]], at=1)
            for i, r in enumerate(more[:10])
        ]
    )
    world.clock.now += 1
    changed = service.run()
    assert [r.values["performance"]["accuracy"] for r in changed.revised] == [0.0]
    assert [a.rule for a in changed.fired] == ["accuracy"]
    # past the horizon, late labels are no longer counted
    world.clock.now = 2 * MINUTE + 31 * MINUTE
    world.stores.serving.record_feedback(
        [Feedback(request_id=r, value=truth[i * 10 : i * 10 + 10], at=1) for i, r in enumerate(more)]
    )
    assert service.run().revised == []
    kept = next(r for r in service.results("p") if r.window_start == 2 * MINUTE)
    assert kept.values["performance"]["labelled"] == 100 and kept.values["performance"]["accuracy"] == 0.0


def test_missing_columns_are_reported(world: World) -> None:
    service = world.service()
    service.set_reference("m", 1, reference().assign(c=1.0), actor="t")
    service.create("q", "api", window={"size": MINUTE, "delay_ms": 0}, signals=["quality", "drift"], start=0,
                   actor="ana")  # fmt: skip
    log(world, 0, current(50, 1))
    world.clock.now = MINUTE + 1
    (result,) = service.run().results
    assert result.status == "ok"
    assert result.values["quality"]["missing_columns"] == 1 and result.values["quality"]["schema_violations"] == 1
    assert any("'c'" in note and "missing" in note for note in result.notes)


class _Failing(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self) -> None:
        _Failing.calls += 1
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_estimated_signal_and_a_failing_notifier(world: World) -> None:
    from modelyard.monitoring.estimation import fit_estimator

    rng = np.random.default_rng(3)
    a = rng.normal(0.0, 1.0, 3000)
    estimator = fit_estimator(
        "classification", (a > 0.5).astype(float), (a + rng.normal(0, 0.3, 3000) > 0.5).astype(int)
    )
    service = world.service()
    registered = service.set_reference("m", 1, estimator, actor="t")
    assert (registered.role, registered.format) == ("estimator", "estimator")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
        service.create(
            "est", "api", window={"size": MINUTE, "delay_ms": 0}, signals=["health", "estimated"], start=0, actor="ana",
            rules=[{"name": "est", "signal": "estimated.accuracy", "comparator": "<", "threshold": 0.999,
                    "notifiers": [{"type": "webhook", "url": hook, "timeout_s": 2}]}],
        )  # fmt: skip
        log(world, 0, current(200, 1))
        world.clock.now = MINUTE + 1
        report = service.run()
    finally:
        server.shutdown()
        server.server_close()
    (result,) = report.results
    estimated = result.values["estimated"]
    assert 0.5 < estimated["accuracy"] < 0.999 and estimated["accuracy_lower"] <= estimated["accuracy"]
    (alert,) = report.fired  # the notifier failed; the alert is recorded all the same
    events = service.history(fingerprint=alert.fingerprint)
    assert [e.kind for e in events] == ["firing", "notify_failed"]
    assert events[1].detail["notifier"] == "webhook" and events[1].detail["attempts"] > 1 and _Failing.calls > 1


def test_alert_rollback_rule_speaks_servings_interface(world: World) -> None:
    from modelyard.core.monitoring import Alert, fingerprint
    from modelyard.monitoring.actions import AlertRollbackRule
    from modelyard.serving.rollback import AutoRollback, MetricWindows

    service = world.service()
    service.create(
        "r", "api", window={"size": MINUTE}, start=0, actor="ana",
        rules=[{"name": "drift", "signal": "health.error_rate", "threshold": 0.1, "actions": [{"type": "rollback"}]},
               {"name": "noisy", "signal": "health.p99_ms", "threshold": 100}],
    )  # fmt: skip
    world.deployments.update("api", variants=["main=m@2"], slo={"max_error_rate": 0.5}, auto_rollback=True, actor="t")
    deployment = world.deployments.get("api")
    rule = AlertRollbackRule(world.stores.monitoring)
    assert not rule.evaluate(deployment, {}).rollback
    for name in ("noisy", "drift"):
        world.stores.monitoring.save_alert(Alert(
            fingerprint=fingerprint("r", name), monitor="r", rule=name, signal="health.error_rate", severity="warning",
            state="firing", value=0.5, threshold=0.1, first_seen=deployment.updated_at + 1,
            last_seen=deployment.updated_at + 1, window_start=0, window_end=MINUTE,
        ))  # fmt: skip
    decision = rule.evaluate(deployment, {})
    assert decision.rollback and "alert drift is firing" in decision.reason
    # serving's watcher takes the rule as it takes its SLO rule (it acts on deployments with auto_rollback)
    watcher = AutoRollback(world.deployments, MetricWindows(), lambda: ["api"], rules=[rule])
    assert watcher.check(deployment) is not None
    restored = world.deployments.get("api")
    assert restored.spec.variants[0].version == 1 and world.deployments.history("api")[-1].action == "rollback"


def test_evaluate_can_register_the_evaluation_reference(modelyard_home: Path) -> None:
    import modelyard

    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    data = reference(500).assign(label=lambda f: (f["a"] > 0.5).astype(int)).drop(columns=["prediction"])
    with modelyard.start_run():
        modelyard.log_model(Threshold(), "ev", input_example=data[["a", "b"]].head(2))
    result = modelyard.evaluate("ev@1", data, target="label", reference=True)
    assert result.metrics["accuracy"] == 1.0
    from modelyard.sdk.monitoring import service

    (registered,) = service().store.list_references("ev")
    assert (registered.version, registered.role, registered.rows) == (1, "evaluation", 500)
    assert set(registered.summary["columns"]) == {"a", "b"}  # the features, not the target
    assert registered.summary["outputs"] == ["prediction"]
    modelyard.set_store_uri(None)
