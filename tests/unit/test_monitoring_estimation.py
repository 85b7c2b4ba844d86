"""Label-free performance estimation: on a synthetic covariate shift whose labels are known, the
estimate lies within its band of the realized metric in most windows; estimators round-trip
through bytes without pickle; bad input is a clear error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

from modelyard.core.errors import InvalidArgument
from modelyard.monitoring.estimation import (
    BinaryClassificationEstimator,
    _Calibration,
    _expected_metrics,
    _expected_values,
    _WindowOrder,
    fit_estimator,
    load_estimator,
)
from modelyard.monitoring.estimation_regression import RegressionEstimator, _Forest
from modelyard.monitoring.performance import realized


def _classification_data(n: int, shift: float, rng: np.random.Generator):
    """Covariate shift: the inputs move, P(y | x) stays (a logistic model is well specified)."""
    x = rng.normal(size=(n, 3)) + np.array([shift, 0.0, -shift / 2])
    logit = 1.5 * x[:, 0] - x[:, 1] + 0.5 * x[:, 2]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


def _regression_data(n: int, shift: float, rng: np.random.Generator):
    """Covariate shift with heteroscedastic noise: the error grows with |a| and in category w."""
    x = pd.DataFrame({
        "a": rng.normal(size=n) + shift, "b": rng.normal(size=n), "c": rng.choice(["u", "v", "w"], n),
    })  # fmt: skip
    noise = 0.3 + np.abs(x["a"].to_numpy()) * 0.8 + (x["c"] == "w").to_numpy() * 0.5
    y = 2 * x["a"].to_numpy() - x["b"].to_numpy() + rng.normal(size=n) * noise
    return x, y


def test_binary_estimate_is_within_its_band_of_the_realized_metric_under_covariate_shift():
    """6 seeds x 3 shifts x 5 metrics = 90 (window, metric) checks at 95% bands. Each band should
    hold the realized value about 95% of the time; we require 85% (77 of 90), and that the
    estimate follows the shift (it moves with the realized accuracy, the reference value does not)."""
    inside, total = 0, 0
    moved = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        xt, yt = _classification_data(4000, 0.0, rng)
        model = LogisticRegression().fit(xt, yt)
        xr, yr = _classification_data(4000, 0.0, rng)
        est = fit_estimator("classification", model.predict_proba(xr), yr)
        for shift in (0.0, 0.8, 1.6):
            xw, yw = _classification_data(1500, shift, rng)
            scores = model.predict_proba(xw)[:, 1]
            estimated = est.estimate(scores)
            real = realized("classification", yw, (scores >= 0.5).astype(int), scores, classes=[0, 1], n_resamples=9)
            for name, e in estimated.items():
                assert e.lower is not None and e.upper is not None and e.value is not None
                assert e.lower <= e.value <= e.upper
                inside += e.lower <= real[name].value <= e.upper
                total += 1
            if shift == 1.6:
                moved.append((estimated["accuracy"].value, real["accuracy"].value))
    assert total == 90
    assert inside >= 77, f"{inside}/{total} inside the band"
    for est_acc, real_acc in moved:
        assert abs(est_acc - real_acc) < 0.03


def test_regression_estimate_is_within_its_band_under_covariate_shift():
    """5 seeds x 3 shifts x (MAE, RMSE) = 30 checks; trees cannot extrapolate, so at the strongest
    shift the bands widen (bootstrap models disagree) rather than staying exact. We require 24/30."""
    inside, total = 0, 0
    for seed in range(5):
        rng = np.random.default_rng(seed)
        xt, yt = _regression_data(3000, 0.0, rng)
        model = LinearRegression().fit(xt[["a", "b"]], yt)
        xr, yr = _regression_data(3000, 0.0, rng)
        est = fit_estimator("regression", model.predict(xr[["a", "b"]]), yr, features=xr)
        for shift in (0.0, 0.7, 1.5):
            xw, yw = _regression_data(1500, shift, rng)
            pred = model.predict(xw[["a", "b"]])
            estimated = est.estimate(pred, features=xw)
            real = realized("regression", yw, pred, metrics=["mae", "rmse"], n_resamples=9)
            for name in ("mae", "rmse"):
                e = estimated[name]
                assert e.lower is not None and e.upper is not None and e.value is not None
                inside += e.lower <= real[name].value <= e.upper
                total += 1
    assert inside >= 24, f"{inside}/{total} inside the band"


def test_estimators_round_trip_through_bytes():
    rng = np.random.default_rng(7)
    x, y = _classification_data(800, 0.0, rng)
    scores = LogisticRegression().fit(x, y).predict_proba(x)[:, 1]
    est = fit_estimator("classification", scores, np.where(y == 1, "yes", "no"), classes=["no", "yes"])
    again = load_estimator(est.to_bytes())
    assert isinstance(again, BinaryClassificationEstimator) and again.classes == ["no", "yes"]
    assert again.estimate(scores[:300]) == est.estimate(scores[:300])
    preds = np.where(scores > 0.3, "yes", "no")
    assert again.estimate(scores, predictions=preds) == est.estimate(scores, predictions=preds)

    xr, yr = _regression_data(600, 0.0, rng)
    pred = xr["a"].to_numpy() * 2
    reg = fit_estimator("regression", pred, yr, features=xr, n_models=2)
    reg2 = RegressionEstimator.from_bytes(reg.to_bytes())
    assert reg2.estimate(pred[:100], features=xr.iloc[:100]) == reg.estimate(pred[:100], features=xr.iloc[:100])


def test_corrupt_or_foreign_bytes_are_refused():
    rng = np.random.default_rng(8)
    x, y = _classification_data(300, 0.0, rng)
    data = bytearray(fit_estimator("classification", 1 / (1 + np.exp(-x[:, 0])), y).to_bytes())
    data[-10] ^= 0xFF
    with pytest.raises(InvalidArgument, match="corrupt"):
        load_estimator(bytes(data))
    with pytest.raises(InvalidArgument, match="not a serialized"):
        load_estimator(b"\x80\x04pickle")


def test_forest_arrays_predict_exactly_what_scikit_learn_predicts():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2000, 4))
    x[::5, 2] = np.nan
    y = np.abs(x[:, 0]) + np.nan_to_num(x[:, 2]) + rng.normal(size=2000)
    model = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(x, y)
    window = rng.normal(size=(500, 4))
    window[::3, 2] = np.nan
    window[::7, 1] = np.nan
    np.testing.assert_allclose(_Forest.from_sklearn(model).predict(window), model.predict(window), rtol=0, atol=1e-9)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.integers(0, 5)), min_size=2, max_size=30))
def test_with_certain_labels_the_expected_metrics_are_the_realized_ones(rows):
    """When every calibrated probability is 0 or 1 the expected confusion matrix is the real one:
    the expected metrics must equal scikit-learn's and their sampling variance is zero."""
    y = np.array([r[0] for r in rows], dtype=int)
    d = np.array([r[1] for r in rows], dtype=bool)
    s = np.array([r[2] for r in rows], dtype=float)
    order = _WindowOrder(s, d)
    out = _expected_metrics(y[order.index].astype(float), order, with_variance=True)
    assert out["accuracy"][0] == pytest.approx(skm.accuracy_score(y, d))
    assert out["accuracy"][1] == 0
    if d.any():
        assert out["precision"][0] == pytest.approx(skm.precision_score(y, d))
    if y.any():
        assert out["recall"][0] == pytest.approx(skm.recall_score(y, d))
    if y.any() or d.any():
        assert out["f1"][0] == pytest.approx(skm.f1_score(y, d))
    if 0 < y.sum() < len(y):
        assert out["roc_auc"][0] == pytest.approx(skm.roc_auc_score(y, s))
        assert out["roc_auc"][1] == pytest.approx(0, abs=1e-12)
    # the batched form (several calibrations at once) gives the same values
    q = y[order.index].astype(float)
    batched = _expected_values(np.vstack([q, np.clip(q * 0.5 + 0.25, 0, 1)]), order)
    single = _expected_metrics(np.clip(q * 0.5 + 0.25, 0, 1), order, with_variance=False)
    for name, (value, _) in out.items():
        np.testing.assert_allclose(batched[name][0], value, equal_nan=True)
        np.testing.assert_allclose(batched[name][1], single[name][0], equal_nan=True)


