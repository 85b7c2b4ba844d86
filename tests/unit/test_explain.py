"""modelyard.explain: permutation importance, SHAP for tree models, occlusion, importance drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelyard.core.errors import InvalidArgument
from modelyard.explain import (
    Importance,
    explain_rows,
    importance_diff,
    is_tree_model,
    occlusion_rows,
    permutation_importance,
    shap_importance,
    shap_rows,
)


def synthetic(n: int = 600, seed: int = 0, signal: str = "signal") -> tuple[pd.DataFrame, np.ndarray]:
    """Four features; the target depends strongly on ``signal``, weakly on ``weak``, not on the rest."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 4)), columns=["signal", "weak", "noise_a", "noise_b"])
    y = 3.0 * frame[signal].to_numpy() + 0.3 * frame["weak"].to_numpy() + rng.normal(0, 0.1, n)
    return frame, y


def test_permutation_ranks_the_informative_feature_first_for_any_model() -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    X, y = synthetic()
    importance = permutation_importance(LinearRegression().fit(X, y), X, y, seed=0)
    assert importance.method == "permutation" and importance.metric == "r2"
    assert importance.ranked()[:2] == ["signal", "weak"]
    assert importance.features[0].value > 1.0 and abs(importance.values()["noise_a"]) < 0.01
    assert importance.shares()["signal"] > 0.9

    labels = (y > 0).astype(int)
    classifier = LogisticRegression().fit(X, labels)
    importance = permutation_importance(classifier, X, labels, seed=0)
    assert importance.metric == "accuracy" and importance.ranked()[0] == "signal"

    class Rule:  # no estimator at all: only predict
        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            return np.asarray(frame["weak"] * 2.0)

    importance = permutation_importance(Rule(), X, X["weak"].to_numpy() * 2.0, seed=0)
    assert importance.ranked()[0] == "weak" and importance.values()["signal"] == 0.0


def test_permutation_caps_rows_and_keeps_a_baseline() -> None:
    from sklearn.linear_model import LinearRegression

    X, y = synthetic(n=3000)
    importance = permutation_importance(LinearRegression().fit(X, y), X, y, max_rows=500, n_repeats=2)
    assert importance.n_rows == 500
    assert set(importance.baseline) == set(X.columns)
    assert abs(importance.baseline["signal"] - float(X["signal"].median())) < 0.2
    again = Importance.from_dict(importance.to_dict())
    assert again.ranked() == importance.ranked() and again.baseline == importance.baseline


@pytest.mark.parametrize("kind", ["forest", "gbm", "hist", "xgboost", "lightgbm"])
def test_shap_values_sum_to_prediction_minus_base_value(kind: str) -> None:
    from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingRegressor, RandomForestRegressor

    X, y = synthetic(n=400)
    if kind == "xgboost":
        import xgboost

        model = xgboost.XGBRegressor(n_estimators=30, max_depth=3).fit(X, y)
    elif kind == "lightgbm":
        import lightgbm

        model = lightgbm.LGBMRegressor(n_estimators=30, verbose=-1).fit(X, y)
    else:
        cls = {"forest": RandomForestRegressor, "gbm": GradientBoostingRegressor, "hist": HistGradientBoostingRegressor}
        model = cls[kind](random_state=0).fit(X, y)
    assert is_tree_model(model)
    rows = shap_rows(model, X.head(20))
    assert rows.method == "shap" and rows.additive and rows.output == "prediction"
    prediction = model.predict(X.head(20))
    np.testing.assert_allclose(rows.base_values + rows.values.sum(axis=1), prediction, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(rows.outputs, prediction, rtol=1e-4, atol=1e-4)
    assert shap_importance(model, X).ranked()[0] == "signal"


def test_shap_of_a_binary_classifier_explains_the_positive_class() -> None:
    from sklearn.ensemble import RandomForestClassifier

    X, y = synthetic(n=400)
    labels = (y > 0).astype(int)
    forest = RandomForestClassifier(n_estimators=30, random_state=0).fit(X, labels)
    rows = shap_rows(forest, X.head(10))
    assert rows.output == "probability of class 1"
    np.testing.assert_allclose(rows.outputs, forest.predict_proba(X.head(10))[:, 1], atol=1e-6)

    import xgboost

    booster = xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(X, labels)
    rows = explain_rows(booster, X.head(10))
    assert rows.method == "shap" and rows.output.startswith("margin")
    np.testing.assert_allclose(rows.outputs, booster.predict(X.head(10), output_margin=True), rtol=1e-4, atol=1e-4)


def test_shap_refuses_a_model_that_is_not_a_tree() -> None:
    from sklearn.linear_model import LinearRegression

    X, y = synthetic(n=100)
    with pytest.raises(InvalidArgument, match="tree models"):
        shap_rows(LinearRegression().fit(X, y), X)


def test_occlusion_for_other_models() -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    X, y = synthetic()
    linear = LinearRegression().fit(X, y)
    baseline = dict.fromkeys(X.columns, 0.0)
    rows = occlusion_rows(linear, X.head(5), baseline)
    # for a linear model occlusion is exact: coefficient × (x - baseline)
    np.testing.assert_allclose(rows.values, X.head(5).to_numpy() * linear.coef_, atol=1e-9)
    np.testing.assert_allclose(rows.outputs, linear.predict(X.head(5)))
    assert rows.base_values[0] == pytest.approx(float(linear.intercept_))
    assert rows.to_dict()["rows"][0]["attributions"]["signal"] == pytest.approx(rows.values[0, 0])

    labels = np.digitize(y, [-1.0, 1.0])  # three classes: the predicted class's probability
    classifier = LogisticRegression(max_iter=500).fit(X, labels)
    rows = explain_rows(classifier, X.head(8))
    assert rows.method == "occlusion" and rows.output == "probability of the predicted class"
    np.testing.assert_allclose(rows.outputs, classifier.predict_proba(X.head(8)).max(axis=1))
    assert np.abs(rows.values[:, 0]).mean() > np.abs(rows.values[:, 2]).mean()


def test_explain_rows_bad_input() -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.svm import SVC

    X, y = synthetic(n=100)
    linear = LinearRegression().fit(X, y)
    with pytest.raises(InvalidArgument, match="unknown explanation method"):
        explain_rows(linear, X, method="lime")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="baseline"):
        explain_rows(linear, X.head(1))
    with pytest.raises(InvalidArgument, match="no column 'signal'"):
        explain_rows(linear, X.drop(columns=["signal"]))
    with pytest.raises(InvalidArgument, match="no class probabilities"):
        explain_rows(SVC().fit(X, (y > 0).astype(int)), X.head(3))
    with pytest.raises(InvalidArgument, match="labels for"):
        permutation_importance(linear, X, y[:-1])
    with pytest.raises(InvalidArgument, match="not an importance record"):
        Importance.from_dict({"method": "permutation"})


