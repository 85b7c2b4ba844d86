"""Evaluation metrics and predictions: scikit-learn's metrics chosen for the task, how a model is
asked for its predictions (labels, class probabilities), and the task inferred from the target.

The metrics themselves are scikit-learn's (a well-kept library; writing them again would only add
bugs); the fast numpy versions in ``REGRESSION_METRICS`` serve the paired bootstrap's loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from modelyard import stats
from modelyard.core.errors import InvalidArgument

Task = Literal["classification", "regression"]
TASKS: tuple[str, ...] = ("classification", "regression")
#: Metrics where a lower value is better (the comparison says "better" accordingly).
LOWER_IS_BETTER = frozenset({"mae", "mse", "rmse", "mape", "log_loss"})


# --- metrics ---------------------------------------------------------------------------------


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - p) ** 2)))


def _mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(y - p)))


def _mse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((y - p) ** 2))


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    total = float(np.sum((y - y.mean()) ** 2))
    return float("nan") if total == 0 else 1 - float(np.sum((y - p) ** 2)) / total


def _mape(y: np.ndarray, p: np.ndarray) -> float:
    eps = np.finfo(np.float64).eps
    return float(np.mean(np.abs(y - p) / np.maximum(np.abs(y), eps)))


#: Fast numpy versions for the bootstrap loop; ``regression_metrics`` reports scikit-learn's.
REGRESSION_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "mae": _mae,
    "mse": _mse,
    "rmse": _rmse,
    "r2": _r2,
    "mape": _mape,
}


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    from sklearn import metrics as m

    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    mse = float(m.mean_squared_error(y, p))
    out = {
        "mae": float(m.mean_absolute_error(y, p)),
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mape": float(m.mean_absolute_percentage_error(y, p)),
    }
    if len(y) >= 2 and np.ptp(y) > 0:
        out["r2"] = float(m.r2_score(y, p))
    return out


def classification_metrics(
    y_true: Any, y_pred: Any, scores: np.ndarray | None = None, classes: Sequence[Any] | None = None
) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (binary for two classes, else weighted), and with class
    probabilities ``scores`` (columns in the order of ``classes``) ROC AUC, log loss and average
    precision. A metric undefined on these rows (one class only) is left out, not faked."""
    from sklearn import metrics as m

    y = np.asarray(y_true)
    p = np.asarray(y_pred)
    labels = list(classes) if classes is not None else _sorted_labels(set(y.tolist()) | set(p.tolist()))
    binary = len(labels) == 2
    kwargs: dict[str, Any] = {"average": "binary", "pos_label": labels[-1]} if binary else {"average": "weighted"}
    if not binary:
        kwargs["labels"] = labels
    out = {
        "accuracy": float(m.accuracy_score(y, p)),
        "precision": float(m.precision_score(y, p, zero_division=0, **kwargs)),
        "recall": float(m.recall_score(y, p, zero_division=0, **kwargs)),
        "f1": float(m.f1_score(y, p, zero_division=0, **kwargs)),
    }
    present = set(y.tolist())
    if scores is None or classes is None or len(present) < 2:
        return out
    if binary:
        positive = scores[:, 1]
        out["roc_auc"] = float(m.roc_auc_score(y == labels[1], positive))
        out["average_precision"] = float(m.average_precision_score(y == labels[1], positive))
    elif present == set(labels):
        out["roc_auc"] = float(m.roc_auc_score(y, scores, multi_class="ovr", average="weighted", labels=labels))
        onehot = np.column_stack([y == c for c in labels])
        out["average_precision"] = float(m.average_precision_score(onehot, scores, average="weighted"))
    out["log_loss"] = float(m.log_loss(y, scores, labels=labels))
    return out


def _sorted_labels(labels: set[Any]) -> list[Any]:
    """Numbers in numeric order (2 before 10), anything else by its text."""
    try:
        return sorted(labels)
    except TypeError:
        return sorted(labels, key=str)


# --- predictions -----------------------------------------------------------------------------


@dataclass
class _Predictions:
    labels: np.ndarray
    scores: np.ndarray | None = None  # class probabilities, columns in ``classes`` order
    classes: list[Any] | None = None


def _features(model: Any, data: pd.DataFrame) -> Any:
    """What the model's predict expects: a signature-checked frame for packaged models, the fitted
    feature columns for estimators that recorded them, else the frame."""
    from modelyard.explain._model import model_inputs

    return model_inputs(model, data)


def _predict(model: Any, data: pd.DataFrame, task: Task) -> _Predictions:
    native = getattr(model, "native", model)
    X = _features(model, data)
    if hasattr(model, "native") and hasattr(model, "signature"):
        labels = np.asarray(model.predict(data))
    else:
        labels = np.asarray(model.predict(X))
    if labels.ndim > 1 and labels.shape[1] == 1:
        labels = labels.ravel()
    if task == "regression":
        return _Predictions(labels.astype(float))
    proba = getattr(native, "predict_proba", None)
    classes = getattr(native, "classes_", None)
    if proba is None or classes is None:
        return _Predictions(labels)
    scores = np.asarray(proba(X), dtype=float)
    return _Predictions(labels, scores, list(np.asarray(classes).tolist()))


def infer_task(y: pd.Series, model: Any = None) -> Task:
    """Classification when the model predicts probabilities or the target is a label (bool,
    string, category, or integers with at most 20 distinct values); regression otherwise."""
    native = getattr(model, "native", model)
    if native is not None and hasattr(native, "predict_proba") and hasattr(native, "classes_"):
        return "classification"
    if pd.api.types.is_bool_dtype(y) or not pd.api.types.is_numeric_dtype(y):
        return "classification"
    if pd.api.types.is_integer_dtype(y) and y.nunique() <= 20:
        return "classification"
    return "regression"


def _metrics(task: Task, y: np.ndarray, pred: _Predictions) -> dict[str, float]:
    try:
        if task == "regression":
            return regression_metrics(y, pred.labels)
        return classification_metrics(y, pred.labels, pred.scores, pred.classes)
    except (ValueError, TypeError) as exc:  # e.g. a target label the model never saw, text for regression
        raise InvalidArgument(f"cannot compute {task} metrics: {exc}".splitlines()[0]) from None


def paired_bootstrap(
    y_true: Any,
    candidate_pred: Any,
    champion_pred: Any,
    metric: str | Callable[[np.ndarray, np.ndarray], float] = "rmse",
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> stats.BootstrapResult:
    """``modelyard.stats.paired_bootstrap`` with a metric named as in ``REGRESSION_METRICS``."""
    if isinstance(metric, str) and metric not in REGRESSION_METRICS:
        raise InvalidArgument(f"unknown metric {metric!r}; choose one of {', '.join(REGRESSION_METRICS)}")
    fn = REGRESSION_METRICS[metric] if isinstance(metric, str) else metric
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")
    return stats.paired_bootstrap(
        y_true, candidate_pred, champion_pred, fn, name=name, n_resamples=n_resamples, confidence=confidence, seed=seed
    )