def test_calibration_matches_scikit_learn_isotonic_regression():
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(12)
    scores = np.round(rng.uniform(size=3000), 2)  # many ties
    positive = rng.uniform(size=3000) < scores**2
    x, y = _Calibration(scores, positive).fit(np.ones(3000))
    iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(scores, positive)
    grid = np.linspace(-0.1, 1.1, 500)
    np.testing.assert_allclose(np.interp(grid, x, y), iso.predict(grid), atol=1e-9)


def test_empty_and_degenerate_windows():
    rng = np.random.default_rng(10)
    x, y = _classification_data(500, 0.0, rng)
    est = fit_estimator("classification", 1 / (1 + np.exp(-x[:, 0])), y)
    empty = est.estimate(np.array([]))
    assert all(e.value is None and e.n == 0 and e.reason for e in empty.values())
    low = est.estimate(np.full(20, 0.01))  # nothing predicted positive
    assert low["precision"].value is None and "predicted positive" in (low["precision"].reason or "")
    assert low["accuracy"].value is not None


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("classification", [0.1, 0.9], [1, 1]), {}, "both classes"),
        (("classification", [0.1, 0.9, 0.5], [0, 1, 2]), {}, "two classes"),
        (("classification", [0.1, 0.9], [0]), {}, "one per score"),
        (("classification", [[[0.1, 0.9]]], [0]), {}, "shape"),
        (("classification", [[0.1, 0.2, 0.7]], [0]), {}, "3 score columns for 1 classes"),
        (("classification", [0.1, 0.9], [0, 1]), {"confidence": 2.0}, "confidence"),
        (("regression", [1.0] * 5, [1.0] * 5), {}, "at least 20"),
        (("clustering", [1.0], [1.0]), {}, "unknown task"),
    ],
)
def test_bad_fit_input_is_a_clear_error(args, kwargs, message):
    with pytest.raises(InvalidArgument, match=message):
        fit_estimator(*args, **kwargs)