def test_diff_detects_a_swapped_importance() -> None:
    from sklearn.linear_model import LinearRegression

    X, y = synthetic()
    _, y_swapped = synthetic(signal="noise_a")
    before = permutation_importance(LinearRegression().fit(X, y), X, y)
    after = permutation_importance(LinearRegression().fit(X, y_swapped), X, y_swapped)
    diff = importance_diff(before, after, a_label="m@1", b_label="m@2", top=1)
    assert diff.rank_correlation is not None and diff.rank_correlation < 0.5
    assert {s.feature for s in diff.shifts[:2]} == {"signal", "noise_a"}
    first = {s.feature: s for s in diff.shifts}
    assert first["signal"].change < -0.8 and first["noise_a"].change > 0.8
    assert first["signal"].rank_a == 1 and first["noise_a"].rank_b == 1
    assert diff.left_top == ["signal"] and diff.entered_top == ["noise_a"]

    same = importance_diff(before, before)
    assert same.rank_correlation == pytest.approx(1.0) and all(s.change == 0 for s in same.shifts)
    with pytest.raises(InvalidArgument, match="cannot compare"):
        importance_diff(before, Importance("shap", before.features, 10))


def test_evaluation_computes_importance_by_default_and_never_fails_for_it() -> None:
    from sklearn.linear_model import LinearRegression

    from modelyard.evaluation import evaluate

    X, y = synthetic()
    result = evaluate(LinearRegression().fit(X, y), X.assign(y=y), target="y", log=False, importance_rows=100)
    assert result.importance["permutation"]["n_rows"] == 100
    assert result.importance["permutation"]["features"][0]["feature"] == "signal"
    assert "shap" not in result.importance  # not a tree model
    assert (
        evaluate(LinearRegression().fit(X, y), X.assign(y=y), target="y", log=False, importance=False).importance == {}
    )

    class Flaky:  # scores the evaluation, then fails: importance is skipped, unless asked for
        calls = 0

        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            self.calls += 1
            if self.calls > 1:
                raise RuntimeError("flaky")
            return np.zeros(len(frame))

    assert evaluate(Flaky(), X.assign(y=y), target="y", log=False, task="regression").importance == {}
    with pytest.raises(RuntimeError, match="flaky"):
        evaluate(Flaky(), X.assign(y=y), target="y", log=False, task="regression", importance=True)


def test_without_the_explain_extra_trees_fall_back_to_occlusion(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from sklearn.ensemble import RandomForestRegressor

    from modelyard.core.errors import MissingExtra

    X, y = synthetic(n=200)
    forest = RandomForestRegressor(n_estimators=10, random_state=0).fit(X, y)
    monkeypatch.setitem(sys.modules, "shap", None)  # as if not installed
    rows = explain_rows(forest, X.head(5))
    assert rows.method == "occlusion" and rows.values.shape == (5, 4)
    with pytest.raises(MissingExtra, match=r"modelyard\[explain\]"):
        shap_rows(forest, X.head(5))
