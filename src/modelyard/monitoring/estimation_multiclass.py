"""CBPE-style label-free estimation for multiclass classifiers (see ``estimation`` for the binary
case and the method).

Each class's score is calibrated one-vs-rest with isotonic regression on the reference and the
calibrated rows are normalised to sum to one, so ``Q[i, a]`` is the probability that row ``i``
belongs to class ``a``. On a window the expected confusion matrix is ``E[C[a, b]] = Σ_{i: pred=b}
Q[i, a]``; accuracy and the support-weighted precision, recall and F1 (as ``evaluation`` reports
them) follow, and the weighted one-vs-rest ROC AUC is the binary expected AUC of each class
weighted by its expected support.

Band: *sampling* — labels drawn from ``Q`` (``n_draws`` simulated windows, vectorised: the
weighted metrics from per-class counts, the AUCs as Mann-Whitney statistics of the scores'
mid-ranks) give the spread of the realized metric; *reference* — the same estimate under the
bootstrap calibrator sets. Added as variances, ±z·sd, clipped to [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelyard.core.errors import InvalidArgument
from modelyard.monitoring.estimation import (
    CLASSIFICATION_ESTIMATES,
    Estimator,
    _Calibration,
    _expected_auc,
    _jsonable,
    _WindowOrder,
    _z,
)
from modelyard.monitoring.performance import MetricEstimate

__all__ = ["MulticlassClassificationEstimator"]

Calibrators = list[tuple[np.ndarray, np.ndarray]]  # one (x, y) per class


def _scores(scores: Any, k: int | None, name: str) -> np.ndarray:
    s = np.asarray(scores, dtype=float)
    if s.ndim != 2 or s.shape[1] < 3 or (k is not None and s.shape[1] != k):
        want = f"(n, {k})" if k is not None else "(n, k) with k >= 3"
        raise InvalidArgument(f"{name} must be class scores of shape {want}, got {s.shape}")
    if not np.isfinite(s).all():
        raise InvalidArgument(f"{name} must be finite numbers")
    return s


class MulticlassClassificationEstimator(Estimator):
    kind = "multiclass_classification"

    def __init__(
        self, sets: list[Calibrators], classes: list[Any], confidence: float, reference_metrics: dict[str, float],
        n_draws: int = 200,
    ) -> None:  # fmt: skip
        self.sets = sets  # [0] fitted on the whole reference, the rest on bootstrap resamples
        self.classes = classes
        self.confidence = confidence
        self.reference_metrics = reference_metrics
        self.n_draws = n_draws

    @classmethod
    def fit(
        cls,
        scores: Any,
        labels: Any,
        *,
        predictions: Any = None,
        classes: Sequence[Any] | None = None,
        confidence: float = 0.95,
        n_calibrators: int = 10,
        random_state: int | None = 0,
    ) -> MulticlassClassificationEstimator:
        s = _scores(scores, len(classes) if classes is not None else None, "reference scores")
        y = np.asarray(labels)
        if y.ndim != 1 or len(y) != len(s):
            raise InvalidArgument(f"reference labels must be 1-D with one per row of scores ({len(s)}), got {y.shape}")
        names = list(classes) if classes is not None else sorted(set(y.tolist()), key=lambda c: (str(type(c)), c))
        if len(names) != s.shape[1]:
            raise InvalidArgument(f"{s.shape[1]} score columns for {len(names)} classes {names}: pass classes=")
        code = {c: i for i, c in enumerate(names)}
        try:
            yi = np.fromiter((code[v] for v in y.tolist()), dtype=np.int64, count=len(y))
        except KeyError as exc:
            raise InvalidArgument(f"reference label {exc.args[0]!r} is not one of the classes {names}") from None
        if n_calibrators < 1:
            raise InvalidArgument("n_calibrators must be at least 1")
        calibrations = [_Calibration(s[:, a], yi == a) for a in range(len(names))]
        rng = np.random.default_rng(random_state)
        weights = [np.ones(len(s))]
        weights += [np.bincount(rng.integers(0, len(s), len(s)), minlength=len(s)).astype(float)
                    for _ in range(n_calibrators - 1)]  # fmt: skip
        sets = [[c.fit(w) for c in calibrations] for w in weights]
        pred = cls._predicted(s, predictions, names)
        onehot = np.eye(len(names))[yi]
        ref = _expected(onehot, pred, s)  # certain labels: the expected metrics are the realized ones
        reference_metrics = {k: float(v) for k, v in ref.items() if math.isfinite(v)}
        return cls(sets, [_jsonable(c) for c in names], confidence, reference_metrics)

    @staticmethod
    def _predicted(s: np.ndarray, predictions: Any, classes: list[Any]) -> np.ndarray:
        if predictions is None:
            return np.argmax(s, axis=1)
        p = np.asarray(predictions)
        if p.ndim != 1 or len(p) != len(s):
            raise InvalidArgument(f"predictions must be 1-D with one per row of scores ({len(s)}), got {p.shape}")
        code = {c: i for i, c in enumerate(classes)}
        try:
            return np.fromiter((code[v] for v in p.tolist()), dtype=np.int64, count=len(p))
        except KeyError as exc:
            raise InvalidArgument(f"predicted label {exc.args[0]!r} is not one of the classes {classes}") from None

    def calibrate(self, scores: Any, which: int = 0) -> np.ndarray:
        s = _scores(scores, len(self.classes), "scores")
        q = np.column_stack([np.interp(s[:, a], x, y) for a, (x, y) in enumerate(self.sets[which])])
        total = q.sum(axis=1, keepdims=True)
        return np.where(total > 0, q / np.where(total > 0, total, 1), 1.0 / q.shape[1])

    def estimate(
        self, window: Any, *, predictions: Any = None, features: Any = None, confidence: float | None = None
    ) -> dict[str, MetricEstimate]:
        """Estimated accuracy, weighted F1, precision and recall and weighted one-vs-rest ROC AUC
        of a window from its class scores (and predicted labels, default the highest score)."""
        z = _z(self.confidence if confidence is None else confidence)
        s = _scores(window, len(self.classes), "window scores")
        n = len(s)
        if n == 0:
            return {m: MetricEstimate.undefined(0, "no rows in the window") for m in CLASSIFICATION_ESTIMATES}
        pred = self._predicted(s, predictions, self.classes)
        q = self.calibrate(s)
        main = _expected(q, pred, s)
        draws = max(50, min(self.n_draws, 40_000_000 // (n * len(self.classes))))  # bounded memory
        sampled = _sampled(q, pred, s, draws, np.random.default_rng(0))
        spread = [_expected(self.calibrate(s, b), pred, s) for b in range(1, len(self.sets))]
        out: dict[str, MetricEstimate] = {}
        for name in CLASSIFICATION_ESTIMATES:
            value = main[name]
            if not math.isfinite(value):
                out[name] = MetricEstimate.undefined(n, "undefined on this window")
                continue
            draws = sampled[name][np.isfinite(sampled[name])]
            others = [e[name] for e in spread if math.isfinite(e[name])]
            var = (float(np.var(draws, ddof=1)) if len(draws) > 1 else 0.0) + (
                float(np.var(others, ddof=1)) if len(others) > 1 else 0.0
            )
            half = z * math.sqrt(var)
            out[name] = MetricEstimate(value, max(0.0, value - half), min(1.0, value + half), n)
        return out

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays: dict[str, np.ndarray] = {}
        for b, calibrators in enumerate(self.sets):
            for a, (x, y) in enumerate(calibrators):
                arrays[f"cal{b}_{a}_x"], arrays[f"cal{b}_{a}_y"] = x, y
        meta = {"classes": self.classes, "confidence": self.confidence, "sets": len(self.sets),
                "reference_metrics": self.reference_metrics, "n_draws": self.n_draws}  # fmt: skip
        return meta, arrays

    @classmethod
    def _from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> MulticlassClassificationEstimator:
        k = len(meta["classes"])
        sets = [
            [(arrays[f"cal{b}_{a}_x"], arrays[f"cal{b}_{a}_y"]) for a in range(k)] for b in range(int(meta["sets"]))
        ]
        return cls(sets, list(meta["classes"]), float(meta["confidence"]), dict(meta["reference_metrics"]),
                   int(meta["n_draws"]))  # fmt: skip


def _expected(q: np.ndarray, pred: np.ndarray, s: np.ndarray) -> dict[str, float]:
    """Expected metrics of a window whose row i is class a with probability q[i, a]."""
    n, k = q.shape
    predicted = np.bincount(pred, minlength=k).astype(float)  # P_a, fixed
    support = q.sum(axis=0)  # E[S_a]
    tp = np.array([q[pred == a, a].sum() for a in range(k)])
    w = support / n
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / np.where(predicted > 0, predicted, 1), 0.0)
        recall = np.where(support > 0, tp / np.where(support > 0, support, 1), 0.0)
        f1 = np.where(predicted + support > 0, 2 * tp / np.where(predicted + support > 0, predicted + support, 1), 0.0)
    aucs = []
    for a in range(k):
        order = _WindowOrder(s[:, a], pred == a)
        qa = q[order.index, a]
        aucs.append(_expected_auc(qa, order, qa * (1 - qa), with_variance=False)[0])
    auc_w = np.array([wa for wa, au in zip(w, aucs, strict=True) if math.isfinite(au)])
    auc = float(np.dot(auc_w, [au for au in aucs if math.isfinite(au)]) / auc_w.sum()) if auc_w.sum() > 0 else math.nan
    return {
        "accuracy": float(tp.sum() / n), "precision": float(np.dot(w, precision)),
        "recall": float(np.dot(w, recall)), "f1": float(np.dot(w, f1)), "roc_auc": auc,
    }  # fmt: skip


def _sampled(
    q: np.ndarray, pred: np.ndarray, s: np.ndarray, draws: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Realized metrics of ``draws`` windows whose labels are drawn from ``q`` (the sampling part
    of the band)."""
    from scipy import stats

    n, k = q.shape
    cum = np.cumsum(q, axis=1)
    labels = (rng.uniform(size=(draws, n, 1)) > cum[None, :, :-1]).sum(axis=2)  # (draws, n) class indices
    predicted = np.bincount(pred, minlength=k).astype(float)
    acc = np.zeros(draws)
    prec = np.zeros(draws)
    rec = np.zeros(draws)
    f1 = np.zeros(draws)
    auc_num = np.zeros(draws)
    auc_den = np.zeros(draws)
    for a in range(k):
        is_a = labels == a
        support = is_a.sum(axis=1).astype(float)
        tp = (is_a & (pred == a)[None, :]).sum(axis=1).astype(float)
        w = support / n
        acc += tp / n
        with np.errstate(divide="ignore", invalid="ignore"):
            prec += w * np.where(predicted[a] > 0, tp / max(predicted[a], 1), 0.0)
            rec += w * np.where(support > 0, tp / np.maximum(support, 1), 0.0)
            f1 += w * np.where(predicted[a] + support > 0, 2 * tp / np.maximum(predicted[a] + support, 1), 0.0)
            r = stats.rankdata(s[:, a])
            u = is_a.astype(float) @ r
            m = support
            auc_a = (u - m * (m + 1) / 2) / (m * (n - m))
        ok = (m > 0) & (m < n)
        auc_num += np.where(ok, w * auc_a, 0.0)
        auc_den += np.where(ok, w, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = np.where(auc_den > 0, auc_num / auc_den, np.nan)
    return {"accuracy": acc, "precision": prec, "recall": rec, "f1": f1, "roc_auc": auc}
