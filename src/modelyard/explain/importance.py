"""Global feature importance: how much each feature matters to a model on some data.

- **Permutation importance** (any model): scikit-learn's ``permutation_importance`` shuffles one
  column at a time and measures how much the model's score drops (accuracy for classification, R²
  for regression), through the model's own predict (a packaged model still checks its signature).
  Cost: ``n_repeats × features`` predictions over the rows, so the rows are capped.
- **SHAP** (tree models: scikit-learn trees, forests and gradient boosting, XGBoost, LightGBM; the
  ``explain`` extra): the mean absolute SHAP value of each feature, exact and fast for trees
  (TreeExplainer, path-dependent: it needs no background data).

An :class:`Importance` is aggregates only (one number per feature, and the per-feature baseline
values occlusion uses), so it is stored with a model version's evaluation and drawn in reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelyard.core.errors import InvalidArgument
from modelyard.explain._model import ModelView, Task, baseline_of, sample_rows, view

DEFAULT_MAX_ROWS = 2000
DEFAULT_REPEATS = 5


@dataclass
class FeatureImportance:
    feature: str
    value: float  # mean drop of the score (permutation) or mean |SHAP| / |occlusion| value
    std: float | None = None  # across the permutation repeats


@dataclass
class Importance:
    """One importance value per feature, highest first."""

    method: str  # "permutation" | "shap" | "occlusion"
    features: list[FeatureImportance]
    n_rows: int
    metric: str | None = None  # permutation: the score whose drop is measured
    output: str | None = None  # shap / occlusion: what was attributed ("prediction", "probability of ...")
    baseline: dict[str, Any] = field(default_factory=dict)  # per-feature reference values (aggregates)

    def values(self) -> dict[str, float]:
        return {f.feature: f.value for f in self.features}

    def shares(self) -> dict[str, float]:
        """Each feature's share of the total (negative permutation drops count as 0)."""
        positive = {f.feature: max(f.value, 0.0) if np.isfinite(f.value) else 0.0 for f in self.features}
        total = sum(positive.values())
        if total <= 0:
            return dict.fromkeys(positive, 0.0)
        return {k: v / total for k, v in positive.items()}

    def ranked(self) -> list[str]:
        return [f.feature for f in self.features]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "metric": self.metric,
            "output": self.output,
            "n_rows": self.n_rows,
            "features": [{"feature": f.feature, "value": _num(f.value), "std": _num(f.std)} for f in self.features],
            "baseline": {k: _num(v) if isinstance(v, float) else v for k, v in self.baseline.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Importance:
        try:
            features = [
                FeatureImportance(
                    str(f["feature"]),
                    float("nan") if f.get("value") is None else float(f["value"]),
                    None if f.get("std") is None else float(f["std"]),
                )
                for f in data["features"]
            ]
            return cls(
                method=str(data["method"]),
                features=features,
                n_rows=int(data["n_rows"]),
                metric=data.get("metric"),
                output=data.get("output"),
                baseline=dict(data.get("baseline") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"not an importance record: {exc}") from None


def _num(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _ranked(method: str, names: list[str], values: np.ndarray, stds: np.ndarray | None, **kw: Any) -> Importance:
    order = sorted(range(len(names)), key=lambda i: (-(values[i] if np.isfinite(values[i]) else -np.inf), names[i]))
    features = [FeatureImportance(names[i], float(values[i]), None if stds is None else float(stds[i])) for i in order]
    return Importance(method=method, features=features, **kw)


class _Scored:
    """What ``sklearn.inspection.permutation_importance`` needs: an already fitted "estimator"
    (it checks for ``fit``; nothing here refits) whose score the callable below computes."""

    def __init__(self, model: ModelView) -> None:
        self.model = model

    def fit(self, *args: Any, **kwargs: Any) -> _Scored:  # pragma: no cover - never called
        raise NotImplementedError("an explained model is already fitted")


def _score(task: Task) -> tuple[str, Any]:
    from sklearn import metrics as m

    if task == "classification":

        def accuracy(est: _Scored, X: pd.DataFrame, y: Any) -> float:
            return float(m.accuracy_score(y, est.model.predict(X)))

        return "accuracy", accuracy

    def r2(est: _Scored, X: pd.DataFrame, y: Any) -> float:
        return float(m.r2_score(np.asarray(y, dtype=float), np.asarray(est.model.predict(X), dtype=float)))

    return "r2", r2


def permutation_importance(
    model: Any,
    data: pd.DataFrame,
    y: Any,
    *,
    task: Task | None = None,
    n_repeats: int = DEFAULT_REPEATS,
    max_rows: int | None = DEFAULT_MAX_ROWS,
    seed: int | None = 0,
) -> Importance:
    """Permutation importance of ``model`` on ``data`` (the feature columns) against labels ``y``,
    on at most ``max_rows`` rows (sampled with ``seed``). See the module docstring."""
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    if n_repeats < 1:
        raise InvalidArgument(f"n_repeats must be at least 1, got {n_repeats}")
    m = view(model, task)
    frame = m.features(data.reset_index(drop=True))
    target = pd.Series(np.asarray(y)).reset_index(drop=True)
    if len(target) != len(frame):
        raise InvalidArgument(f"{len(target)} labels for {len(frame)} rows")
    if frame.empty or frame.shape[1] == 0:
        raise InvalidArgument("permutation importance needs at least one row and one feature")
    if max_rows is not None and len(frame) > max_rows:
        keep = sample_rows(pd.DataFrame({"i": np.arange(len(frame))}), max_rows, seed)["i"].to_numpy()
        frame, target = frame.iloc[keep].reset_index(drop=True), target.iloc[keep].reset_index(drop=True)
    metric, scorer = _score(m.task)
    try:
        result = sk_permutation_importance(
            _Scored(m), frame, target.to_numpy(), scoring=scorer, n_repeats=n_repeats, random_state=seed
        )
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"the model could not score the permuted data: {exc}".splitlines()[0]) from None
    names = [str(c) for c in frame.columns]
    return _ranked(
        "permutation", names, np.asarray(result.importances_mean), np.asarray(result.importances_std),
        n_rows=len(frame), metric=metric, baseline=baseline_of(frame),
    )  # fmt: skip


def shap_importance(
    model: Any, data: pd.DataFrame, *, task: Task | None = None, max_rows: int | None = 1000, seed: int | None = 0
) -> Importance:
    """Mean absolute SHAP value per feature for a tree model (``InvalidArgument`` for any other;
    ``MissingExtra`` without the ``explain`` extra)."""
    from modelyard.explain.local import shap_rows

    m = view(model, task)
    frame = sample_rows(m.features(data), max_rows, seed)
    rows = shap_rows(m, frame)
    mean_abs = np.abs(rows.values).mean(axis=0)
    return _ranked(
        "shap", rows.features, mean_abs, None, n_rows=len(frame), output=rows.output, baseline=baseline_of(frame)
    )


def is_tree_model(model: Any) -> bool:
    """Whether SHAP's exact tree algorithm applies to ``model``."""
    return view(model).tree_library() is not None
