"""Model evaluation: standard metrics, metrics per slice, plots, and a statistical comparison with
the current champion, logged to a run and recorded on the model version.

The metrics themselves are scikit-learn's (a well-kept library; writing them again would only add
bugs). What is the project's own: choosing them for the task, slicing, and the paired tests that
say whether a candidate really differs from the champion on the same rows:

- classification: McNemar's test on paired correctness. Only the rows where exactly one model is
  right carry information (``b``: candidate right, champion wrong; ``c``: the reverse). With
  ``b + c < 25`` the exact binomial test (two-sided, p = 1/2) is used, otherwise the chi-square
  statistic with continuity correction, ``(|b - c| - 1)^2 / (b + c)``, on one degree of freedom.
- regression: a paired bootstrap of the metric difference (candidate - champion): rows are
  resampled with replacement, the same indices for both models, and the percentile interval of
  the differences is reported; an interval that excludes 0 is a significant difference.

``evaluate`` is the use case; it receives the registry service (and through it the stores), so it
runs the same on every store. The SDK face (``modelyard.evaluate``) passes the session's stores
and active run.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from modelyard.core.entities import now_millis
from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.core.ids import new_id

if TYPE_CHECKING:
    from modelyard.registry.service import RegistryService
    from modelyard.store.models import ModelVersion

Task = Literal["classification", "regression"]
TASKS: tuple[str, ...] = ("classification", "regression")
#: Metrics where a lower value is better (the comparison says "better" accordingly).
LOWER_IS_BETTER = frozenset({"mae", "mse", "rmse", "mape", "log_loss"})
EXACT_MCNEMAR_BELOW = 25
MAX_CURVE_POINTS = 1000
TAG_EVALUATED_MODEL = "modelyard.evaluation.model"
TAG_CHAMPION = "modelyard.evaluation.champion"
TAG_TEST = "modelyard.evaluation.test"
EVALUATION_ARTIFACT = "evaluation/evaluation.json"


# --- pure statistics -------------------------------------------------------------------------


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on paired correctness: ``b`` rows only the candidate gets right, ``c`` rows
    only the champion gets right."""

    b: int
    c: int
    statistic: float
    p_value: float
    method: Literal["exact", "chi-square"]


def mcnemar_test(candidate_correct: Any, champion_correct: Any, *, exact: bool | None = None) -> McNemarResult:
    """McNemar's test; ``exact=None`` picks the exact binomial test when ``b + c < 25``."""
    from scipy import stats

    a = np.asarray(candidate_correct, dtype=bool)
    z = np.asarray(champion_correct, dtype=bool)
    if a.shape != z.shape:
        raise InvalidArgument(f"paired correctness arrays differ in shape: {a.shape} and {z.shape}")
    b = int(np.sum(a & ~z))
    c = int(np.sum(~a & z))
    n = b + c
    use_exact = n < EXACT_MCNEMAR_BELOW if exact is None else exact
    if n == 0:
        return McNemarResult(b, c, 0.0, 1.0, "exact" if use_exact else "chi-square")
    if use_exact:
        p = float(stats.binomtest(min(b, c), n, 0.5, alternative="two-sided").pvalue)
        return McNemarResult(b, c, float(min(b, c)), min(1.0, p), "exact")
    statistic = (abs(b - c) - 1.0) ** 2 / n
    return McNemarResult(b, c, float(statistic), float(stats.chi2.sf(statistic, 1)), "chi-square")


@dataclass(frozen=True)
class BootstrapResult:
    """The paired bootstrap of ``metric(candidate) - metric(champion)`` on resampled rows."""

    metric: str
    difference: float  # on the full data
    ci_low: float
    ci_high: float
    confidence: float
    n_resamples: int
    p_value: float  # two-sided: twice the smaller share of resampled differences on one side of 0


