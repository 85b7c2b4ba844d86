"""Windows, the expansion of logged requests into rows, rule evaluation over window results."""

from __future__ import annotations

import pandas as pd
import pytest

from modelyard.core.monitoring import AlertRule, Silence, WindowResult, WindowSpec, compare
from modelyard.monitoring.alerts import rule_holds
from modelyard.monitoring.signals import clean, lookup
from modelyard.monitoring.windows import Window, due_windows, expand


def test_tumbling_time_windows_are_aligned_and_due_after_their_delay() -> None:
    spec = WindowSpec(size=1000, delay_ms=100)
    assert due_windows(spec, start=2500, last_start=None, now_ms=5099) == [Window(3000, 4000)]
    assert due_windows(spec, start=2500, last_start=None, now_ms=5100) == [Window(3000, 4000), Window(4000, 5000)]
    assert due_windows(spec, start=2500, last_start=4000, now_ms=9000) == [
        Window(5000, 6000), Window(6000, 7000), Window(7000, 8000),
    ]  # fmt: skip
    assert len(due_windows(spec, start=0, last_start=None, now_ms=10**9, limit=7)) == 7


def test_sliding_time_and_count_windows() -> None:
    sliding = WindowSpec(kind="sliding", size=1000, step=250, delay_ms=0)
    assert due_windows(sliding, start=0, last_start=None, now_ms=1500) == [
        Window(0, 1000), Window(250, 1250), Window(500, 1500),
    ]  # fmt: skip
    count = WindowSpec(by="count", size=10, kind="sliding", step=5)
    assert due_windows(count, start=0, last_start=None, now_ms=0, total_rows=24) == [
        Window(0, 10), Window(5, 15), Window(10, 20),
    ]  # fmt: skip
    assert due_windows(count, start=0, last_start=10, now_ms=0, total_rows=24) == []
    assert due_windows(count, start=0, last_start=10, now_ms=0, total_rows=25) == [Window(15, 25)]


@pytest.mark.parametrize(
    "fields",
    [
        {"size": 10, "kind": "sliding"},  # no step
        {"size": 10, "kind": "sliding", "step": 10},  # step not below the size
        {"size": 10, "step": 5},  # tumbling with another step
        {"size": 0},
        {"size": "10"},  # no coercion from text
    ],
)
def test_bad_window_specs(fields: dict) -> None:
    with pytest.raises(ValueError):
        WindowSpec.model_validate(fields)


def test_expand_turns_requests_into_rows() -> None:
    requests = pd.DataFrame([
        {"request_id": "r1", "variant": "main", "model_name": "m", "model_version": 1, "status": "ok",
         "latency_ms": 2.0, "timestamp_ms": 1, "shadow": False, "feedback": [1, 0],
         "inputs": {"a": [1.0, 2.0], "b": ["x", "y"]}, "outputs": [1, 0]},
        {"request_id": "r2", "variant": "main", "model_name": "m", "model_version": 1, "status": "ok",
         "latency_ms": 2.0, "timestamp_ms": 2, "shadow": False, "feedback": None, "inputs": {"input": [[0.5, 0.6]]},
         "outputs": {"label": [1], "proba": [0.9]}},
        {"request_id": "r3", "variant": "main", "model_name": "m", "model_version": 1, "status": "error",
         "latency_ms": 2.0, "timestamp_ms": 3, "shadow": False, "feedback": None, "inputs": {}, "outputs": None},
    ])  # fmt: skip
    rows, inputs = expand(requests)
    assert inputs == ["a", "b", "input_0", "input_1"]
    assert rows["request_id"].tolist() == ["r1", "r1", "r2"]  # a request that decoded nothing has no rows
    assert rows["feedback"].tolist()[:2] == [1, 0]  # a label per row when the feedback is a list of them
    assert rows.loc[2, "prediction.proba"] == 0.9 and rows.loc[2, "prediction"] == 1
    empty, none = expand(requests.iloc[0:0])
    assert len(empty) == 0 and none == [] and "prediction" in empty.columns


def _result(start: int, value: float | None, status: str = "ok") -> WindowResult:
    values = {} if value is None else {"drift": {"share_drifted": value, "dataset_drift": value > 0.5}}
    return WindowResult(monitor="m", window_start=start, window_end=start + 1, status=status, rows=1, values=values,
                        evaluated_at=0, evaluated_by="t")  # fmt: skip


def test_rules_hold_over_consecutive_windows_with_traffic() -> None:
    rule = AlertRule(name="d", signal="drift.share_drifted", threshold=0.5, comparator=">=", for_windows=2)
    newest_first = [_result(3, 0.7), _result(2, None, "no_traffic"), _result(1, 0.6), _result(0, 0.1)]
    assert rule_holds(rule, newest_first) == (True, 0.7)  # the empty window does not break the run
    assert rule_holds(rule, [_result(3, 0.7), _result(1, 0.1)]) == (False, 0.7)
    assert rule_holds(rule, [_result(3, 0.7)]) == (False, 0.7)  # not enough windows yet
    assert rule_holds(rule, [_result(3, None, "no_traffic")]) == (None, None)  # nothing to judge
    flag = AlertRule(name="f", signal="drift.dataset_drift", threshold=1, comparator="==")
    assert rule_holds(flag, [_result(3, 0.7)]) == (True, 1.0)  # booleans count as 0/1
    assert compare(float("nan"), ">", 0) is False


def test_lookup_and_clean() -> None:
    values = clean({"health": {"error_rate": float("nan"), "variants": {"a": {"p99_ms": 3}}}, "x": [float("inf")]})
    assert values == {"health": {"error_rate": None, "variants": {"a": {"p99_ms": 3}}}, "x": [None]}
    assert lookup(values, "health.variants.a.p99_ms") == 3.0
    assert lookup(values, "health.error_rate") is None and lookup(values, "health.nope") is None


def test_silence_matching() -> None:
    silence = Silence(id="s", matchers={"monitor": "m", "severity": "critical"}, start=10, end=20, created_by="a",
                      created_at=0)  # fmt: skip
    from modelyard.core.monitoring import Alert

    alert = Alert(fingerprint="ab", monitor="m", rule="r", signal="drift.x", severity="critical", state="firing",
                  threshold=1, first_seen=0, last_seen=0, window_start=0, window_end=1)  # fmt: skip
    assert silence.matches(alert, 15) and not silence.matches(alert, 20) and not silence.matches(alert, 9)
    assert not silence.matches(alert.model_copy(update={"severity": "info"}), 15)
    with pytest.raises(ValueError):
        Silence(id="s", matchers={"team": "x"}, start=0, end=1, created_by="a", created_at=0)
