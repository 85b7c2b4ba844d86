"""modelyard.evaluation without stores: metrics equal scikit-learn's, McNemar's test on
known tables, the paired bootstrap interval covers the true difference, slices, task inference,
the champion comparison, plots and the JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

from modelyard.core.errors import InvalidArgument
from modelyard.evaluation import (
    EvaluationResult,
    classification_metrics,
    evaluate,
    infer_task,
    paired_bootstrap,
    regression_metrics,
)
from modelyard.evaluation import plots as evaluation_plots
from modelyard.stats import mcnemar_test


@pytest.fixture
def binary() -> tuple[pd.DataFrame, LogisticRegression]:
    X, y = make_classification(400, n_features=5, n_informative=3, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    model = LogisticRegression(max_iter=1000).fit(frame, y)
    return frame.assign(y=y, region=np.where(frame["x0"] > 0, "north", "south")), model


def test_binary_metrics_equal_sklearns(binary: tuple[pd.DataFrame, LogisticRegression]) -> None:
    data, model = binary
    X, y = data[[f"x{i}" for i in range(5)]], data["y"].to_numpy()
    result = evaluate(model, data, target="y", log=False)
    proba = model.predict_proba(X)
    pred = model.predict(X)
    assert result.task == "classification"
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "roc_auc": skm.roc_auc_score(y, proba[:, 1]),
        "average_precision": skm.average_precision_score(y, proba[:, 1]),
        "log_loss": skm.log_loss(y, proba),
    }
    assert result.metrics == pytest.approx(expected, rel=1e-12)
    assert result.confusion_matrix == skm.confusion_matrix(y, pred).tolist()
    assert set(result.curves) == {"roc", "pr"}


def test_multiclass_metrics_are_weighted() -> None:
    X, y = make_classification(300, n_features=6, n_informative=4, n_classes=3, random_state=1)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    pred, proba = model.predict(X), model.predict_proba(X)
    got = classification_metrics(y, pred, proba, [0, 1, 2])
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred, average="weighted"))
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, average="weighted"))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr", average="weighted"))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba))


def test_string_labels_without_probabilities() -> None:
    y = np.array(["no", "yes", "yes", "no", "yes"])
    pred = np.array(["no", "yes", "no", "no", "yes"])
    got = classification_metrics(y, pred)
    assert got == pytest.approx(
        {
            "accuracy": 0.8,
            "precision": skm.precision_score(y, pred, pos_label="yes"),
            "recall": skm.recall_score(y, pred, pos_label="yes"),
            "f1": skm.f1_score(y, pred, pos_label="yes"),
        }
    )


def test_numeric_labels_sort_numerically() -> None:
    y = np.array([2, 10, 10, 2])
    got = classification_metrics(y, np.array([2, 10, 2, 2]))
    assert got["recall"] == pytest.approx(skm.recall_score(y, [2, 10, 2, 2], pos_label=10))


def test_regression_metrics_equal_sklearns() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(10, 3, 200)
    p = y + rng.normal(0, 1, 200)
    got = regression_metrics(y, p)
    assert got == pytest.approx(
        {
            "mae": skm.mean_absolute_error(y, p),
            "mse": skm.mean_squared_error(y, p),
            "rmse": np.sqrt(skm.mean_squared_error(y, p)),
            "r2": skm.r2_score(y, p),
            "mape": skm.mean_absolute_percentage_error(y, p),
        }
    )


def _paired(b: int, c: int, both: int = 50, neither: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Correctness arrays with b rows only the candidate gets right and c only the champion."""
    candidate = [True] * both + [True] * b + [False] * c + [False] * neither
    champion = [True] * both + [False] * b + [True] * c + [False] * neither
    return np.array(candidate), np.array(champion)


