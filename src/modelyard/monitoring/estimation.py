"""Performance estimated without labels, per window, with confidence bands.

Classifiers (binary) — confidence-based estimation (CBPE-style). On the reference (rows with
labels, e.g. the version's evaluation data) the model's scores are calibrated with isotonic
regression, so a calibrated score ``q`` is the probability that the row is positive. On a window
without labels each row then contributes ``q`` of a positive and ``1 - q`` of a negative to the
*expected* confusion matrix, from which accuracy, precision, recall and F1 follow, and the expected
ROC AUC is the expected number of correctly ordered (positive, negative) pairs over the expected
number of pairs. The estimate holds as long as P(label | score) is what it was on the reference —
true under covariate shift, not under concept drift.

The band has two parts, added as variances. *Sampling*: given the calibrated probabilities the
realized metric of the window is a function of independent Bernoulli labels, so its variance is
analytic (exact for accuracy and precision, the delta method for recall, F1 and the AUC written as
a Mann-Whitney statistic). *Reference*: the calibration itself was learnt from a finite reference;
``n_calibrators`` isotonic fits on bootstrap resamples of the reference give the spread of the
estimate due to that. Band = estimate ± z·sqrt(sum), clipped to [0, 1].

Regressors — direct loss estimation (DLE-style). A gradient-boosted model (scikit-learn's
HistGradientBoosting) is trained on the reference to predict ``|y - ŷ|`` and another ``(y - ŷ)²``
from the inputs and the prediction; a window's estimated MAE is the mean predicted absolute error,
its RMSE the root of the mean predicted squared error. Bands: the conditional variance of each
row's loss (``E[e²] - E[|e|]²`` for the absolute error; ``κ·E[e²]²`` for the squared error with the
reference's kurtosis ratio ``κ``) summed over the window.

Estimators serialize to bytes with ``to_bytes`` and back with ``load_estimator`` (or
``Estimator.from_bytes``): arrays only (numpy's ``.npz`` without pickle, the boosted trees as node
arrays walked by ``estimation_regression``) behind a sha256 digest, so loading runs no stored code.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from modelyard.core.errors import InvalidArgument
from modelyard.monitoring.performance import MetricEstimate, Task

__all__ = [
    "BinaryClassificationEstimator",
    "Estimator",
    "fit_estimator",
    "load_estimator",
]

_MAGIC = b"MYEST1\n"
CLASSIFICATION_ESTIMATES = ("accuracy", "f1", "roc_auc", "precision", "recall")
REGRESSION_ESTIMATES = ("mae", "rmse", "mse")


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise InvalidArgument(f"confidence must be between 0 and 1, got {confidence}")
    return _normal_quantile(0.5 + confidence / 2)


@functools.lru_cache(maxsize=64)
def _normal_quantile(p: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(p))


class Estimator(ABC):
    """A label-free performance estimator fitted on a reference."""

    kind: ClassVar[str]
    confidence: float

    @abstractmethod
    def estimate(
        self, window: Any, *, predictions: Any = None, features: Any = None, confidence: float | None = None
    ) -> dict[str, MetricEstimate]:
        """Estimated metrics of one window (no labels needed)."""

    @abstractmethod
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able metadata, named arrays) that rebuild this estimator."""

    @classmethod
    @abstractmethod
    def _from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Estimator: ...

    def to_bytes(self) -> bytes:
        meta, arrays = self._state()
        meta = {"kind": self.kind, **meta}
        buf = io.BytesIO()
        header = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
        stored: dict[str, Any] = {"__meta__": header, **arrays}
        np.savez_compressed(buf, **stored)
        payload = buf.getvalue()
        return _MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload

    @staticmethod
    def from_bytes(data: bytes) -> Estimator:
        return load_estimator(data)