def test_regression_window_needs_the_reference_columns_and_tolerates_new_categories():
    rng = np.random.default_rng(11)
    xr, yr = _regression_data(400, 0.0, rng)
    pred = xr["a"].to_numpy() * 2
    est = fit_estimator("regression", pred, yr, features=xr, n_models=1)
    with pytest.raises(InvalidArgument, match="lacks the input column"):
        est.estimate(pred[:10], features=xr[["a", "b"]].iloc[:10])
    with pytest.raises(InvalidArgument, match="features"):
        est.estimate(pred[:10])
    unseen = xr.iloc[:10].assign(c="never-seen")
    out = est.estimate(pred[:10], features=unseen)
    assert out["mae"].value is not None and out["mae"].value >= 0


def _multiclass_data(n: int, shift: float, rng: np.random.Generator):
    x = rng.normal(size=(n, 3)) + np.array([shift, -shift / 2, 0.0])
    logits = np.column_stack([1.2 * x[:, 0], -x[:, 1] + 0.5 * x[:, 2], 0.3 * x[:, 0] - 0.7 * x[:, 2]])
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.uniform(size=(n, 1)) > np.cumsum(proba, axis=1)[:, :-1]).sum(axis=1)
    return x, np.array(["a", "b", "c"])[y]


def test_multiclass_estimate_is_within_its_band_under_covariate_shift():
    """4 seeds x 3 shifts x 5 metrics = 60 checks at 95% bands; we require 51 (85%)."""
    inside, total = 0, 0
    for seed in range(4):
        rng = np.random.default_rng(seed)
        xt, yt = _multiclass_data(4000, 0.0, rng)
        model = LogisticRegression(max_iter=500).fit(xt, yt)
        xr, yr = _multiclass_data(4000, 0.0, rng)
        est = fit_estimator("classification", model.predict_proba(xr), yr, classes=list(model.classes_))
        for shift in (0.0, 0.8, 1.6):
            xw, yw = _multiclass_data(1500, shift, rng)
            proba = model.predict_proba(xw)
            pred = model.classes_[proba.argmax(axis=1)]
            estimated = est.estimate(proba)
            real = realized("classification", yw, pred, proba, classes=list(model.classes_), n_resamples=9)
            for name, e in estimated.items():
                assert e.lower is not None and e.upper is not None and e.value is not None
                inside += e.lower <= real[name].value <= e.upper
                total += 1
    assert total == 60
    assert inside >= 51, f"{inside}/{total} inside the band"


def test_multiclass_round_trip_and_bad_input():
    rng = np.random.default_rng(13)
    x, y = _multiclass_data(600, 0.0, rng)
    proba = LogisticRegression(max_iter=500).fit(x, y).predict_proba(x)
    est = fit_estimator("classification", proba, y, classes=["a", "b", "c"], n_calibrators=3)
    again = load_estimator(est.to_bytes())
    assert type(again).__name__ == "MulticlassClassificationEstimator"
    assert again.estimate(proba[:200]) == est.estimate(proba[:200])
    assert all(e.value is None for e in est.estimate(np.zeros((0, 3))).values())
    with pytest.raises(InvalidArgument, match="shape"):
        est.estimate(proba[:, :2])
    with pytest.raises(InvalidArgument, match="not one of the classes"):
        est.estimate(proba[:3], predictions=["a", "b", "z"])
    with pytest.raises(InvalidArgument, match=r"shape \(n, 4\)"):
        fit_estimator("classification", proba, y, classes=["a", "b", "c", "d"])
