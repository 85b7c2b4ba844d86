"""Scoring a model version on its reference rows, for ``MonitoringService.set_reference``: the
(hash-verified) version is loaded and run, its outputs become the columns a window of the
prediction log gets, and ``_Scored.fit_estimator`` fits the label-free estimator on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidArgument, ModelyardError

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.store.bundle import Stores

__all__ = ["has_outputs", "score_version"]


def has_outputs(frame: pd.DataFrame) -> bool:
    from modelyard.monitoring.windows import PREDICTION

    return any(str(c) == PREDICTION or str(c).startswith(f"{PREDICTION}.") for c in frame.columns)


@dataclass
class _Scored:
    """A version's outputs on reference rows: as window columns, plus what fits its estimator."""

    loaded: Any
    features: pd.DataFrame
    raw: Any
    outputs: pd.DataFrame

    def task(self) -> str:
        """classification when the model has class scores or labels, else regression."""
        return "classification" if self.loaded.has_proba or self.loaded.class_labels is not None else "regression"

    def fit_estimator(self, labels: list[Any], task: str) -> Any:
        """The label-free estimator on these rows: CBPE from the class scores for a classifier,
        DLE from the predictions and the numeric features for a regressor. ``InvalidArgument``
        when the model cannot give what the estimator needs."""
        import numpy as np
        import pandas as pd

        from modelyard.monitoring.estimation import fit_estimator

        if any(v is None or (isinstance(v, float) and v != v) for v in labels):
            raise InvalidArgument("the target column has missing values: the estimator needs every label")
        if task == "classification":
            if not self.loaded.has_proba:
                raise InvalidArgument("the classifier gives no class scores (predict_proba): no label-free estimator")
            scores = np.asarray(self.loaded.predict_proba(self.features), dtype=float)
            classes = self.loaded.class_labels
            predictions: Any = np.asarray(self.raw)
            if predictions.ndim != 1 or (classes is not None and not {str(p) for p in predictions.tolist()}
                                         <= {str(c) for c in classes}):  # fmt: skip
                predictions = None  # the outputs are not class labels: decided from the scores
            return fit_estimator("classification", scores, labels, predictions=predictions, classes=classes)
        values = self.outputs.get("prediction")
        if values is None or not pd.api.types.is_numeric_dtype(values):
            raise InvalidArgument("the model's outputs are not numbers: no regression estimator")
        return fit_estimator("regression", values.to_numpy(dtype=float), labels, features=_numeric(self.features))


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    return pd.DataFrame({c: pd.to_numeric(frame[c], errors="coerce") for c in numeric})


def score_version(stores: Stores, model: str, version: int, features: pd.DataFrame) -> _Scored:
    """Load the version (hash-verified) and run it on ``features``; its outputs become the columns
    a window of the prediction log gets (``windows.expand``: the log's JSON, then its columns)."""
    import orjson
    import pandas as pd

    from modelyard.monitoring.windows import output_columns
    from modelyard.registry.service import RegistryService
    from modelyard.serving.predlog import to_json

    registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
    try:
        loaded = registry.load(f"{model}@{version}")
    except ModelyardError as exc:
        raise InvalidArgument(f"{model}@{version} has no loadable model to score the reference with: {exc}") from None
    except Exception as exc:  # a package that does not deserialise here
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise InvalidArgument(
            f"{model}@{version} has no loadable model to score the reference with: {type(exc).__name__}: {first}"
        ) from None
    try:
        raw = loaded.predict(features)
    except ModelyardError as exc:
        raise InvalidArgument(f"{model}@{version} could not score the reference data: {exc}") from None
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise InvalidArgument(
            f"{model}@{version} could not score the reference data: {type(exc).__name__}: {first}"
        ) from None
    columns = output_columns(orjson.loads(to_json(raw)), len(features))
    kept = {name: values for name, values in columns.items()
            if not all(v is None for v in values) and not any(isinstance(v, (list, dict)) for v in values)}  # fmt: skip
    if not kept:
        raise InvalidArgument(f"{model}@{version} gave no per-row scalar output for the {len(features)} reference rows")
    return _Scored(loaded, features, raw, pd.DataFrame(kept))