def load_estimator(data: bytes) -> Estimator:
    """Rebuild an estimator from ``to_bytes``; the digest is checked and nothing is unpickled."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidArgument("an estimator is loaded from bytes")
    raw = bytes(data)
    if not raw.startswith(_MAGIC) or len(raw) < len(_MAGIC) + 65:
        raise InvalidArgument("not a serialized modelyard estimator")
    digest = raw[len(_MAGIC) : len(_MAGIC) + 64].decode(errors="replace")
    payload = raw[len(_MAGIC) + 65 :]
    if hashlib.sha256(payload).hexdigest() != digest:
        raise InvalidArgument("the serialized estimator is corrupt (sha256 mismatch)")
    with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    from modelyard.monitoring.estimation_multiclass import MulticlassClassificationEstimator
    from modelyard.monitoring.estimation_regression import RegressionEstimator

    kinds: dict[str, type[Estimator]] = {
        BinaryClassificationEstimator.kind: BinaryClassificationEstimator,
        MulticlassClassificationEstimator.kind: MulticlassClassificationEstimator,
        RegressionEstimator.kind: RegressionEstimator,
    }
    cls = kinds.get(meta.get("kind"))
    if cls is None:
        raise InvalidArgument(f"unknown estimator kind {meta.get('kind')!r}")
    return cls._from_state(meta, arrays)


def fit_estimator(
    task: Task,
    reference: Any,
    reference_labels: Any,
    *,
    predictions: Any = None,
    features: Any = None,
    classes: Sequence[Any] | None = None,
    threshold: float = 0.5,
    confidence: float = 0.95,
    n_calibrators: int = 10,
    n_models: int = 5,
    random_state: int | None = 0,
) -> Estimator:
    """Fit a label-free estimator on a labelled reference.

    classification: ``reference`` holds the scores (binary: the positive class's probability,
    shape (n,) or (n, 2); multiclass: (n, k) with columns in ``classes`` order), ``reference_labels``
    the labels (``classes`` orders them; with two the second is positive) and ``predictions`` the
    predicted labels (default: score >= ``threshold``, or the highest score).
    regression: ``reference`` holds the model's predictions, ``reference_labels`` the targets and
    ``features`` the inputs (a DataFrame or 2-D array; optional but the estimate follows a shift
    of the inputs only through them). ``n_calibrators`` / ``n_models``: how many fits (one on the
    whole reference, the rest on bootstrap resamples) measure the reference's own uncertainty."""
    _z(confidence)
    if task == "classification" and _is_multiclass(reference, classes):
        from modelyard.monitoring.estimation_multiclass import MulticlassClassificationEstimator

        return MulticlassClassificationEstimator.fit(
            reference, reference_labels, predictions=predictions, classes=classes, confidence=confidence,
            n_calibrators=n_calibrators, random_state=random_state,
        )  # fmt: skip
    if task == "classification":
        return BinaryClassificationEstimator.fit(
            reference, reference_labels, predictions=predictions, classes=classes, threshold=threshold,
            confidence=confidence, n_calibrators=n_calibrators, random_state=random_state,
        )  # fmt: skip
    if task == "regression":
        from modelyard.monitoring.estimation_regression import RegressionEstimator

        return RegressionEstimator.fit(
            reference,
            reference_labels,
            features=features,
            confidence=confidence,
            n_models=n_models,
            random_state=random_state,
        )
    raise InvalidArgument(f"unknown task {task!r}: use 'classification' or 'regression'")


# --- classification (CBPE-style) -------------------------------------------------------------


def _is_multiclass(scores: Any, classes: Sequence[Any] | None) -> bool:
    """More than two classes: by ``classes``, else by the score columns ((n, k) with k > 2)."""
    if classes is not None:
        return len(classes) > 2
    shape = np.shape(scores)
    return len(shape) == 2 and shape[1] > 2


def _positive_scores(scores: Any, name: str) -> np.ndarray:
    s = np.asarray(scores, dtype=float)
    if s.ndim == 2 and s.shape[1] == 2:
        s = s[:, 1]
    if s.ndim != 1:
        raise InvalidArgument(f"{name} must be the positive class's scores, shape (n,) or (n, 2); got {s.shape}")
    if not np.isfinite(s).all():
        raise InvalidArgument(f"{name} must be finite numbers")
    return s


