"""Per-prediction explanations: how much each feature moved one row's output.

- **SHAP** for tree models (``method="shap"``, the default for them when the ``explain`` extra is
  installed): TreeExplainer's exact values; for each row ``base_value + sum(attributions) ==
  output``, where the output is the model's raw tree output (the prediction of a regressor, the
  probability of a scikit-learn forest classifier, the log-odds margin of a gradient-boosted
  classifier: ``output`` names it).
- **Occlusion** for every other model (``method="occlusion"``): a feature's attribution is how much
  the output changes when that feature alone is replaced by its baseline value (the median of a
  numeric column, the most frequent value of another, from the evaluation data or the rows given).
  It costs ``rows × (features + 1)`` model rows in one predict call, needs no background sample,
  and is honest about what it is: a one-at-a-time sensitivity, not additive (interactions are not
  split between features; the attributions need not sum to output minus base value). KernelSHAP
  would be additive but costs thousands of model calls per row, too slow to answer over HTTP.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from modelyard.core.errors import InvalidArgument
from modelyard.explain._model import ModelView, Task, baseline_of, view

Method = Literal["auto", "shap", "occlusion"]
METHODS: tuple[str, ...] = ("auto", "shap", "occlusion")


@dataclass
class RowExplanations:
    """Attributions of ``len(values)`` rows: ``values[i, j]`` is feature ``j``'s for row ``i``."""

    method: str  # "shap" | "occlusion"
    output: str  # what is explained ("prediction", "probability of class 1", "margin of class 1")
    features: list[str]
    values: np.ndarray  # (rows, features)
    base_values: np.ndarray  # (rows,)
    outputs: np.ndarray  # (rows,) the explained output of each row
    additive: bool  # base + sum(values) == output (SHAP)

    def __len__(self) -> int:
        return len(self.values)

    def importance(self) -> dict[str, float]:
        """Mean absolute attribution per feature over these rows."""
        means = np.abs(self.values).mean(axis=0) if len(self.values) else np.zeros(len(self.features))
        return {f: float(v) for f, v in zip(self.features, means, strict=True)}

    def to_dict(self) -> dict[str, Any]:
        rows = [
            {
                "base_value": float(self.base_values[i]),
                "output": float(self.outputs[i]),
                "attributions": {f: float(v) for f, v in zip(self.features, self.values[i], strict=True)},
            }
            for i in range(len(self.values))
        ]
        return {
            "method": self.method, "output": self.output, "additive": self.additive, "features": self.features,
            "rows": rows,
        }  # fmt: skip


def _require_shap() -> Any:
    from modelyard.core.extras import require_extra

    return require_extra("shap", "explain", purpose="SHAP explanations need shap")