def paired_bootstrap(
    y_true: Any,
    candidate_pred: Any,
    champion_pred: Any,
    metric: str | Callable[[np.ndarray, np.ndarray], float] = "rmse",
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> BootstrapResult:
    """Percentile interval of the metric difference over ``n_resamples`` paired resamples."""
    if not 0 < confidence < 1:
        raise InvalidArgument(f"confidence must be between 0 and 1, got {confidence}")
    if n_resamples < 10:
        raise InvalidArgument(f"n_resamples must be at least 10, got {n_resamples}")
    if isinstance(metric, str) and metric not in REGRESSION_METRICS:
        raise InvalidArgument(f"unknown metric {metric!r}; choose one of {', '.join(REGRESSION_METRICS)}")
    fn = REGRESSION_METRICS[metric] if isinstance(metric, str) else metric
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")
    y = np.asarray(y_true, dtype=float)
    a = np.asarray(candidate_pred, dtype=float)
    z = np.asarray(champion_pred, dtype=float)
    if not (len(y) == len(a) == len(z)) or len(y) < 2:
        raise InvalidArgument("the paired bootstrap needs at least 2 rows and predictions of equal length")
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_resamples)
    for i in range(n_resamples):
        idx = rng.integers(0, len(y), len(y))
        diffs[i] = fn(y[idx], a[idx]) - fn(y[idx], z[idx])
    alpha = (1 - confidence) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    share = min(float(np.mean(diffs <= 0)), float(np.mean(diffs >= 0)))
    return BootstrapResult(
        metric=name,
        difference=float(fn(y, a) - fn(y, z)),
        ci_low=float(low),
        ci_high=float(high),
        confidence=confidence,
        n_resamples=n_resamples,
        p_value=min(1.0, 2 * share),
    )


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
    signature = getattr(model, "signature", None)
    if signature is not None and hasattr(signature, "enforce"):
        return signature.enforce(data)
    names = getattr(getattr(model, "native", model), "feature_names_in_", None)
    if names is not None:
        missing = [c for c in names if c not in data.columns]
        if missing:
            raise InvalidArgument(f"the data has no column {missing[0]!r} that the model was fitted on")
        return data[list(names)]
    return data


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


# --- the result ------------------------------------------------------------------------------


@dataclass
class ChampionComparison:
    """The candidate against the champion on the same rows."""

    champion: str  # a reference like "churn@2", or "model" for an object passed in
    test: Literal["mcnemar", "paired_bootstrap"]
    metric: str
    candidate_value: float
    champion_value: float
    difference: float  # candidate - champion
    p_value: float
    significant: bool  # at ``alpha``
    better: bool | None  # None: no significant difference
    alpha: float = 0.05
    statistic: float | None = None
    method: str | None = None  # exact / chi-square for McNemar
    b: int | None = None  # McNemar's discordant counts
    c: int | None = None
    ci_low: float | None = None  # bootstrap interval of the difference
    ci_high: float | None = None
    champion_metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class EvaluationResult:
    task: Task
    n_rows: int
    target: str
    metrics: dict[str, float]
    slices: dict[str, dict[str, float]] = field(default_factory=dict)  # name -> metrics + "n"
    classes: list[Any] | None = None
    confusion_matrix: list[list[int]] | None = None
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    comparison: ChampionComparison | None = None
    model: str | None = None  # "churn@3" when a registered version was evaluated
    evaluation_id: str = field(default_factory=new_id)
    created_at: int = field(default_factory=now_millis)
    run_id: str | None = None
    digest: str | None = None  # of the JSON artifact, once logged
    artifacts: dict[str, str] = field(default_factory=dict)  # run artifact path -> digest

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationResult:
        values = dict(data)
        comparison = values.get("comparison")
        if comparison is not None:
            values["comparison"] = ChampionComparison(**comparison)
        for key in ("metrics",):
            values[key] = {k: _unjson(v) for k, v in values[key].items()}
        values["slices"] = {n: {k: _unjson(v) for k, v in m.items()} for n, m in values.get("slices", {}).items()}
        return cls(**values)

    def summary(self) -> dict[str, Any]:
        """The few facts stored with the version (the full result stays in the JSON artifact)."""
        out: dict[str, Any] = {"task": self.task, "n_rows": self.n_rows, "metrics": self.to_dict()["metrics"]}
        if self.comparison is not None:
            c = self.comparison
            out["champion"] = {
                "reference": c.champion, "test": c.test, "metric": c.metric, "difference": _finite(c.difference),
                "p_value": _finite(c.p_value), "better": c.better,
            }  # fmt: skip
        return out