class _Calibration:
    """Isotonic calibration of the reference scores, and the same fit on bootstrap resamples.

    The scores are sorted and tied scores merged once; a resample is then only a new weight per
    distinct score (how often the resample drew it), so every fit is one pass of scipy's
    pool-adjacent-violators with no re-sorting. A fitted calibrator keeps only the ends of its
    constant blocks (the thresholds between which it interpolates linearly, as scikit-learn's
    ``IsotonicRegression`` does)."""

    def __init__(self, scores: np.ndarray, positive: np.ndarray) -> None:
        self.xs, self.inverse = np.unique(scores, return_inverse=True)
        self.positive = positive.astype(float)

    def fit(self, row_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from scipy.optimize import isotonic_regression

        w = np.bincount(self.inverse, weights=row_weights, minlength=len(self.xs))
        hits = np.bincount(self.inverse, weights=row_weights * self.positive, minlength=len(self.xs))
        keep = w > 0
        x = self.xs[keep]
        y = np.clip(isotonic_regression(hits[keep] / w[keep], weights=w[keep]).x, 0.0, 1.0)
        if len(y) > 2:
            change = np.r_[True, y[1:] != y[:-1]] | np.r_[y[:-1] != y[1:], True]
            x, y = x[change], y[change]
        return x, y


class _WindowOrder:
    """A window's rows sorted by score, with its tie groups and mid-ranks: computed once per
    window and shared by every calibrator's estimate."""

    def __init__(self, scores: np.ndarray, decisions: np.ndarray) -> None:
        self.index = np.argsort(scores)  # ties need no stable order: they are handled as groups
        self.s = scores[self.index]
        self.d = decisions[self.index]
        n = len(self.s)
        self.starts = np.flatnonzero(np.r_[True, self.s[1:] != self.s[:-1]]) if n else np.zeros(0, dtype=np.int64)
        self.sizes = np.diff(np.r_[self.starts, n])
        self.distinct = len(self.starts) == n  # no tied scores: every group is one row
        self.ranks = np.repeat(self.starts + (self.sizes + 1) / 2, self.sizes)  # mid-ranks, 1-based


def _expected_metrics(q: np.ndarray, order: _WindowOrder, with_variance: bool) -> dict[str, tuple[float, float]]:
    """Expected metrics (and their sampling variances) of a window whose row i (in ``order``) is
    positive with probability ``q[i]`` and predicted positive where ``order.d``. Undefined metrics
    are NaN."""
    d = order.d
    n = len(q)
    v = q * (1 - q)
    a, b = float(q[d].sum()), float(q[~d].sum())  # expected TP and FN
    va, vb = float(v[d].sum()), float(v[~d].sum())
    npp = int(d.sum())
    out: dict[str, tuple[float, float]] = {}
    out["accuracy"] = ((a + (n - npp) - b) / n, (va + vb) / n**2)
    out["precision"] = (a / npp, va / npp**2) if npp else (math.nan, math.nan)
    pos = a + b
    out["recall"] = (a / pos, (b * b * va + a * a * vb) / pos**4) if pos > 1e-12 else (math.nan, math.nan)
    den = npp + a + b
    if den > 1e-12:
        out["f1"] = (2 * a / den, (4 * (npp + b) ** 2 * va + 4 * a * a * vb) / den**4)
    else:
        out["f1"] = (math.nan, math.nan)
    out["roc_auc"] = _expected_auc(q, order, v, with_variance)
    return out


def _expected_values(qs: np.ndarray, order: _WindowOrder) -> dict[str, np.ndarray]:
    """The expected metrics for several calibrations at once (``qs``: one row per calibrator), no
    variances: the reference part of the band needs only their spread."""
    d = order.d
    n = qs.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        n1 = qs.sum(axis=1)
        a = qs @ d.astype(float)  # expected TP per calibrator
        b = n1 - a
        npp = float(d.sum())
        out = {
            "accuracy": (a + (n - npp) - b) / n,
            "precision": a / npp if npp else np.full(len(qs), np.nan),
            "recall": np.where(a + b > 1e-12, a / (a + b), np.nan),
            "f1": np.where(npp + a + b > 1e-12, 2 * a / (npp + a + b), np.nan),
        }
        # the expected concordant pairs from per-score-group sums (see _expected_auc)
        self_pairs = (qs * (1 - qs)).sum(axis=1)
        group_pos = qs if order.distinct else np.add.reduceat(qs, order.starts, axis=1)
        group_neg = order.sizes - group_pos
        below = np.cumsum(group_neg, axis=1) - group_neg
        concordant = (group_pos * (below + 0.5 * group_neg)).sum(axis=1) - 0.5 * self_pairs
        pairs = n1 * (n - n1)
        out["roc_auc"] = np.where(pairs > 1e-9, concordant / pairs, np.nan)
    return out


def _expected_auc(q: np.ndarray, order: _WindowOrder, v: np.ndarray, with_variance: bool) -> tuple[float, float]:
    n = len(q)
    n1 = float(q.sum())
    # E[N₊]·E[N₋]: the ratio of expectations E[C]/E[N₊N₋] (which subtracts Σq(1-q) here) is
    # biased a little low against the realized ratio; dividing by E[N₊]·E[N₋] tracks it closer
    # (checked on the benchmark's shifted data, 3 seeds)
    pairs = n1 * (n - n1)
    if n < 2 or pairs <= 1e-9:
        return math.nan, math.nan
    # Row i, positive with probability q_i, is ordered above the expected negatives scored below
    # it and ties (half counted) with the other rows of its score group: summed per score group,
    # E[concordant] = Σ_g pos_g · (neg_below_g + ½ neg_g) − ½ Σ_i q_i (1 − q_i)  (no row with itself)
    group_pos = q if order.distinct else np.add.reduceat(q, order.starts)
    group_neg = order.sizes - group_pos
    below = np.cumsum(group_neg) - group_neg
    concordant = float(np.sum(group_pos * (below + 0.5 * group_neg))) - 0.5 * float(v.sum())
    auc = concordant / pairs
    if not with_variance:
        return auc, math.nan
    # AUC as a Mann-Whitney statistic g(U, N1) = (U - N1(N1+1)/2) / (N1(n-N1)), U = sum y_i r_i
    r = order.ranks
    u = float(np.sum(q * r))
    m = n1
    k = n - m
    if m <= 0 or k <= 0:
        return auc, math.nan
    var_u, var_n1, cov = float(np.sum(r * r * v)), float(v.sum()), float(np.sum(r * v))
    denom = m * k
    du = 1 / denom
    dn = (-(m + 0.5) * denom - (u - m * (m + 1) / 2) * (n - 2 * m)) / denom**2
    var = du * du * var_u + dn * dn * var_n1 + 2 * du * dn * cov
    return auc, max(var, 0.0)


class BinaryClassificationEstimator(Estimator):
    """CBPE-style estimator for a binary classifier (see the module docstring)."""

    kind = "binary_classification"

    def __init__(
        self,
        calibrators: list[tuple[np.ndarray, np.ndarray]],
        classes: list[Any],
        threshold: float,
        confidence: float,
        reference_metrics: dict[str, float],
    ) -> None:
        self.calibrators = calibrators  # [0] fitted on the whole reference, the rest on resamples
        self.classes = classes
        self.threshold = threshold
        self.confidence = confidence
        self.reference_metrics = reference_metrics

    @classmethod
    def fit(
        cls,
        scores: Any,
        labels: Any,
        *,
        predictions: Any = None,
        classes: Sequence[Any] | None = None,
        threshold: float = 0.5,
        confidence: float = 0.95,
        n_calibrators: int = 10,
        random_state: int | None = 0,
    ) -> BinaryClassificationEstimator:
        s = _positive_scores(scores, "reference scores")
        y = np.asarray(labels)
        if y.ndim != 1 or len(y) != len(s):
            raise InvalidArgument(f"reference labels must be 1-D with one per score ({len(s)}), got {y.shape}")
        found = sorted(set(y.tolist()), key=lambda c: (str(type(c)), c))
        if classes is None and len(found) == 1:
            raise InvalidArgument(f"the reference labels must hold both classes to calibrate the scores, found {found}")
        names = list(classes) if classes is not None else found
        if len(names) != 2:
            raise InvalidArgument(f"label-free estimation of classifiers needs two classes, got {names}")
        extra = set(found) - set(names)
        if extra:
            raise InvalidArgument(f"reference labels {sorted(map(str, extra))} are not among the classes {names}")
        positive = y == names[1]
        if positive.all() or not positive.any():
            raise InvalidArgument("the reference labels must hold both classes to calibrate the scores")
        if n_calibrators < 1:
            raise InvalidArgument("n_calibrators must be at least 1")
        rng = np.random.default_rng(random_state)
        calibration = _Calibration(s, positive)
        calibrators = [calibration.fit(np.ones(len(s)))]
        for _ in range(n_calibrators - 1):
            counts = np.bincount(rng.integers(0, len(s), len(s)), minlength=len(s)).astype(float)
            calibrators.append(calibration.fit(counts))
        d = cls._decisions(s, predictions, names, threshold)
        order = _WindowOrder(s, d)
        # with the real labels as "probabilities" the expected metrics are the realized ones
        ref = _expected_metrics(positive[order.index].astype(float), order, with_variance=False)
        reference_metrics = {k: float(v) for k, (v, _) in ref.items() if math.isfinite(v)}
        return cls(calibrators, [_jsonable(c) for c in names], float(threshold), confidence, reference_metrics)

    @staticmethod
    def _decisions(s: np.ndarray, predictions: Any, classes: list[Any], threshold: float) -> np.ndarray:
        if predictions is None:
            return s >= threshold
        p = np.asarray(predictions)
        if p.ndim != 1 or len(p) != len(s):
            raise InvalidArgument(f"predictions must be 1-D with one per score ({len(s)}), got {p.shape}")
        unknown = set(np.unique(p).tolist()) - set(classes)
        if unknown:
            raise InvalidArgument(f"predicted labels {sorted(map(str, unknown))} are not among the classes {classes}")
        return p == classes[1]

    def calibrate(self, scores: Any) -> np.ndarray:
        """The calibrated probability of the positive class for each score."""
        x, y = self.calibrators[0]
        return np.interp(_positive_scores(scores, "scores"), x, y)

    def estimate(
        self, window: Any, *, predictions: Any = None, features: Any = None, confidence: float | None = None
    ) -> dict[str, MetricEstimate]:
        """Estimated accuracy, F1, ROC AUC, precision and recall of a window from its scores
        (and predicted labels, default score >= threshold)."""
        z = _z(self.confidence if confidence is None else confidence)
        s = _positive_scores(window, "window scores")
        n = len(s)
        if n == 0:
            return {m: MetricEstimate.undefined(0, "no rows in the window") for m in CLASSIFICATION_ESTIMATES}
        order = _WindowOrder(s, self._decisions(s, predictions, self.classes, self.threshold))
        x0, y0 = self.calibrators[0]
        main = _expected_metrics(np.interp(order.s, x0, y0), order, with_variance=True)
        others = self.calibrators[1:]
        spread = _expected_values(np.array([np.interp(order.s, x, y) for x, y in others]), order) if others else {}
        out: dict[str, MetricEstimate] = {}
        for name in CLASSIFICATION_ESTIMATES:
            value, var = main[name]
            if not math.isfinite(value):
                out[name] = MetricEstimate.undefined(n, _why_undefined(name))
                continue
            values = spread[name][np.isfinite(spread[name])] if spread else np.zeros(0)
            var_ref = float(np.var(values, ddof=1)) if len(values) > 1 else 0.0
            half = z * math.sqrt((var if math.isfinite(var) else 0.0) + var_ref)
            out[name] = MetricEstimate(value, max(0.0, value - half), min(1.0, value + half), n)
        return out

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays: dict[str, np.ndarray] = {}
        for i, (x, y) in enumerate(self.calibrators):
            arrays[f"cal{i}_x"], arrays[f"cal{i}_y"] = x, y
        meta = {
            "classes": self.classes, "threshold": self.threshold, "confidence": self.confidence,
            "calibrators": len(self.calibrators), "reference_metrics": self.reference_metrics,
        }  # fmt: skip
        return meta, arrays

    @classmethod
    def _from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> BinaryClassificationEstimator:
        cals = [(arrays[f"cal{i}_x"], arrays[f"cal{i}_y"]) for i in range(int(meta["calibrators"]))]
        return cls(cals, list(meta["classes"]), float(meta["threshold"]), float(meta["confidence"]),
                   dict(meta["reference_metrics"]))  # fmt: skip


def _why_undefined(name: str) -> str:
    return {
        "precision": "no predicted positive in the window",
        "recall": "the window is expected to hold no positive",
        "f1": "the window is expected to hold no positive and predicts none",
        "roc_auc": "the window is expected to hold one class only",
    }.get(name, "undefined on this window")


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