def _pick(values: np.ndarray, base: np.ndarray, columns: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """The class column of 3-D SHAP output (rows, features, classes) and its base value."""
    rows = np.arange(values.shape[0])
    if isinstance(columns, int):
        return values[:, :, columns], np.full(values.shape[0], float(base[columns]))
    return values[rows, :, columns], base[columns].astype(float)


def shap_rows(model: ModelView | Any, frame: pd.DataFrame) -> RowExplanations:
    """TreeExplainer's SHAP values for the rows of ``frame`` (tree models only)."""
    m = model if isinstance(model, ModelView) else view(model)
    library = m.tree_library()
    if library is None:
        raise InvalidArgument(
            f"SHAP explanations here are for tree models (scikit-learn trees and ensembles, XGBoost, LightGBM); "
            f"{type(m.native).__name__} is not one: use method='occlusion'"
        )
    shap = _require_shap()
    features = m.features(frame)
    X = m.inputs(features)
    try:
        with warnings.catch_warnings():  # shap announces changes of its output shapes; handled below
            warnings.simplefilter("ignore", UserWarning)
            explainer = shap.TreeExplainer(m.native)
            raw = explainer.shap_values(X, check_additivity=False)
    except Exception as exc:  # shap raises its own error types for unsupported inputs
        raise InvalidArgument(f"SHAP could not explain this model: {exc}".splitlines()[0]) from None
    values = np.asarray(raw[1] if isinstance(raw, list) and len(raw) == 2 else raw, dtype=float)
    if isinstance(raw, list) and len(raw) > 2:
        values = np.stack([np.asarray(v, dtype=float) for v in raw], axis=-1)
    base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    n = len(features)
    probability = library == "sklearn" and "GradientBoosting" not in type(m.native).__name__
    if values.ndim == 3:  # one slice per class
        if values.shape[2] == 2:
            values, bases = _pick(values, base, 1)
            output = f"{'probability' if probability else 'margin'} of class {m.classes[1] if m.classes else 1!r}"
        else:
            predicted = np.argmax(m.proba(features), axis=1) if m.has_proba else np.zeros(n, dtype=int)
            values, bases = _pick(values, base, predicted)
            output = f"{'probability' if probability else 'margin'} of the predicted class"
    else:
        bases = np.full(n, float(base[-1]))
        if m.task == "regression":
            output = "prediction"
        else:
            label = m.classes[-1] if m.classes else 1
            output = f"{'probability' if probability else 'margin'} of class {label!r}"
    if values.shape != (n, features.shape[1]):
        raise InvalidArgument(f"SHAP returned values of shape {values.shape} for {n} rows")
    outputs = bases + values.sum(axis=1)
    return RowExplanations("shap", output, [str(c) for c in features.columns], values, bases, outputs, True)


def occlusion_rows(model: ModelView | Any, frame: pd.DataFrame, baseline: Mapping[str, Any]) -> RowExplanations:
    """Occlusion attributions (module docstring) against one baseline value per feature."""
    m = model if isinstance(model, ModelView) else view(model)
    features = m.features(frame).reset_index(drop=True)
    names = [str(c) for c in features.columns]
    missing = [c for c in names if c not in baseline]
    if missing:
        raise InvalidArgument(f"the baseline has no value for feature {missing[0]!r}")
    n, k = features.shape
    if n == 0:
        return RowExplanations("occlusion", m.output_name(), names, np.zeros((0, k)), np.zeros(0), np.zeros(0), False)
    base_row = pd.DataFrame([{c: baseline[c] for c in names}]).astype(features.dtypes.to_dict(), errors="ignore")
    occluded = [features]
    for j, name in enumerate(names):
        copy = features.copy()
        value = base_row.iloc[0, j]
        copy[name] = pd.Series([value] * n, dtype=features[name].dtype if pd.notna(value) else None)
        occluded.append(copy)
    stacked = pd.concat([*occluded, base_row], ignore_index=True)
    classes_of_rows: np.ndarray | None = None
    if m.task == "classification" and m.has_proba and m.classes is not None and len(m.classes) > 2:
        predicted = np.argmax(m.proba(features), axis=1)
        classes_of_rows = np.concatenate([np.tile(predicted, k + 1), predicted[:1]])
    try:
        out = m.output(stacked, classes_of_rows)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"the model could not score the occluded rows: {exc}".splitlines()[0]) from None
    own = out[:n]
    replaced = out[n : n * (k + 1)].reshape(k, n).T
    values = own[:, None] - replaced
    base_value = np.full(n, float(out[-1]))
    return RowExplanations("occlusion", m.output_name(), names, values, base_value, own.astype(float), False)


def explain_rows(
    model: Any,
    data: pd.DataFrame,
    *,
    method: Method = "auto",
    baseline: Mapping[str, Any] | None = None,
    task: Task | None = None,
) -> RowExplanations:
    """Attributions for each row of ``data``: SHAP for tree models (with the ``explain`` extra),
    occlusion otherwise (``method`` forces one). Occlusion's baseline defaults to the medians /
    most frequent values of ``data`` itself."""
    if method not in METHODS:
        raise InvalidArgument(f"unknown explanation method {method!r}; expected one of {', '.join(METHODS)}")
    m = view(model, task)
    if method == "auto":
        method = "shap" if m.tree_library() is not None and _shap_installed() else "occlusion"
    if method == "shap":
        return shap_rows(m, data)
    if baseline is None:
        if len(data) < 2:
            raise InvalidArgument(
                "occlusion needs baseline values: pass a baseline, more than one row, or evaluate the model first"
            )
        baseline = baseline_of(m.features(data))
    return occlusion_rows(m, data, baseline)


def _shap_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("shap") is not None
    except (ImportError, ValueError):  # an import hook that refuses it, a half-imported module
        return False
