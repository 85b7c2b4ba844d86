"""Model evaluation: metrics for the task, slices, plots, the paired comparison with a champion,
recorded on a run and on the model version.

Above ``registry`` in the layers (it loads registered versions and records evaluations on them);
the statistics come from ``modelyard.stats``. Names are loaded on first use (PEP 562), so
importing the package does not import numpy, pandas or scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MAX_CURVE_POINTS": "modelyard.evaluation.evaluator",
    "evaluate": "modelyard.evaluation.evaluator",
    "read_frame": "modelyard.evaluation.evaluator",
    "LOWER_IS_BETTER": "modelyard.evaluation.metrics",
    "REGRESSION_METRICS": "modelyard.evaluation.metrics",
    "TASKS": "modelyard.evaluation.metrics",
    "Task": "modelyard.evaluation.metrics",
    "classification_metrics": "modelyard.evaluation.metrics",
    "infer_task": "modelyard.evaluation.metrics",
    "paired_bootstrap": "modelyard.evaluation.metrics",
    "regression_metrics": "modelyard.evaluation.metrics",
    "EVALUATION_ARTIFACT": "modelyard.evaluation.record",
    "TAG_CHAMPION": "modelyard.evaluation.record",
    "TAG_EVALUATED_MODEL": "modelyard.evaluation.record",
    "TAG_TEST": "modelyard.evaluation.record",
    "latest_evaluation": "modelyard.evaluation.record",
    "latest_importance": "modelyard.evaluation.record",
    "ChampionComparison": "modelyard.evaluation.result",
    "EvaluationResult": "modelyard.evaluation.result",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelyard.evaluation' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
