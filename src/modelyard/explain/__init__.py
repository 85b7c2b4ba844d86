"""Explanations: which features a model relies on, overall and for one prediction.

- ``importance.py``: global importance, permutation (any model) and SHAP (tree models, the
  ``explain`` extra); an :class:`Importance` is aggregates only and is stored with a version's
  evaluation (``modelyard.evaluation`` computes it);
- ``local.py``: per-row attributions (SHAP for trees, occlusion against per-feature baselines for
  any other model), what ``POST /v1/models/{name}/explain`` on the model server answers;
- ``diff.py``: importance drift between two versions (rank correlation, shifted shares).

It needs a loaded model and rows, nothing else: evaluation and the model server import it, so it
sits between the registry and evaluation in the layers (docs/architecture.md says why).
"""

from __future__ import annotations

from modelyard.explain.diff import FeatureShift, ImportanceDiff, importance_diff
from modelyard.explain.importance import (
    FeatureImportance,
    Importance,
    is_tree_model,
    permutation_importance,
    shap_importance,
)
from modelyard.explain.local import METHODS, RowExplanations, explain_rows, occlusion_rows, shap_rows

__all__ = [
    "METHODS",
    "FeatureImportance",
    "FeatureShift",
    "Importance",
    "ImportanceDiff",
    "RowExplanations",
    "explain_rows",
    "importance_diff",
    "is_tree_model",
    "occlusion_rows",
    "permutation_importance",
    "shap_importance",
    "shap_rows",
]