def _finite(value: float) -> float | None:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def _jsonable(value: Any) -> Any:
    """NaN and infinities become None (JSON has no NaN); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _unjson(value: Any) -> Any:
    return float("nan") if value is None else value


# --- slices ----------------------------------------------------------------------------------

SliceSpec = Sequence[str] | Mapping[str, Any] | None


def _slice_masks(data: pd.DataFrame, slices: SliceSpec) -> dict[str, np.ndarray]:
    if slices is None:
        return {}
    if isinstance(slices, str):
        slices = [slices]
    masks: dict[str, np.ndarray] = {}
    if isinstance(slices, Mapping):
        for name, mask in slices.items():
            array = np.asarray(mask, dtype=bool)
            if array.shape != (len(data),):
                raise InvalidArgument(f"slice {name!r}: the mask has {array.size} values for {len(data)} rows")
            masks[str(name)] = array
        return masks
    for column in slices:
        if column not in data.columns:
            raise InvalidArgument(f"slice column {column!r} is not in the data (columns: {', '.join(map(str, data))})")
        values = data[column]
        for value in sorted(values.dropna().unique().tolist(), key=str):
            masks[f"{column}={value}"] = (values == value).to_numpy()
        if values.isna().any():
            masks[f"{column}=<missing>"] = values.isna().to_numpy()
    return masks


def _metric_key(*parts: str) -> str:
    """Metric keys allow letters, digits and ``_ - . / : space``; anything else becomes ``_``."""
    return "/".join(re.sub(r"[^A-Za-z0-9_\-.: ]", "_", p.replace("=", ":")) for p in parts)


# --- inputs ----------------------------------------------------------------------------------


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet file as a frame (by extension); InvalidArgument with the reason otherwise."""
    p = Path(path)
    if not p.is_file():
        raise InvalidArgument(f"data file {str(p)!r} does not exist")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(p)
        if suffix in (".csv", ".txt", ".gz"):
            return pd.read_csv(p)
    except (ValueError, OSError) as exc:
        raise InvalidArgument(f"cannot read {str(p)!r}: {exc}".splitlines()[0]) from None
    raise InvalidArgument(f"unsupported data file {str(p)!r}: use .csv or .parquet")


def _as_frame(data: Any) -> pd.DataFrame:
    if isinstance(data, (str, Path)):
        return read_table(data)
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    try:
        return pd.DataFrame(data)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"cannot evaluate on {type(data).__name__}: {exc}") from None


# --- the use case ----------------------------------------------------------------------------


def evaluate(
    model_or_uri: Any,
    data: Any,
    *,
    target: str,
    task: Task | None = None,
    slices: SliceSpec = None,
    champion: Any = None,
    log: bool = True,
    registry: RegistryService | None = None,
    run_id: str | None = None,
    project: str | None = None,
    actor: str = "unknown",
    compare_metric: str | None = None,
    alpha: float = 0.05,
    n_resamples: int = 1000,
    seed: int | None = 0,
) -> EvaluationResult:
    """Evaluate a model (an object with ``predict``, a loaded package, or ``"NAME@VERSION"``).

    With ``log`` (and a registry), metrics, plots and the JSON result go to ``run_id`` (or a new
    run named "evaluation" in the model's project, ended when done), and an evaluated registered
    version records the evaluation. ``champion`` (a reference like ``"churn@champion"`` or a
    model) adds the paired statistical comparison."""
    if task is not None and task not in TASKS:
        raise InvalidArgument(f"unknown task {task!r}; expected classification or regression")
    frame = _as_frame(data)
    if target not in frame.columns:
        raise InvalidArgument(f"target column {target!r} is not in the data (columns: {', '.join(map(str, frame))})")
    if frame.empty:
        raise InvalidArgument("cannot evaluate on an empty data set")
    y_series = frame[target]
    if y_series.isna().any():
        raise InvalidArgument(f"target column {target!r} has {int(y_series.isna().sum())} missing value(s)")
    masks = _slice_masks(frame, slices)
    features = frame.drop(columns=[target])

    model, version = _resolve(model_or_uri, registry)
    task = task or infer_task(y_series, model)
    y = y_series.to_numpy()
    pred = _predict(model, features, task)
    if len(pred.labels) != len(y):
        raise InvalidArgument(f"the model returned {len(pred.labels)} predictions for {len(y)} rows")
    result = EvaluationResult(
        task=task,
        n_rows=len(y),
        target=target,
        metrics=_metrics(task, y, pred),
        model=None if version is None else f"{version.model_name}@{version.version}",
    )
    for name, mask in masks.items():
        if mask.any():
            sub = _Predictions(pred.labels[mask], None if pred.scores is None else pred.scores[mask], pred.classes)
            result.slices[name] = {"n": float(mask.sum()), **_metrics(task, y[mask], sub)}
    _add_curves(result, y, pred)
    if champion is not None:
        result.comparison = _compare(
            task, y, features, pred, champion, registry, version, compare_metric, alpha, n_resamples, seed
        )
    if log and registry is not None:
        _log(result, registry, version, run_id=run_id, project=project, actor=actor)
    return result


