"""Prediction logging, reading logs back with feedback, the A/B test and the rollback rules, over
a real SQLite store and a local artifact store."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.core.serving import Deployment, DeploymentSpec, Feedback, Slo, VariantSpec
from modelyard.serving.abtest import compare_variants
from modelyard.serving.endpoint import MatrixColumns
from modelyard.serving.predictions import predictions
from modelyard.serving.predlog import PredictionLogger, to_json
from modelyard.serving.rollback import MetricWindows, SloRule, WindowSink, WindowStats
from modelyard.settings import Settings
from modelyard.store import Stores, open_stores


@dataclass
class Record:
    """Shaped like ``serving.endpoint.PredictionRecord``."""

    request_id: str
    endpoint: str
    variant: str
    model_name: str = "churn"
    model_version: int = 1
    inputs: Any = field(default_factory=lambda: [[1.0, 2.0]])
    outputs: Any = field(default_factory=lambda: [1])
    latency_ms: float = 1.5
    timestamp_ms: int = 1_000
    shadow: bool = False
    status: str = "ok"
    error: str | None = None


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    settings = Settings(home=tmp_path, store_uri=f"sqlite:///{tmp_path / 'm.db'}", artifact_uri=str(tmp_path / "a"))
    with open_stores(settings) as opened:
        yield opened


def logger_for(stores: Stores, **kw: Any) -> PredictionLogger:
    return PredictionLogger(stores.serving, stores.artifacts, **kw)


def test_every_offered_record_is_written_once_and_read_back(stores: Stores) -> None:
    with logger_for(stores, batch_rows=64, flush_interval_s=0.05) as log:
        threads = [
            threading.Thread(
                target=lambda t=t: [
                    log.offer(Record(f"r{t}-{i}", "api", "blue" if i % 2 else "green", timestamp_ms=1_000 + i,
                                     inputs=np.array([[i, t]]), outputs=np.array([i % 3])))
                    for i in range(250)
                ]
            )
            for t in range(4)
        ]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert log.flush()
        assert (log.written, log.dropped, log.failed) == (1000, 0, 0)
    frame = predictions(stores, "api")
    assert len(frame) == 1000 and frame["request_id"].is_unique
    assert set(frame["variant"]) == {"blue", "green"}
    row = frame[frame["request_id"] == "r2-7"].iloc[0]
    assert (row["inputs"], row["outputs"], row["model_version"], row["status"]) == ([[7, 2]], [1], 1, "ok")
    assert frame["timestamp_ms"].is_monotonic_increasing
    assert len(predictions(stores, "api", 1_000, 1_010)) == 4 * 10  # [start, end)
    assert predictions(stores, "other").empty


def test_a_matrix_request_is_logged_column_by_column_as_before(stores: Stores) -> None:
    """The server hands the logger its matrix wrapped (``MatrixColumns``), not sliced per column:
    it reads like the old ``{column: view}`` and logs the same JSON text (NaN and inf as null)."""
    names = ("a", "b", "c")
    data = np.array([[1.5, np.nan, 3.0], [np.inf, -0.0, 6.25]])
    wrapped = MatrixColumns(data, names)
    sliced = {name: data[:, i] for i, name in enumerate(names)}
    assert list(wrapped) == list(names) and len(wrapped) == 3 and "b" in wrapped and "z" not in wrapped
    assert wrapped["c"].tolist() == [3.0, 6.25]
    with pytest.raises(KeyError):
        wrapped["z"]
    assert to_json(wrapped) == to_json(sliced)
    with logger_for(stores, flush_interval_s=0.05) as log:
        log.offer(Record("m1", "api", "main", inputs=wrapped, outputs=np.array([1, 0])))
        log.offer(Record("m0", "api", "main", inputs=sliced, outputs=np.array([1, 0])))
    frame = predictions(stores, "api").set_index("request_id")
    expected = {"a": [1.5, None], "b": [None, -0.0], "c": [3.0, 6.25]}
    assert frame.loc["m1", "inputs"] == frame.loc["m0", "inputs"] == expected


@pytest.mark.parametrize(
    "data",
    [
        np.array([[1.5, np.nan, 3.0]]),
        np.array([[1.5, np.nan, 3.0], [np.inf, -0.0, 6.25], [1e300, -1e-300, 0.1]]),
        np.array([[1, -2, 3]], dtype=np.int64),
        np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32),
        np.array([[True, False, True]]),
        np.array([[0.1, 0.2, 0.3]], dtype=np.float32),  # not a fast-path dtype: same text all the same
        np.array([["x", "y", "z"]], dtype=object),
        np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
    ],
)
def test_the_log_writers_fast_json_is_the_general_encoders_text(data: Any) -> None:
    """The writer encodes matrix columns and numpy outputs without building Python lists; the
    text must be exactly what ``to_json`` writes (a reader parses both alike)."""
    from modelyard.serving.predlog import json_column

    values = [
        MatrixColumns(data, ("a", 'b"%s', "c")),  # a quote and a format directive in a name
        data[:, 0].copy(),
        data[0],
        {"x": data[:, 1]},
        None,
    ]
    assert json_column(values) == [to_json(v) if v is not None else to_json(None) for v in values]


def test_a_full_queue_drops_and_counts_and_never_blocks(stores: Stores) -> None:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    gate = threading.Event()
    original = stores.serving.add_prediction_partition

    def slow(*args: Any, **kw: Any) -> Any:
        gate.wait(10)
        return original(*args, **kw)

    stores.serving.add_prediction_partition = slow  # type: ignore[method-assign]
    log = logger_for(stores, max_queue=10, batch_rows=5, flush_interval_s=0.01, registry=registry)
    for i in range(200):
        log.offer(Record(f"q{i}", "api", "main"))
    assert log.dropped > 0
    assert registry.get_sample_value("modelyard_prediction_log_dropped_total") == log.dropped
    gate.set()
    log.close()
    assert log.written + log.dropped == 200
    assert len(predictions(stores, "api")) == log.written
    log.offer(Record("late", "api", "main"))  # after close: dropped, not raised
    assert log.written + log.dropped == 201


def test_feedback_joins_by_request_id(stores: Stores) -> None:
    with logger_for(stores, flush_interval_s=0.05) as log:
        log.offer(Record("a", "api", "main", outputs=[1]))
        log.offer(Record("a", "api", "chal", outputs=[0], shadow=True))
        log.offer(Record("b", "api", "main", outputs=[0], timestamp_ms=1_001))
        log.flush()
    with pytest.raises(NotFound, match="zzz"):
        stores.serving.record_feedback([Feedback(request_id="zzz", value=1, at=1)])
    stores.serving.record_feedback([Feedback(request_id="a", value=1, at=2)])
    frame = predictions(stores, "api")
    assert len(frame) == 3
    a = frame[frame["request_id"] == "a"]
    assert list(a["feedback"]) == [1, 1] and sorted(a["shadow"]) == [False, True]
    assert frame[frame["request_id"] == "b"].iloc[0]["feedback"] is None
    assert len(predictions(stores, "api").query("not shadow")) == 2
    with pytest.raises(InvalidArgument):
        predictions(stores, "api", 5, 5)
    with pytest.raises(InvalidArgument):
        predictions(stores, "bad/name")


def _ab_frame(stores: Stores, accuracy: dict[str, float], n: int, seed: int = 7) -> Any:
    rng = random.Random(seed)
    with logger_for(stores, flush_interval_s=0.05) as log:
        feedback = []
        for i in range(n):
            variant = "a" if i % 2 else "b"
            truth = rng.randint(0, 1)
            answer = truth if rng.random() < accuracy[variant] else 1 - truth
            log.offer(Record(f"r{i}", "api", variant, outputs=[answer], timestamp_ms=1_000 + i))
            feedback.append(Feedback(request_id=f"r{i}", value=truth, at=5))
        log.flush()
    stores.serving.record_feedback(feedback)
    return predictions(stores, "api")


def test_ab_test_finds_a_real_difference(stores: Stores) -> None:
    result = compare_variants(_ab_frame(stores, {"a": 0.9, "b": 0.6}, 2000))
    assert result.metric == "accuracy"
    by_name = {v.variant: v for v in result.variants}
    assert by_name["a"].labelled == 1000 and abs((by_name["a"].value or 0) - 0.9) < 0.05
    (comparison,) = result.comparisons
    assert comparison.significant and comparison.p_value < 1e-6
    assert comparison.test == "two-proportion z-test"
    assert "significant" in result.summary()


def test_ab_test_does_not_call_noise_significant(stores: Stores) -> None:
    result = compare_variants(_ab_frame(stores, {"a": 0.8, "b": 0.8}, 400))
    (comparison,) = result.comparisons
    assert not comparison.significant and comparison.p_value > 0.05


def test_ab_test_on_a_continuous_target(stores: Stores) -> None:
    rng = np.random.default_rng(3)
    with logger_for(stores, flush_interval_s=0.05) as log:
        items = []
        for i in range(600):
            variant = "a" if i % 2 else "b"
            truth = float(rng.normal())
            noise = 0.1 if variant == "a" else 1.0
            log.offer(Record(f"c{i}", "api", variant, outputs=[truth + float(rng.normal()) * noise]))
            items.append(Feedback(request_id=f"c{i}", value=truth, at=1))
        log.flush()
    stores.serving.record_feedback(items)
    result = compare_variants(predictions(stores, "api"), control="b")
    assert result.metric == "abs_error" and result.control == "b"
    (comparison,) = result.comparisons
    assert comparison.variant == "a" and comparison.difference < 0 and comparison.significant
    assert comparison.extra["mann_whitney_p"] < 0.001
    with pytest.raises(InvalidArgument):
        compare_variants(predictions(stores, "api"), control="nosuch")


def _deployment(slo: Slo) -> Deployment:
    spec = DeploymentSpec(
        variants=(
            VariantSpec(name="stable", model="m", ref="1", version=1, traffic=90),
            VariantSpec(name="canary", model="m", ref="2", version=2, traffic=10),
            VariantSpec(name="shadow", model="m", ref="3", version=3, traffic=0, shadow=True),
        ),
        slo=slo,
        auto_rollback=True,
    )
    return Deployment(name="api", revision=2, spec=spec, created_at=1, created_by="a", updated_at=1, updated_by="a")


def test_slo_rule_judges_live_variants_once_the_window_is_big_enough() -> None:
    rule = SloRule()
    deployment = _deployment(Slo(max_error_rate=0.1, max_p99_ms=50.0, min_requests=20))

    def stats(variant: str, requests: int, errors: int, p99: float) -> WindowStats:
        return WindowStats("api", variant, 60, requests, errors, p99)

    assert not rule.evaluate(deployment, {"canary": stats("canary", 10, 10, 1.0)}).rollback  # too few
    assert not rule.evaluate(deployment, {"shadow": stats("shadow", 100, 100, 900.0)}).rollback  # shadows
    decision = rule.evaluate(deployment, {"canary": stats("canary", 40, 8, 1.0)})
    assert decision.rollback and decision.variant == "canary" and "error rate 20.0% > 10.0%" in decision.reason
    slow = rule.evaluate(deployment, {"stable": stats("stable", 40, 0, 80.0)})
    assert slow.rollback and "p99 latency 80.0 ms > 50 ms" in slow.reason
    assert not rule.evaluate(deployment, {"canary": stats("canary", 40, 4, 49.0)}).rollback


def test_windows_count_what_the_sink_sees_and_forget_old_events() -> None:
    now = [100.0]
    windows = MetricWindows(clock=lambda: now[0])
    seen: list[Any] = []

    class Next:
        def offer(self, record: Any) -> None:
            seen.append(record)

    sink = WindowSink(windows, Next())
    for i in range(10):
        sink.offer(Record(f"w{i}", "api", "canary", status="error" if i < 3 else "ok", latency_ms=float(i)))
    sink.offer(object())  # a malformed record neither raises nor stops the chain
    assert len(seen) == 11
    got = windows.stats("api", 60)["canary"]
    assert (got.requests, got.errors, got.p99_ms) == (10, 3, 9.0)
    now[0] += 61
    assert windows.stats("api", 60)["canary"].requests == 0
    windows.reset("api")
    assert windows.stats("other", 60) == {}


def test_server_made_request_ids_are_unique_unguessable_and_start_with_the_time() -> None:
    """Time first (the request-id index grows at its end), then 6 random bytes; a forked worker
    does not repeat its parent's ids."""
    import os
    import time

    from modelyard.serving.app import new_request_id

    before = time.time_ns() // 1_000_000
    ids = [new_request_id() for _ in range(5000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids)
    stamps = [int(i[:12], 16) for i in ids]
    assert before <= min(stamps) and max(stamps) <= after and stamps == sorted(stamps)
    assert len({i[12:] for i in ids}) == len(ids)  # the random half differs too
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.write(write, ",".join(new_request_id() for _ in range(100)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 1 << 16).decode().split(",")
    os.close(read)
    mine = [new_request_id() for _ in range(100)]
    assert len(child) == 100 and not {c[12:] for c in child} & {m[12:] for m in mine}
