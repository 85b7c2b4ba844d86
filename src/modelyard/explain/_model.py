"""How the explainers see a model: one numeric output per row, computed through the model's own
predict (a registry ``LoadedModel`` checks its signature first), and whether SHAP's exact tree
algorithm applies.

What is explained:

- regression: the prediction;
- classification with class probabilities: for two classes the probability of the second (the
  "positive" class, as scikit-learn orders ``classes_``); for more, the probability of the class the
  model predicted for that row;
- a classifier without probabilities cannot be attributed (a label does not move by small amounts):
  ``InvalidArgument`` says so. Permutation importance still works for it (it scores labels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from modelyard.core.errors import InvalidArgument

Task = Literal["classification", "regression"]

#: scikit-learn tree ensembles SHAP's TreeExplainer computes exactly.
_SKLEARN_TREES = (
    "DecisionTreeRegressor", "DecisionTreeClassifier", "ExtraTreeRegressor", "ExtraTreeClassifier",
    "RandomForestRegressor", "RandomForestClassifier", "ExtraTreesRegressor", "ExtraTreesClassifier",
    "GradientBoostingRegressor", "GradientBoostingClassifier", "IsolationForest",
    "HistGradientBoostingRegressor", "HistGradientBoostingClassifier",
)  # fmt: skip
_BOOSTERS = {
    "xgboost": ("XGBRegressor", "XGBClassifier", "XGBRFRegressor", "XGBRFClassifier", "XGBRanker", "Booster"),
    "lightgbm": ("LGBMRegressor", "LGBMClassifier", "LGBMRanker", "Booster"),
}


@dataclass
class ModelView:
    """A model as the explainers call it (see the module docstring)."""

    model: Any  # what was passed: a LoadedModel, a serving host's loaded model, an estimator
    native: Any  # the library's object (what SHAP's TreeExplainer reads)
    task: Task
    classes: list[Any] | None

    @property
    def has_proba(self) -> bool:
        return self.task == "classification" and hasattr(self.native, "predict_proba") and self.classes is not None

    def inputs(self, frame: pd.DataFrame) -> Any:
        return model_inputs(self.model, frame)

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The columns the model reads, in its order (a frame: what is permuted and occluded)."""
        signature = getattr(self.model, "signature", None)
        names: list[str] | None = None
        if signature is not None and getattr(signature, "kind", None) == "columns":
            names = [str(c.name) for c in signature.inputs]
        elif getattr(self.native, "feature_names_in_", None) is not None:
            names = [str(c) for c in self.native.feature_names_in_]
        if names is None:
            return frame
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise InvalidArgument(f"the data has no column {missing[0]!r} that the model reads")
        return frame[names]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.asarray(self.native.predict(self.inputs(frame)) if self._native_path else self.model.predict(frame))
        return out.ravel() if out.ndim > 1 and out.shape[1] == 1 else out

    @property
    def _native_path(self) -> bool:
        return not hasattr(self.model, "native")

    def proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.native.predict_proba(self.inputs(frame)), dtype=float)

    def output_name(self) -> str:
        if self.task == "regression":
            return "prediction"
        assert self.classes is not None
        if len(self.classes) == 2:
            return f"probability of class {self.classes[1]!r}"
        return "probability of the predicted class"

    def output(self, frame: pd.DataFrame, classes_of_rows: np.ndarray | None = None) -> np.ndarray:
        """The explained number per row (module docstring). ``classes_of_rows``: for more than
        two classes, the class column to read per row (default: the predicted one)."""
        if self.task == "regression":
            return np.asarray(self.predict(frame), dtype=float)
        if not self.has_proba:
            raise InvalidArgument(
                f"cannot attribute the predictions of {type(self.native).__name__}: it gives no class "
                "probabilities (use permutation importance with labels instead)"
            )
        scores = self.proba(frame)
        if scores.shape[1] == 2:
            return scores[:, 1]
        columns = np.argmax(scores, axis=1) if classes_of_rows is None else classes_of_rows
        return scores[np.arange(len(scores)), columns]

    def tree_library(self) -> str | None:
        """``"sklearn"``, ``"xgboost"`` or ``"lightgbm"`` when SHAP's tree algorithm applies."""
        kind = type(self.native)
        top = kind.__module__.split(".", 1)[0]
        if top == "sklearn" and kind.__name__ in _SKLEARN_TREES:
            return "sklearn"
        if kind.__name__ in _BOOSTERS.get(top, ()):
            return top
        return None


def model_inputs(model: Any, frame: pd.DataFrame) -> Any:
    """What a model's native predict takes: the signature-checked frame of a packaged model, the
    fitted feature columns of an estimator that recorded them, else the frame (evaluation uses
    this too)."""
    signature = getattr(model, "signature", None)
    if signature is not None and hasattr(signature, "enforce"):
        return signature.enforce(frame)
    names = getattr(getattr(model, "native", model), "feature_names_in_", None)
    if names is not None:
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise InvalidArgument(f"the data has no column {missing[0]!r} that the model was fitted on")
        return frame[list(names)]
    return frame


def view(model: Any, task: Task | None = None) -> ModelView:
    """A :class:`ModelView` over a registry ``LoadedModel``, a serving ``ModelHost``, or any object
    with ``predict``. The task is classification for a model with ``classes_``, else regression."""
    if hasattr(model, "loaded") and hasattr(model, "model_name"):  # a serving host
        model = model.loaded
    native = getattr(model, "native", model)
    if not hasattr(native, "predict") and not hasattr(model, "predict"):
        raise InvalidArgument(f"cannot explain {type(model).__name__}: it has no predict method")
    raw_classes = getattr(native, "classes_", None)
    classes = None if raw_classes is None else [c.item() if hasattr(c, "item") else c for c in raw_classes]
    if task is None:
        task = "classification" if classes is not None else "regression"
    return ModelView(model=model, native=native, task=task, classes=classes)


def sample_rows(frame: pd.DataFrame, max_rows: int | None, seed: int | None) -> pd.DataFrame:
    """At most ``max_rows`` rows drawn without replacement (all of them when fewer)."""
    if max_rows is not None and max_rows < 1:
        raise InvalidArgument(f"max rows must be at least 1, got {max_rows}")
    if max_rows is None or len(frame) <= max_rows:
        return frame.reset_index(drop=True)
    return frame.sample(n=max_rows, random_state=seed).reset_index(drop=True)


def baseline_of(frame: pd.DataFrame) -> dict[str, Any]:
    """One reference value per feature (the median of a numeric column, the most frequent value
    of any other): the aggregate that occlusion replaces a feature with."""
    out: dict[str, Any] = {}
    for column in frame.columns:
        values = frame[column].dropna()
        if values.empty:
            out[str(column)] = None
        elif pd.api.types.is_bool_dtype(values):
            out[str(column)] = bool(values.mode().iloc[0])
        elif pd.api.types.is_numeric_dtype(values):
            median = float(values.median())
            out[str(column)] = round(median) if pd.api.types.is_integer_dtype(values) else median
        else:
            mode = values.mode().iloc[0]
            out[str(column)] = mode.item() if hasattr(mode, "item") else mode
    return out