def _resolve(model_or_uri: Any, registry: RegistryService | None) -> tuple[Any, ModelVersion | None]:
    if isinstance(model_or_uri, str):
        if registry is None:
            raise InvalidArgument("evaluating a model reference needs a registry")
        version = registry.resolve(model_or_uri)
        return registry.load(model_or_uri, allow_decommissioned=True), version
    if not hasattr(model_or_uri, "predict"):
        raise InvalidArgument(f"cannot evaluate {type(model_or_uri).__name__}: it has no predict method")
    return model_or_uri, None


def _add_curves(result: EvaluationResult, y: np.ndarray, pred: _Predictions) -> None:
    if result.task == "regression":
        residuals = y.astype(float) - pred.labels
        keep = _thin(len(y))
        result.curves["residuals"] = {
            "predicted": pred.labels[keep].tolist(), "residual": residuals[keep].tolist(),
        }  # fmt: skip
        return
    from sklearn import metrics as m

    classes = pred.classes or _sorted_labels(set(y.tolist()) | set(pred.labels.tolist()))
    result.classes = _jsonable(list(classes))
    result.confusion_matrix = m.confusion_matrix(y, pred.labels, labels=classes).tolist()
    if pred.scores is None or pred.classes is None or len(pred.classes) != 2 or len(set(y.tolist())) < 2:
        return
    positive = y == pred.classes[1]
    fpr, tpr, _ = m.roc_curve(positive, pred.scores[:, 1])
    precision, recall, _ = m.precision_recall_curve(positive, pred.scores[:, 1])
    roc_keep, pr_keep = _thin(len(fpr)), _thin(len(precision))
    result.curves["roc"] = {"fpr": fpr[roc_keep].tolist(), "tpr": tpr[roc_keep].tolist()}
    result.curves["pr"] = {"recall": recall[pr_keep].tolist(), "precision": precision[pr_keep].tolist()}


def _thin(n: int) -> np.ndarray:
    """At most MAX_CURVE_POINTS evenly spaced indices, always keeping both ends."""
    if n <= MAX_CURVE_POINTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_CURVE_POINTS).round().astype(int))


def _compare(
    task: Task,
    y: np.ndarray,
    features: pd.DataFrame,
    pred: _Predictions,
    champion: Any,
    registry: RegistryService | None,
    candidate: ModelVersion | None,
    compare_metric: str | None,
    alpha: float,
    n_resamples: int,
    seed: int | None,
) -> ChampionComparison | None:
    champion_model, champion_version = _resolve(champion, registry)
    if candidate is not None and champion_version is not None and champion_version.id == candidate.id:
        return None  # the candidate is the champion: nothing to compare
    label = "model" if champion_version is None else f"{champion_version.model_name}@{champion_version.version}"
    theirs = _predict(champion_model, features, task)
    if len(theirs.labels) != len(y):
        raise InvalidArgument(f"the champion returned {len(theirs.labels)} predictions for {len(y)} rows")
    champion_metrics = _metrics(task, y, theirs)
    if task == "classification":
        metric = compare_metric or "accuracy"
        mine_ok, theirs_ok = pred.labels == y, theirs.labels == y
        test = mcnemar_test(mine_ok, theirs_ok)
        ours = float(np.mean(mine_ok)) if metric == "accuracy" else _metrics(task, y, pred).get(metric, math.nan)
        their_value = champion_metrics.get(metric, math.nan)
        significant = test.p_value < alpha
        return ChampionComparison(
            champion=label, test="mcnemar", metric=metric, candidate_value=ours, champion_value=their_value,
            difference=ours - their_value, p_value=test.p_value, significant=significant,
            better=(test.b > test.c) if significant else None, alpha=alpha, statistic=test.statistic,
            method=test.method, b=test.b, c=test.c, champion_metrics=champion_metrics,
        )  # fmt: skip
    metric = compare_metric or "rmse"
    if metric not in REGRESSION_METRICS:
        raise InvalidArgument(f"cannot compare on {metric!r}; choose one of {', '.join(REGRESSION_METRICS)}")
    boot = paired_bootstrap(
        y.astype(float), pred.labels, theirs.labels, metric, n_resamples=n_resamples, confidence=1 - alpha, seed=seed
    )
    significant = boot.ci_low > 0 or boot.ci_high < 0
    lower_better = metric in LOWER_IS_BETTER
    better = None if not significant else (boot.difference < 0) == lower_better
    return ChampionComparison(
        champion=label, test="paired_bootstrap", metric=metric,
        candidate_value=float(REGRESSION_METRICS[metric](y.astype(float), pred.labels)),
        champion_value=float(REGRESSION_METRICS[metric](y.astype(float), theirs.labels)),
        difference=boot.difference, p_value=boot.p_value, significant=significant, better=better, alpha=alpha,
        ci_low=boot.ci_low, ci_high=boot.ci_high, champion_metrics=champion_metrics,
    )  # fmt: skip


