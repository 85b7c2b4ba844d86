"""Realized performance per window: values match scikit-learn, intervals cover, undefined metrics
are reported with a reason, labels for unknown request ids are listed, degradation is flagged
only when the whole interval is worse than the baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from modelyard.core.errors import InvalidArgument
from modelyard.monitoring.performance import (
    MetricEstimate,
    baseline_metrics,
    compare,
    delong_auc,
    join_labels,
    realized,
    window_performance,
)


def _binary(n: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    score = rng.uniform(size=n)
    y = (rng.uniform(size=n) < score).astype(int)
    pred = (score >= 0.5).astype(int)
    return y, pred, score


def test_binary_values_match_scikit_learn_and_intervals_contain_them():
    y, pred, score = _binary()
    out = realized("classification", y, pred, score)
    assert set(out) == {"accuracy", "f1", "roc_auc", "precision", "recall"}
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "roc_auc": skm.roc_auc_score(y, score),
        "precision": skm.precision_score(y, pred),
        "recall": skm.recall_score(y, pred),
    }
    for name, value in expected.items():
        est = out[name]
        assert est.value == pytest.approx(value, abs=1e-12), name
        assert est.n == len(y)
        assert est.lower is not None and est.upper is not None
        assert est.lower <= est.value <= est.upper, name
        assert est.upper - est.lower < 0.1, name  # 2000 rows: a few points wide, not [0, 1]


def test_multiclass_weighted_metrics_match_scikit_learn():
    rng = np.random.default_rng(1)
    n, k = 900, 3
    logits = rng.normal(size=(n, k))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(k, p=row) for row in proba])
    pred = proba.argmax(axis=1)
    out = realized("classification", y, pred, proba, classes=[0, 1, 2], n_resamples=199)
    assert out["f1"].value == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    assert out["precision"].value == pytest.approx(skm.precision_score(y, pred, average="weighted"))
    assert out["recall"].value == pytest.approx(skm.recall_score(y, pred, average="weighted"))
    auc = skm.roc_auc_score(y, proba, multi_class="ovr", average="weighted")
    assert out["roc_auc"].value == pytest.approx(auc)
    for est in out.values():
        assert est.lower is not None and est.upper is not None and est.lower <= est.value <= est.upper


def test_regression_values_and_intervals():
    rng = np.random.default_rng(2)
    y = rng.normal(size=500)
    p = y + rng.normal(scale=0.5, size=500)
    out = realized("regression", y, p)
    assert out["rmse"].value == pytest.approx(math.sqrt(skm.mean_squared_error(y, p)))
    assert out["mae"].value == pytest.approx(skm.mean_absolute_error(y, p))
    assert out["r2"].value == pytest.approx(skm.r2_score(y, p))
    for est in out.values():
        assert est.lower is not None and est.upper is not None
        assert est.lower < est.value < est.upper


def test_intervals_cover_the_true_accuracy_in_most_windows():
    """The true accuracy of a coin with P(correct) = 0.8 lies in the 95% Wilson interval in
    about 95% of windows; with 200 windows at least 180 must cover it (a loose, robust bound)."""
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(200):
        correct = rng.uniform(size=150) < 0.8
        y = np.ones(150, dtype=int)
        pred = np.where(correct, 1, 0)
        est = realized("classification", y, pred, metrics=["accuracy"], classes=[0, 1])["accuracy"]
        covered += est.lower <= 0.8 <= est.upper
    assert covered >= 180


def test_delong_matches_a_bootstrap_width():
    y, _, score = _binary(n=1500, seed=4)
    est = delong_auc(y == 1, score)
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(400):
        idx = rng.integers(0, len(y), len(y))
        draws.append(skm.roc_auc_score(y[idx], score[idx]))
    lo, hi = np.quantile(draws, [0.025, 0.975])
    assert est.upper - est.lower == pytest.approx(hi - lo, rel=0.25)


def test_empty_window_reports_every_metric_undefined():
    out = realized("classification", [], [])
    assert set(out) == {"accuracy", "f1", "roc_auc", "precision", "recall"}
    for est in out.values():
        assert est == MetricEstimate(None, None, None, 0, "no labelled rows in the window")
    out = realized("regression", [], [], metrics=["mae"])
    assert out["mae"].value is None and out["mae"].n == 0


def test_single_class_window_gives_no_auc_and_says_why():
    y = np.ones(50, dtype=int)
    score = np.linspace(0, 1, 50)
    pred = (score > 0.5).astype(int)
    out = realized("classification", y, pred, score, classes=[0, 1])
    assert out["roc_auc"].value is None
    assert "one class" in (out["roc_auc"].reason or "")
    assert out["accuracy"].value == pytest.approx(np.mean(pred == 1))
    assert out["recall"].value == pytest.approx(np.mean(pred == 1))


def test_precision_without_predicted_positives_is_undefined_not_zero():
    out = realized("classification", [0, 1, 1], [0, 0, 0], classes=[0, 1], metrics=["precision", "recall"])
    assert out["precision"].value is None and "predicted positive" in (out["precision"].reason or "")
    assert out["recall"].value == 0.0


def test_auc_without_scores_is_undefined():
    out = realized("classification", [0, 1], [0, 1], metrics=["roc_auc"])
    assert out["roc_auc"].value is None and "scores" in (out["roc_auc"].reason or "")


def test_one_row_has_a_value_but_no_bootstrap_interval():
    out = realized("regression", [1.0], [2.0], metrics=["rmse", "mae"])
    assert out["rmse"].value == 1.0 and out["rmse"].lower is None
    assert out["mae"].value == 1.0 and out["mae"].upper is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "ranking", "y_true": [1], "y_pred": [1]}, "unknown task"),
        ({"task": "regression", "y_true": [1], "y_pred": [1], "metrics": ["auc"]}, "unknown regression metric"),
        ({"task": "regression", "y_true": [1, 2], "y_pred": [1]}, "one length"),
        ({"task": "regression", "y_true": [1.0], "y_pred": [float("nan")]}, "finite"),
        ({"task": "classification", "y_true": [1], "y_pred": [3], "classes": [0, 1]}, "not one of the classes"),
        ({"task": "classification", "y_true": [1], "y_pred": [1], "confidence": 1.5}, "confidence"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, message):
    with pytest.raises(InvalidArgument, match=message):
        realized(**kwargs)


def test_join_labels_matches_by_request_id_and_reports_unknown_ids():
    ids = ["a", "b", "c", "d"]
    joined = join_labels(ids, {"c": 1, "zz": 0, "a": 0, "b": None, "yy": 1})
    assert joined.positions.tolist() == [0, 2]
    assert joined.values == [0, 1]
    assert joined.unknown_request_ids == ["yy", "zz"]
    assert joined.unlabelled == 2


def test_compare_flags_only_a_whole_interval_on_the_bad_side():
    metrics = {
        "accuracy": MetricEstimate(0.80, 0.78, 0.82, 1000),
        "f1": MetricEstimate(0.80, 0.70, 0.90, 100),
        "rmse": MetricEstimate(2.0, 1.8, 2.2, 100),
        "mae": MetricEstimate(1.0, 0.9, 1.1, 100),
        "roc_auc": MetricEstimate.undefined(10, "one class"),
    }
    baseline = {"accuracy": 0.9, "f1": 0.85, "rmse": 1.5, "mae": 1.05, "roc_auc": 0.9}
    out = compare(metrics, baseline)
    assert out["accuracy"].degraded and out["accuracy"].delta == pytest.approx(-0.1)
    assert not out["f1"].degraded  # the interval still reaches the baseline: noise, not decay
    assert out["rmse"].degraded and not out["rmse"].higher_is_better
    assert not out["mae"].degraded
    assert not out["roc_auc"].degraded and out["roc_auc"].delta is None
    assert not compare(metrics, baseline, tolerance={"accuracy": 0.1})["accuracy"].degraded
    assert not compare(metrics, {})["accuracy"].degraded


def test_window_performance_result_round_trips_to_json_types():
    import json

    y, pred, score = _binary(n=300, seed=5)
    result = window_performance(
        "classification", y, pred, score, baseline={"accuracy": 0.99}, unknown_request_ids=["x"], unlabelled=3
    )
    assert result.degraded
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["comparisons"]["accuracy"]["degraded"] is True
    assert payload["unknown_request_ids"] == ["x"] and payload["unlabelled"] == 3


def test_baseline_is_the_newest_evaluation_summary():
    class Record:
        def __init__(self, summary):
            self.summary = summary

    class Store:
        def __init__(self, records):
            self.records = records

        def list_model_evaluations(self, name, version):
            return self.records

    class Registry:
        def __init__(self, records):
            self.store = Store(records)

    newest, older = Record({"metrics": {"accuracy": 0.9, "roc_auc": None}}), Record({"metrics": {"accuracy": 0.5}})
    registry = Registry([newest, older])
    assert baseline_metrics(registry, "m", 1) == {"accuracy": 0.9}  # type: ignore[arg-type]
    assert baseline_metrics(Registry([]), "m", 1) == {}  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1), st.floats(0, 1)), min_size=0, max_size=40),
)
def test_any_binary_window_gives_bounded_metrics_or_a_reason(rows):
    y = np.array([r[0] for r in rows], dtype=int)
    pred = np.array([r[1] for r in rows], dtype=int)
    score = np.array([r[2] for r in rows], dtype=float)
    out = realized("classification", y, pred, score, classes=[0, 1], n_resamples=99)
    for est in out.values():
        assert est.n == len(rows)
        if est.value is None:
            assert est.reason
            continue
        assert 0.0 <= est.value <= 1.0
        if est.lower is not None:
            assert est.upper is not None
            assert 0.0 <= est.lower <= est.value <= est.upper <= 1.0


def test_large_windows_use_analytic_intervals_close_to_the_bootstrap():
    """Above BOOTSTRAP_MAX_ROWS the RMSE and R² intervals come from the delta method; on the same
    data they must agree with the bootstrap's to within a fifth of its width."""
    from modelyard.monitoring import performance

    rng = np.random.default_rng(14)
    y = rng.normal(size=30_000)
    p = y + rng.standard_t(5, size=30_000) * 0.5
    analytic = realized("regression", y, p, metrics=["rmse", "r2"])
    old = performance.BOOTSTRAP_MAX_ROWS
    performance.BOOTSTRAP_MAX_ROWS = 10**9
    try:
        boot = realized("regression", y, p, metrics=["rmse", "r2"], n_resamples=400)
    finally:
        performance.BOOTSTRAP_MAX_ROWS = old
    for name in ("rmse", "r2"):
        a, b = analytic[name], boot[name]
        assert a.value == pytest.approx(b.value)
        width = b.upper - b.lower
        assert abs(a.lower - b.lower) < width / 5 and abs(a.upper - b.upper) < width / 5, name


def test_confusion_bootstrap_matches_a_row_bootstrap():
    y, pred, _ = _binary(n=800, seed=15)
    est = realized("classification", y, pred, metrics=["f1"], n_resamples=2000)["f1"]
    rng = np.random.default_rng(1)
    draws = []
    for _ in range(1000):
        idx = rng.integers(0, len(y), len(y))
        draws.append(skm.f1_score(y[idx], pred[idx]))
    lo, hi = np.quantile(draws, [0.025, 0.975])
    assert est.lower == pytest.approx(lo, abs=0.01) and est.upper == pytest.approx(hi, abs=0.01)