def test_mcnemar_exact_on_a_known_table() -> None:
    result = mcnemar_test(*_paired(10, 2))
    # two-sided binomial: 2 * P(X <= 2 | n=12, p=1/2) = 2 * (1 + 12 + 66) / 4096
    assert (result.b, result.c, result.method) == (10, 2, "exact")
    assert result.p_value == pytest.approx(2 * 79 / 4096)


def test_mcnemar_chi_square_on_a_known_table() -> None:
    result = mcnemar_test(*_paired(30, 10))
    # (|30 - 10| - 1)^2 / 40 = 9.025 on one degree of freedom
    assert result.method == "chi-square"
    assert result.statistic == pytest.approx(9.025)
    assert result.p_value == pytest.approx(stats.chi2.sf(9.025, 1))
    assert 0.0026 < result.p_value < 0.0027


def test_mcnemar_edge_cases() -> None:
    same = mcnemar_test(*_paired(0, 0))
    assert same.p_value == 1.0
    assert mcnemar_test(*_paired(5, 5)).p_value == pytest.approx(1.0)
    with pytest.raises(InvalidArgument, match="shape"):
        mcnemar_test([True, False], [True])


def test_paired_bootstrap_interval_covers_the_true_difference() -> None:
    """Candidate errors ~ N(0, 1), champion errors ~ N(0, 2): the true MSE difference is 1 - 4 = -3.
    Over 20 independent data sets the 95% interval must cover -3 nearly always."""
    covered = 0
    for trial in range(20):
        rng = np.random.default_rng(100 + trial)
        y = rng.normal(0, 5, 600)
        candidate = y + rng.normal(0, 1, 600)
        champion = y + rng.normal(0, 2, 600)
        result = paired_bootstrap(y, candidate, champion, "mse", n_resamples=400, seed=trial)
        assert result.ci_low < result.difference < result.ci_high
        covered += result.ci_low <= -3 <= result.ci_high
        assert result.ci_high < 0 and result.p_value < 0.01  # clearly better
    assert covered >= 16


def test_paired_bootstrap_of_identical_models_has_no_difference() -> None:
    y = np.arange(50, dtype=float)
    p = y + 1
    result = paired_bootstrap(y, p, p, "rmse", n_resamples=100)
    assert result.difference == 0 and result.ci_low == 0 and result.ci_high == 0 and result.p_value == 1.0
    with pytest.raises(InvalidArgument):
        paired_bootstrap(y, p, p[:10])
    with pytest.raises(InvalidArgument, match="unknown metric"):
        paired_bootstrap(y, p, p, "nope")


def test_slices_by_column_and_by_mask(binary: tuple[pd.DataFrame, LogisticRegression]) -> None:
    data, model = binary
    result = evaluate(model, data, target="y", slices=["region"], log=False)
    assert list(result.slices) == ["region=north", "region=south"]
    north = data[data["region"] == "north"]
    expected = evaluate(model, north, target="y", log=False).metrics
    assert result.slices["region=north"] == pytest.approx({"n": float(len(north)), **expected})
    masks = evaluate(model, data, target="y", slices={"big x1": data["x1"] > 1}, log=False)
    assert masks.slices["big x1"]["n"] == float((data["x1"] > 1).sum())
    with pytest.raises(InvalidArgument, match="slice column 'nope'"):
        evaluate(model, data, target="y", slices=["nope"], log=False)
    with pytest.raises(InvalidArgument, match="mask has 3 values"):
        evaluate(model, data, target="y", slices={"bad": [True, False, True]}, log=False)


def test_a_slice_with_one_class_leaves_out_undefined_metrics() -> None:
    data = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "y": [0, 0, 0, 1, 1, 1]})
    model = LogisticRegression().fit(data[["x"]], data["y"])
    result = evaluate(model, data, target="y", slices={"low": data["x"] < 3}, log=False)
    assert "roc_auc" not in result.slices["low"] and "accuracy" in result.slices["low"]


