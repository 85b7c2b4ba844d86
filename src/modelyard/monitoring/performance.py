"""Realized performance of a model on a window whose labels arrived, with confidence intervals,
compared against the model version's evaluation baseline.

``realized(task, y_true, y_pred, y_score)`` gives one ``MetricEstimate(value, lower, upper, n)``
per metric. Intervals are analytic where a standard one exists — Wilson for accuracy, precision
and recall (proportions), DeLong for a binary ROC AUC, Student's t for MAE (a mean) — and a
percentile bootstrap for the rest: F1 and the multiclass weighted metrics resample the confusion
matrix (a multinomial draw of its cells, which is the row bootstrap exactly, at a cost independent
of the window's size), RMSE and R² use ``scipy.stats.bootstrap`` up to ``BOOTSTRAP_MAX_ROWS`` rows
and the delta method above. A metric that a window cannot define is reported with
``value=None`` and a ``reason`` (an empty window; ROC AUC with one class only; precision with no
predicted positive), never as an error and never as a made-up number.

``compare(metrics, baseline)`` flags a degradation when the whole interval lies on the bad side of
the baseline (beyond an optional tolerance): a window that is merely noisy is not "degraded".
``baseline_metrics(registry, name, version)`` reads the baseline the evaluation subsystem stored
with the version (its newest evaluation's summary). ``join_labels`` matches labels that arrived by
request id to a window's rows and reports the ids it does not know.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from modelyard.core.errors import InvalidArgument

if TYPE_CHECKING:
    from modelyard.registry.service import RegistryService

__all__ = [
    "CLASSIFICATION_METRICS",
    "HIGHER_IS_BETTER",
    "REGRESSION_METRICS",
    "LabelJoin",
    "MetricComparison",
    "MetricEstimate",
    "PerformanceResult",
    "Task",
    "baseline_metrics",
    "compare",
    "join_labels",
    "realized",
    "window_performance",
]

Task = Literal["classification", "regression"]
CLASSIFICATION_METRICS: tuple[str, ...] = ("accuracy", "f1", "roc_auc", "precision", "recall")
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae", "r2")
#: Direction of each metric; anything not listed here is treated as "higher is better".
HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True, "f1": True, "roc_auc": True, "precision": True, "recall": True, "r2": True,
    "rmse": False, "mae": False, "mse": False,
}  # fmt: skip
_MAX_MULTICLASS_AUC_RESAMPLES = 200
#: Above this many rows RMSE and R² intervals come from the delta method instead of a bootstrap
#: (asymptotically the same; a row bootstrap of a million rows would take minutes).
BOOTSTRAP_MAX_ROWS = 5_000


@dataclass(frozen=True)
class MetricEstimate:
    """One metric on one window: its value and a confidence interval ``[lower, upper]`` over ``n``
    rows. ``value`` is None when the window cannot define the metric (``reason`` says why); the
    bounds are None when no interval can be given (one row, say) — ``reason`` says that too."""

    value: float | None
    lower: float | None
    upper: float | None
    n: int
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def undefined(cls, n: int, reason: str) -> MetricEstimate:
        return cls(None, None, None, n, reason)


@dataclass(frozen=True)
class MetricComparison:
    """A window's metric against the baseline: ``delta = value - baseline`` and ``degraded`` when
    the interval lies entirely on the worse side of ``baseline`` (by more than ``tolerance``)."""

    metric: str
    current: MetricEstimate
    baseline: float | None
    delta: float | None
    degraded: bool
    higher_is_better: bool
    tolerance: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["current"] = self.current.to_dict()
        return out


@dataclass(frozen=True)
class LabelJoin:
    """Labels matched to a window's rows by request id. ``positions`` index the window's rows
    that have a label (``values`` in the same order); ``unknown_request_ids`` are labels whose id
    is not in the window (reported, not an error); ``unlabelled`` counts rows still waiting."""

    positions: np.ndarray
    values: list[Any]
    unknown_request_ids: list[str]
    unlabelled: int


@dataclass
class PerformanceResult:
    """Realized performance of one window, with its comparison against the baseline."""

    task: Task
    n: int
    metrics: dict[str, MetricEstimate]
    comparisons: dict[str, MetricComparison] = field(default_factory=dict)
    unknown_request_ids: list[str] = field(default_factory=list)
    unlabelled: int = 0

    @property
    def degraded(self) -> bool:
        return any(c.degraded for c in self.comparisons.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "n": self.n,
            "degraded": self.degraded,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "comparisons": {k: v.to_dict() for k, v in self.comparisons.items()},
            "unknown_request_ids": list(self.unknown_request_ids),
            "unlabelled": self.unlabelled,
        }


# --- labels ----------------------------------------------------------------------------------


def join_labels(request_ids: Sequence[str], labels: Mapping[str, Any]) -> LabelJoin:
    """Match ``labels`` (request id -> label; a None label counts as missing) to the window's
    ``request_ids``. Ids in ``labels`` that the window does not hold are listed, sorted, in
    ``unknown_request_ids``; they change nothing else."""
    index: dict[str, int] = {}
    for i, rid in enumerate(request_ids):
        index.setdefault(str(rid), i)
    positions: list[int] = []
    values: list[Any] = []
    unknown: list[str] = []
    for rid, value in labels.items():
        at = index.get(str(rid))
        if at is None:
            unknown.append(str(rid))
        elif value is not None:
            positions.append(at)
            values.append(value)
    order = np.argsort(np.asarray(positions, dtype=np.int64), kind="stable")
    pos = np.asarray(positions, dtype=np.int64)[order]
    return LabelJoin(
        positions=pos,
        values=[values[i] for i in order],
        unknown_request_ids=sorted(unknown),
        unlabelled=len(request_ids) - len(set(pos.tolist())),
    )


# --- realized metrics ------------------------------------------------------------------------


def realized(
    task: Task,
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    *,
    metrics: Iterable[str] | None = None,
    classes: Sequence[Any] | None = None,
    confidence: float = 0.95,
    n_resamples: int = 999,
    random_state: int | None = 0,
) -> dict[str, MetricEstimate]:
    """The metrics of one window from its labels ``y_true`` and the model's ``y_pred``; for ROC AUC
    also ``y_score`` (binary: the positive class's probability, shape (n,) or (n, 2); multiclass:
    (n, k) with columns in ``classes`` order). ``classes`` defaults to the sorted labels seen;
    with two classes the second one is the positive class. Returns ``{metric: MetricEstimate}``
    for ``metrics`` (default: accuracy, f1, roc_auc, precision, recall for classification; rmse,
    mae, r2 for regression)."""
    if task not in ("classification", "regression"):
        raise InvalidArgument(f"unknown task {task!r}: use 'classification' or 'regression'")
    if not 0 < confidence < 1:
        raise InvalidArgument(f"confidence must be between 0 and 1, got {confidence}")
    default = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    names = tuple(default if metrics is None else metrics)
    unknown = [m for m in names if m not in default]
    if unknown:
        raise InvalidArgument(f"unknown {task} metric(s) {unknown}; known: {list(default)}")
    y = np.asarray(y_true)
    p = np.asarray(y_pred)
    if y.ndim != 1 or p.ndim != 1 or len(y) != len(p):
        raise InvalidArgument(f"y_true and y_pred must be 1-D and of one length, got {y.shape} and {p.shape}")
    n = len(y)
    if n == 0:
        return {m: MetricEstimate.undefined(0, "no labelled rows in the window") for m in names}
    rng = np.random.default_rng(random_state)
    if task == "regression":
        return _regression(names, y.astype(float), p.astype(float), confidence, n_resamples, rng)
    return _classification(names, y, p, y_score, classes, confidence, n_resamples, rng)


def _regression(
    names: tuple[str, ...], y: np.ndarray, p: np.ndarray, confidence: float, n_resamples: int, rng: np.random.Generator
) -> dict[str, MetricEstimate]:
    from scipy import stats

    if not (np.isfinite(y).all() and np.isfinite(p).all()):
        raise InvalidArgument("regression labels and predictions must be finite numbers")
    n = len(y)
    out: dict[str, MetricEstimate] = {}
    err = y - p
    for name in names:
        if name == "mae":
            a = np.abs(err)
            value = float(a.mean())
            if n < 2:
                out[name] = MetricEstimate(value, None, None, n, "one row: no interval")
                continue
            sem = float(a.std(ddof=1)) / math.sqrt(n)
            half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sem
            out[name] = MetricEstimate(value, max(0.0, value - half), value + half, n)
        elif name == "rmse":
            value = float(np.sqrt(np.mean(err**2)))
            if n > BOOTSTRAP_MAX_ROWS:
                out[name] = _rmse_analytic(err, confidence)
            else:
                out[name] = _bootstrap(value, (y, p), _rmse_stat, confidence, n_resamples, rng)
        elif name == "r2":
            if n < 2 or np.ptp(y) == 0:
                out[name] = MetricEstimate.undefined(n, "R² is undefined when all labels are equal")
                continue
            value = float(_r2_stat(y, p))
            if n > BOOTSTRAP_MAX_ROWS:
                out[name] = _r2_analytic(y, err, value, confidence)
            else:
                out[name] = _bootstrap(value, (y, p), _r2_stat, confidence, n_resamples, rng)
    return out


def _rmse_analytic(err: np.ndarray, confidence: float) -> MetricEstimate:
    """Student's t interval of the mean squared error, square-rooted (a monotone map)."""
    from scipy import stats

    n = len(err)
    sq = err**2
    mse = float(sq.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * float(sq.std(ddof=1)) / math.sqrt(n)
    return MetricEstimate(math.sqrt(mse), math.sqrt(max(0.0, mse - half)), math.sqrt(mse + half), n)


def _r2_analytic(y: np.ndarray, err: np.ndarray, value: float, confidence: float) -> MetricEstimate:
    """R² = 1 - mean(e²)/mean(d²) (d = y - ȳ): a normal interval from the delta method over the
    two means and their covariance."""
    from scipy import stats

    n = len(y)
    e2, d2 = err**2, (y - y.mean()) ** 2
    a, b = float(e2.mean()), float(d2.mean())
    grad = np.array([-1 / b, a / b**2])
    var = float(grad @ np.cov(np.vstack([e2, d2])) @ grad) / n
    half = float(stats.norm.ppf(0.5 + confidence / 2)) * math.sqrt(max(var, 0.0))
    return MetricEstimate(value, value - half, min(1.0, value + half), n)


def _rmse_stat(y: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sqrt(np.mean((y - p) ** 2, axis=axis))


def _r2_stat(y: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    total = np.sum((y - np.mean(y, axis=axis, keepdims=True)) ** 2, axis=axis)
    resid = np.sum((y - p) ** 2, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 1 - resid / np.where(total > 0, total, 1), np.nan)


def _classification(
    names: tuple[str, ...],
    y: np.ndarray,
    p: np.ndarray,
    y_score: Any,
    classes: Sequence[Any] | None,
    confidence: float,
    n_resamples: int,
    rng: np.random.Generator,
) -> dict[str, MetricEstimate]:
    labels = list(classes) if classes is not None else _sorted_labels(set(y.tolist()) | set(p.tolist()))
    if len(labels) < 2:
        labels = [*labels, object()]  # a one-label window is still "binary": the other class is absent
    code = {c: i for i, c in enumerate(labels)}
    try:
        yi = np.fromiter((code[v] for v in y.tolist()), dtype=np.int64, count=len(y))
        pi = np.fromiter((code[v] for v in p.tolist()), dtype=np.int64, count=len(p))
    except KeyError as exc:
        raise InvalidArgument(f"label {exc.args[0]!r} is not one of the classes {labels}") from None
    n = len(y)
    k = len(labels)
    binary = k == 2
    out: dict[str, MetricEstimate] = {}
    for name in names:
        if name == "accuracy":
            out[name] = _wilson(int(np.sum(yi == pi)), n, confidence)
        elif name in ("precision", "recall") and binary:
            tp = int(np.sum((yi == 1) & (pi == 1)))
            denom = int(np.sum(pi == 1)) if name == "precision" else int(np.sum(yi == 1))
            if denom == 0:
                why = "predicted positive" if name == "precision" else "positive label"
                why = f"no {why} in the window"
                out[name] = MetricEstimate.undefined(n, why)
            else:
                out[name] = _wilson(tp, denom, confidence, n=n)
        elif name in ("precision", "recall", "f1"):
            if binary and name == "f1" and not np.any((yi == 1) | (pi == 1)):
                out[name] = MetricEstimate.undefined(n, "no positive label or prediction in the window")
                continue
            out[name] = _confusion_bootstrap(name, yi, pi, k, binary, confidence, n_resamples, rng)
        elif name == "roc_auc":
            out[name] = _roc_auc(yi, y_score, k, n, confidence, n_resamples, rng)
    return out


def _confusion_metric(name: str, cm: np.ndarray, binary: bool) -> np.ndarray:
    """Precision, recall or F1 from confusion matrices ``cm[..., true, predicted]`` (binary: of
    class 1; else the support-weighted average over classes, as evaluation reports it; a class
    without predictions or labels contributes 0, like scikit-learn's ``zero_division=0``)."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(float)
    support = cm.sum(axis=-1).astype(float)  # true counts
    predicted = cm.sum(axis=-2).astype(float)
    if name == "precision":
        num, den = tp, predicted
    elif name == "recall":
        num, den = tp, support
    else:
        num, den = 2 * tp, predicted + support
    per_class = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    if binary:
        return per_class[..., 1]
    n = support.sum(axis=-1, keepdims=True)
    return (per_class * support / np.where(n > 0, n, 1)).sum(axis=-1)


def _confusion_bootstrap(
    name: str,
    yi: np.ndarray,
    pi: np.ndarray,
    k: int,
    binary: bool,
    confidence: float,
    n_resamples: int,
    rng: np.random.Generator,
) -> MetricEstimate:
    """A percentile bootstrap that resamples the confusion matrix instead of the rows: these
    metrics depend on the rows only through its cells, so drawing the cells from a multinomial is
    the row bootstrap exactly, at a cost independent of the window's size."""
    n = len(yi)
    cm = np.bincount(yi * k + pi, minlength=k * k).reshape(k, k)
    value = float(_confusion_metric(name, cm, binary))
    if n < 2:
        return MetricEstimate(value, None, None, n, "one row: no interval")
    draws = rng.multinomial(n, cm.ravel() / n, size=n_resamples).reshape(n_resamples, k, k)
    stats = _confusion_metric(name, draws, binary)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha])
    return MetricEstimate(value, min(float(lo), value), max(float(hi), value), n)


def _roc_auc(
    yi: np.ndarray, y_score: Any, k: int, n: int, confidence: float, n_resamples: int, rng: np.random.Generator
) -> MetricEstimate:
    if y_score is None:
        return MetricEstimate.undefined(n, "no scores given: ROC AUC needs the model's class probabilities")
    scores = np.asarray(y_score, dtype=float)
    if scores.shape[0] != n:
        raise InvalidArgument(f"y_score has {scores.shape[0]} rows for {n} labels")
    present = np.unique(yi)
    if len(present) < 2:
        return MetricEstimate.undefined(n, "ROC AUC is undefined: the window's labels hold one class only")
    if k == 2:
        positive = scores if scores.ndim == 1 else scores[:, -1]
        return delong_auc(yi == 1, positive, confidence)
    if scores.ndim != 2 or scores.shape[1] != k:
        raise InvalidArgument(f"multiclass y_score must have shape (n, {k}), got {scores.shape}")
    if len(present) < k:
        return MetricEstimate.undefined(n, "multiclass ROC AUC is undefined: some classes have no label in the window")
    from sklearn.metrics import roc_auc_score

    def auc(idx: np.ndarray) -> float:
        ys = yi[idx]
        if len(np.unique(ys)) < k:
            return math.nan
        return float(roc_auc_score(ys, scores[idx], multi_class="ovr", average="weighted", labels=list(range(k))))

    value = auc(np.arange(n))
    draws = [auc(rng.integers(0, n, n)) for _ in range(min(n_resamples, _MAX_MULTICLASS_AUC_RESAMPLES))]
    finite = np.asarray([d for d in draws if math.isfinite(d)])
    if len(finite) < 10:
        return MetricEstimate(value, None, None, n, "too few resamples hold every class for an interval")
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(finite, [alpha, 1 - alpha])
    return MetricEstimate(value, float(lo), float(hi), n)


def delong_auc(positive: np.ndarray, scores: np.ndarray, confidence: float = 0.95) -> MetricEstimate:
    """ROC AUC with DeLong's variance (structural components from mid-ranks), a normal interval
    clipped to [0, 1]."""
    from scipy import stats

    pos = np.asarray(positive, dtype=bool)
    s = np.asarray(scores, dtype=float)
    x, z = s[pos], s[~pos]
    m, k = len(x), len(z)
    n = m + k
    if m == 0 or k == 0:
        return MetricEstimate.undefined(n, "ROC AUC is undefined: the window's labels hold one class only")
    r_all = stats.rankdata(s)
    r_x, r_z = stats.rankdata(x), stats.rankdata(z)
    auc = (float(np.sum(r_all[pos])) - m * (m + 1) / 2) / (m * k)
    v10 = (r_all[pos] - r_x) / k  # per positive: share of negatives scored below it
    v01 = 1 - (r_all[~pos] - r_z) / m  # per negative: share of positives scored above it
    var = (np.var(v10, ddof=1) / m if m > 1 else 0.0) + (np.var(v01, ddof=1) / k if k > 1 else 0.0)
    if not math.isfinite(var) or (m < 2 and k < 2):
        return MetricEstimate(auc, None, None, n, "too few rows of a class for an interval")
    half = float(stats.norm.ppf(0.5 + confidence / 2)) * math.sqrt(max(var, 0.0))
    return MetricEstimate(auc, max(0.0, auc - half), min(1.0, auc + half), n)


def _wilson(successes: int, trials: int, confidence: float, *, n: int | None = None) -> MetricEstimate:
    from scipy import stats

    ci = stats.binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    return MetricEstimate(successes / trials, float(ci.low), float(ci.high), trials if n is None else n)


def _bootstrap(
    value: float,
    data: tuple[np.ndarray, ...],
    stat: Callable[..., np.ndarray],
    confidence: float,
    n_resamples: int,
    rng: np.random.Generator,
) -> MetricEstimate:
    n = len(data[0])
    if n < 2:
        return MetricEstimate(value, None, None, n, "one row: no interval")
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a degenerate distribution (every resample equal) is fine here
        res = stats.bootstrap(
            data,
            stat,
            paired=True,
            vectorized=True,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            batch=max(1, min(n_resamples, 2_000_000 // max(n, 1))),
            rng=rng,
        )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return MetricEstimate(value, None, None, n, "the bootstrap interval is undefined on this window")
    return MetricEstimate(value, min(lo, value), max(hi, value), n)


def _sorted_labels(labels: set[Any]) -> list[Any]:
    try:
        return sorted(labels)
    except TypeError:
        return sorted(labels, key=str)


# --- baseline --------------------------------------------------------------------------------


def compare(
    metrics: Mapping[str, MetricEstimate],
    baseline: Mapping[str, float | None],
    *,
    tolerance: float | Mapping[str, float] = 0.0,
) -> dict[str, MetricComparison]:
    """Each metric against its baseline value. ``degraded`` when the interval's better end is
    still worse than the baseline by more than ``tolerance`` (absolute; one number, or per metric);
    a metric without an interval is judged by its value. A metric without a baseline or without a
    value is never degraded."""
    out: dict[str, MetricComparison] = {}
    for name, est in metrics.items():
        tol = float(tolerance.get(name, 0.0) if isinstance(tolerance, Mapping) else tolerance)
        if tol < 0:
            raise InvalidArgument(f"tolerance must be >= 0, got {tol}")
        higher = HIGHER_IS_BETTER.get(name, True)
        base = baseline.get(name)
        base = float(base) if base is not None and math.isfinite(float(base)) else None
        if base is None or est.value is None:
            out[name] = MetricComparison(name, est, base, None, False, higher, tol)
            continue
        if higher:
            best = est.upper if est.upper is not None else est.value
            degraded = best < base - tol
        else:
            best = est.lower if est.lower is not None else est.value
            degraded = best > base + tol
        out[name] = MetricComparison(name, est, base, est.value - base, bool(degraded), higher, tol)
    return out


def baseline_metrics(registry: RegistryService, name: str, version: int) -> dict[str, float]:
    """The baseline of a model version: the metrics of its newest recorded evaluation (the
    summary the evaluation subsystem stores with the version). Empty when it was never evaluated."""
    records = registry.store.list_model_evaluations(name, version)
    if not records:
        return {}
    metrics = records[0].summary.get("metrics") or {}
    if not isinstance(metrics, Mapping):
        return {}
    return {str(k): float(v) for k, v in metrics.items() if isinstance(v, int | float) and math.isfinite(float(v))}


def window_performance(
    task: Task,
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    *,
    baseline: Mapping[str, float | None] | None = None,
    tolerance: float | Mapping[str, float] = 0.0,
    unknown_request_ids: Sequence[str] = (),
    unlabelled: int = 0,
    **kwargs: Any,
) -> PerformanceResult:
    """``realized`` and ``compare`` in one call, as a result a monitor stores for its window."""
    metrics = realized(task, y_true, y_pred, y_score, **kwargs)
    comparisons = compare(metrics, baseline or {}, tolerance=tolerance)
    return PerformanceResult(
        task=task,
        n=len(np.asarray(y_true)),
        metrics=metrics,
        comparisons=comparisons,
        unknown_request_ids=list(unknown_request_ids),
        unlabelled=unlabelled,
    )
