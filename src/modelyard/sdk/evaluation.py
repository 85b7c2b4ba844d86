"""The evaluation and model-card SDK: ``modelyard.evaluate()``, ``model_card()``, ``update_model_card()``.

Thin wrappers that pass the SDK session's stores, active run and project to
``modelyard.evaluation`` and ``modelyard.reports.cards``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelyard import _models_sdk, _sdk
from modelyard.evaluation import EvaluationResult, Task
from modelyard.evaluation import evaluate as _evaluate
from modelyard.reports.cards import ModelCard, build_card, update_card


def evaluate(
    model_or_uri: Any,
    data: Any,
    *,
    target: str,
    task: Task | None = None,
    slices: Sequence[str] | Mapping[str, Any] | None = None,
    champion: Any = None,
    log: bool = True,
    compare_metric: str | None = None,
    actor: str | None = None,
) -> EvaluationResult:
    """Evaluate a model (``"NAME@VERSION"``, a loaded package, or any object with ``predict``).

    ``data`` is a DataFrame or a CSV/Parquet path holding the ``target`` column. Metrics, metrics
    per slice (``slices=["region"]`` or ``{"name": mask}``), a confusion matrix, ROC/PR curves or
    residual plots are logged to the active run, or to a new run named "evaluation"; an evaluated
    registered version records the result (its model card shows it). With ``champion`` (e.g.
    ``"churn@champion"``), the candidate is compared on the same rows: McNemar's test for
    classification, a paired bootstrap interval of the metric difference for regression."""
    session = _sdk._session
    stack_run = _sdk.active_run()
    registry = _models_sdk._registry() if log or isinstance(model_or_uri, str) or isinstance(champion, str) else None
    return _evaluate(
        model_or_uri,
        data,
        target=target,
        task=task,
        slices=slices,
        champion=champion,
        log=log,
        registry=registry,
        run_id=None if stack_run is None else stack_run.id,
        project=session.settings().project,
        actor=actor or _models_sdk.current_user(),
        compare_metric=compare_metric,
    )


def model_card(name: str, version: int) -> ModelCard:
    """The model card of a version: generated facts plus the edited fields (``to_markdown()``, ``to_html()``)."""
    return build_card(_models_sdk._registry(), name, version)


def update_model_card(name: str, version: int, *, actor: str | None = None, **fields: str | None) -> ModelCard:
    """Edit a card's fields, e.g. ``update_model_card("churn", 3, intended_use="...", owners="ana")``;
    ``None`` clears a field. Each edit is recorded in the model's history."""
    return update_card(_models_sdk._registry(), name, version, fields, actor=actor or _models_sdk.current_user())


__all__ = ["EvaluationResult", "ModelCard", "evaluate", "model_card", "update_model_card"]