def _log(
    result: EvaluationResult,
    registry: RegistryService,
    version: ModelVersion | None,
    *,
    run_id: str | None,
    project: str | None,
    actor: str,
) -> None:
    from modelyard.registry import evaluation_plots
    from modelyard.tracking.service import TrackingService

    tracking = TrackingService(registry.tracking, registry.artifacts)
    own_run = run_id is None
    if own_run:
        if version is not None:
            project_id = registry.get_model(version.model_name).project_id
            project_name = registry.tracking.get_project(project_id).name
        elif project is not None:
            project_name = project
        else:
            raise InvalidArgument("log an evaluation of a model object inside a run, or pass project=")
        run_id = tracking.create_run(project_name, name="evaluation").id
    assert run_id is not None
    result.run_id = run_id
    try:
        at = result.created_at
        points = [(_metric_key("eval", k), v, 0, at) for k, v in result.metrics.items() if math.isfinite(v)]
        for name, values in result.slices.items():
            points += [(_metric_key("eval", "slice", name, k), v, 0, at) for k, v in values.items() if math.isfinite(v)]
        tags: dict[str, str] = {}
        if result.model is not None:
            tags[TAG_EVALUATED_MODEL] = result.model
        c = result.comparison
        if c is not None:
            tags[TAG_CHAMPION] = c.champion
            tags[TAG_TEST] = c.test
            for key, value in (
                ("champion_" + c.metric, c.champion_value), ("difference", c.difference), ("p_value", c.p_value),
            ):  # fmt: skip
                if math.isfinite(value):
                    points.append((_metric_key("eval", "compare", key), value, 0, at))
        tracking.log_batch(run_id, metrics=points, tags=tags)
        for path, payload in evaluation_plots.render_artifacts(result).items():
            result.artifacts[path] = tracking.log_bytes(run_id, payload, path).digest
        entry = tracking.log_bytes(run_id, result.to_json().encode(), EVALUATION_ARTIFACT)
        result.digest = entry.digest
        if version is not None:
            registry.store.add_model_evaluation(
                version.model_name,
                version.version,
                evaluation_id=result.evaluation_id,
                digest=entry.digest,
                summary=result.summary(),
                run_id=run_id,
                actor=actor,
                at=registry.clock(),
            )
    except BaseException:
        if own_run:
            tracking.end_run(run_id, "FAILED")
        raise
    if own_run:
        tracking.end_run(run_id, "FINISHED")


def latest_evaluation(registry: RegistryService, name: str, version: int) -> EvaluationResult | None:
    """The newest recorded evaluation of a version, read back from its JSON artifact."""
    records = registry.store.list_model_evaluations(name, version)
    if not records:
        return None
    try:
        result = EvaluationResult.from_dict(json.loads(registry.artifacts.get_bytes(records[0].digest)))
    except NotFound:  # the blob was purged with its version
        return None
    result.digest = records[0].digest  # the JSON cannot contain its own hash
    return result
