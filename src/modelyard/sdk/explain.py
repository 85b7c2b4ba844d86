"""The explanation SDK: ``modelyard.explain()`` (per-prediction attributions and a global summary)
and ``modelyard.explain_diff()`` (importance drift between two versions).

``explain_model`` and ``importance_drift`` take a registry, so the CLI runs them over its own
stores; the session wrappers pass the session's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidArgument
from modelyard.explain import Importance, ImportanceDiff, RowExplanations, importance_diff
from modelyard.explain.importance import FeatureImportance, permutation_importance
from modelyard.explain.local import METHODS, explain_rows

if TYPE_CHECKING:
    from modelyard.registry.service import RegistryService
    from modelyard.reports.model import ModelReport

DEFAULT_ROWS = 100
MAX_ROWS = 100_000


@dataclass
class Explanation:
    """Attributions of the first ``rows`` rows and a global importance: permutation importance
    when the data holds the target, else the mean absolute attribution over the explained rows."""

    model: str | None  # "churn@3" for a registered version
    rows: RowExplanations
    importance: Importance

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "importance": self.importance.to_dict(), "explanations": self.rows.to_dict()}


def explain_model(
    registry: RegistryService | None,
    model_or_uri: Any,
    data: Any,
    *,
    rows: int | None = DEFAULT_ROWS,
    target: str | None = None,
    method: str = "auto",
    seed: int | None = 0,
) -> Explanation:
    """See :func:`explain`; ``registry`` resolves and loads a ``"NAME@VERSION"`` reference."""
    from modelyard.evaluation.evaluator import _as_frame
    from modelyard.evaluation.record import latest_importance

    if method not in METHODS:
        raise InvalidArgument(f"unknown explanation method {method!r}; expected one of {', '.join(METHODS)}")
    if rows is not None and not 1 <= rows <= MAX_ROWS:
        raise InvalidArgument(f"rows must be 1..{MAX_ROWS}, got {rows}")
    frame = _as_frame(data)
    if frame.empty:
        raise InvalidArgument("cannot explain an empty data set")
    label: str | None = None
    stored: dict[str, Importance] = {}
    if isinstance(model_or_uri, str):
        if registry is None:
            raise InvalidArgument("explaining a model reference needs a registry")
        version = registry.resolve(model_or_uri)
        label = f"{version.model_name}@{version.version}"
        model = registry.load(label, allow_decommissioned=True)
        stored = latest_importance(registry, version.model_name, version.version)
    else:
        model = model_or_uri
    y = None
    if target is not None:
        if target not in frame.columns:
            raise InvalidArgument(
                f"target column {target!r} is not in the data (columns: {', '.join(map(str, frame))})"
            )
        y = frame[target].to_numpy()
        frame = frame.drop(columns=[target])
    head = frame if rows is None else frame.head(rows)
    baseline = next((i.baseline for i in stored.values() if i.baseline), None)
    if baseline is None and len(frame) >= 2:
        from modelyard.explain._model import baseline_of, view

        baseline = baseline_of(view(model).features(frame))
    explained = explain_rows(model, head, method=method, baseline=baseline)  # type: ignore[arg-type]
    if y is not None:
        importance = permutation_importance(model, frame, y, seed=seed)
    else:
        means = explained.importance()
        importance = Importance(
            method=explained.method,
            features=[FeatureImportance(f, v) for f, v in sorted(means.items(), key=lambda kv: (-kv[1], kv[0]))],
            n_rows=len(explained),
            output=explained.output,
        )
    return Explanation(model=label, rows=explained, importance=importance)


def importance_drift(
    registry: RegistryService, a: str, b: str, *, method: str | None = None, top: int = 5
) -> ImportanceDiff:
    """Compare the importance stored with two versions' newest evaluations (``method``: the one
    both have, SHAP first, when not given)."""
    from modelyard.evaluation.record import latest_importance

    sides = []
    for reference in (a, b):
        version = registry.resolve(reference)
        stored = latest_importance(registry, version.model_name, version.version)
        label = f"{version.model_name}@{version.version}"
        if not stored:
            raise InvalidArgument(
                f"{label} has no stored importance: evaluate it first (modelyard evaluate {label} ...)"
            )
        sides.append((label, stored))
    (label_a, imp_a), (label_b, imp_b) = sides
    common = [m for m in ("shap", "permutation") if m in imp_a and m in imp_b]
    if method is None:
        if not common:
            raise InvalidArgument(f"{label_a} and {label_b} have no importance method in common")
        method = common[0]
    if method not in imp_a or method not in imp_b:
        have = f"{label_a} has {', '.join(imp_a)}, {label_b} has {', '.join(imp_b)}"
        raise InvalidArgument(f"both versions need {method} importance; {have}")
    return importance_diff(imp_a[method], imp_b[method], a_label=label_a, b_label=label_b, top=top)


def explain(
    model_or_uri: Any,
    data: Any,
    *,
    rows: int | None = DEFAULT_ROWS,
    target: str | None = None,
    method: str = "auto",
    seed: int | None = 0,
) -> Explanation:
    """Explain a model's predictions on ``data`` (a DataFrame or a CSV/Parquet path).

    ``model_or_uri``: ``"NAME@VERSION"`` (loaded, hash-verified, from the session's registry), a
    loaded package, or an estimator. The first ``rows`` rows get per-feature attributions: SHAP for
    tree models (``pip install 'modelyard[explain]'``), occlusion against the per-feature
    baseline stored with the version's evaluation (or the data's medians) for any other model.
    With ``target``, the global importance is permutation importance against those labels."""
    from modelyard.sdk import models

    registry = models._registry() if isinstance(model_or_uri, str) else None
    return explain_model(registry, model_or_uri, data, rows=rows, target=target, method=method, seed=seed)


def explain_diff(a: str, b: str, *, method: str | None = None, top: int = 5) -> ImportanceDiff:
    """Importance drift between two evaluated versions, e.g. ``explain_diff("churn@1", "churn@2")``:
    Spearman rank correlation and the features whose share of the importance changed most."""
    from modelyard.sdk import models

    return importance_drift(models._registry(), a, b, method=method, top=top)


def model_report(reference: str) -> ModelReport:
    """A version's model report (card, metrics, slices, importance; aggregates only), e.g.
    ``model_report("churn@2").write_html("churn-2.html")`` or ``.to_dict()`` for programs."""
    from modelyard.reports.model import build_model_report
    from modelyard.sdk import models

    registry = models._registry()
    version = registry.resolve(reference)
    return build_model_report(registry, version.model_name, version.version)


__all__ = [
    "Explanation",
    "ImportanceDiff",
    "explain",
    "explain_diff",
    "explain_model",
    "importance_drift",
    "model_report",
]