def test_task_inference() -> None:
    assert infer_task(pd.Series([0, 1, 1])) == "classification"
    assert infer_task(pd.Series(["a", "b"])) == "classification"
    assert infer_task(pd.Series([True, False])) == "classification"
    assert infer_task(pd.Series([0.5, 1.25, 3.0])) == "regression"
    assert infer_task(pd.Series(range(100))) == "regression"


def test_regression_with_champion_comparison_and_plots() -> None:
    X, y = make_regression(300, 4, noise=5, random_state=0)
    data = pd.DataFrame(X, columns=list("abcd")).assign(target=y)
    good = LinearRegression().fit(data[list("abcd")], y)
    weak = Ridge(alpha=500).fit(data[list("abcd")], y)
    result = evaluate(good, data, target="target", champion=weak, log=False)
    c = result.comparison
    assert result.task == "regression" and c is not None
    assert c.test == "paired_bootstrap" and c.metric == "rmse"
    assert c.significant and c.better is True and c.ci_high is not None and c.ci_high < 0
    worse = evaluate(weak, data, target="target", champion=good, log=False).comparison
    assert worse is not None and worse.better is False
    artifacts = evaluation_plots.render_artifacts(result)
    assert set(artifacts) == {
        "evaluation/plots/residuals.json",
        "evaluation/plots/residual_histogram.json",
        "evaluation/plots/index.html",
    }
    assert json.loads(artifacts["evaluation/plots/residuals.json"])["data"]


def test_classification_champion_comparison_uses_mcnemar(binary: tuple[pd.DataFrame, LogisticRegression]) -> None:
    data, model = binary
    constant = type("Constant", (), {"predict": lambda self, X: np.zeros(len(X), dtype=int)})()
    result = evaluate(model, data, target="y", champion=constant, log=False)
    c = result.comparison
    assert c is not None and c.test == "mcnemar" and c.metric == "accuracy"
    correct = model.predict(data[[f"x{i}" for i in range(5)]]) == data["y"]
    expected = mcnemar_test(correct, data["y"] == 0)
    assert (c.b, c.c, c.p_value) == (expected.b, expected.c, expected.p_value)
    assert c.better is True and c.difference == pytest.approx(c.candidate_value - c.champion_value)


def test_result_json_round_trip(binary: tuple[pd.DataFrame, LogisticRegression]) -> None:
    data, model = binary
    result = evaluate(model, data, target="y", slices=["region"], champion=model, log=False)
    again = EvaluationResult.from_dict(json.loads(result.to_json()))
    assert again.to_dict() == result.to_dict()
    assert set(evaluation_plots.figures(again)) == {"confusion_matrix", "roc", "pr"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "missing"}, "target column 'missing'"),
        ({"target": "y", "task": "ranking"}, "unknown task"),
    ],
)
def test_bad_input(binary: tuple[pd.DataFrame, LogisticRegression], kwargs: dict[str, str], message: str) -> None:
    data, model = binary
    with pytest.raises(InvalidArgument, match=message):
        evaluate(model, data, log=False, **kwargs)  # type: ignore[arg-type]


def test_other_bad_input(binary: tuple[pd.DataFrame, LogisticRegression], tmp_path: object) -> None:
    data, model = binary
    with pytest.raises(InvalidArgument, match="no predict method"):
        evaluate(object(), data, target="y", log=False)
    with pytest.raises(InvalidArgument, match="missing value"):
        evaluate(model, data.assign(y=data["y"].astype(float).where(data.index > 0)), target="y", log=False)
    with pytest.raises(InvalidArgument, match="empty"):
        evaluate(model, data.head(0), target="y", log=False)
    with pytest.raises(InvalidArgument, match="needs a registry"):
        evaluate("churn@1", data, target="y", log=False)
    with pytest.raises(InvalidArgument, match="does not exist"):
        evaluate(model, "/nonexistent/data.csv", target="y", log=False)
    with pytest.raises(InvalidArgument, match="cannot compute regression metrics"):
        evaluate(model, data.assign(y=data["y"].map({0: "a", 1: "b"})), target="y", task="regression", log=False)
