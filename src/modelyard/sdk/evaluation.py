"""The evaluation and model-card SDK: ``modelyard.evaluate()``, ``model_card()``, ``update_model_card()``.

Thin wrappers that pass the SDK session's stores, active run and project to
``modelyard.evaluation`` and ``modelyard.reports.cards``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelyard.evaluation import EvaluationResult, Task
from modelyard.evaluation import evaluate as _evaluate
from modelyard.reports.cards import ModelCard, build_card, update_card
from modelyard.sdk import models
from modelyard.sdk.session import _session


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
    reference: bool = False,
) -> EvaluationResult:
    """Evaluate a model (``"NAME@VERSION"``, a loaded package, or any object with ``predict``).

    ``data`` is a DataFrame or a CSV/Parquet path holding the ``target`` column. Metrics, metrics
    per slice (``slices=["region"]`` or ``{"name": mask}``), a confusion matrix, ROC/PR curves or
    residual plots are logged to the active run, or to a new run named "evaluation"; an evaluated
    registered version records the result (its model card shows it). With ``champion`` (e.g.
    ``"churn@champion"``), the candidate is compared on the same rows: McNemar's test for
    classification, a paired bootstrap interval of the metric difference for regression. With
    ``reference=True`` an evaluated registered version also gets ``data`` as its "evaluation"
    reference for monitoring, by ``modelyard.set_reference(..., target=target)``: the profile of
    its features and of the version's outputs on them, and the label-free estimator."""
    runs = _session.runs()
    registry = models._registry() if log or isinstance(model_or_uri, str) or isinstance(champion, str) else None
    result = _evaluate(
        model_or_uri,
        data,
        target=target,
        task=task,
        slices=slices,
        champion=champion,
        log=log,
        registry=registry,
        run_id=runs[-1].id if runs else None,
        project=_session.settings().project,
        actor=actor or models.current_user(),
        compare_metric=compare_metric,
    )
    if reference and result.model is not None:
        from modelyard.sdk.monitoring import set_reference

        name, _, version = result.model.rpartition("@")
        from modelyard.evaluation.evaluator import _as_frame

        frame = _as_frame(data)
        set_reference(name, int(version), frame, target=target, task=result.task, role="evaluation", actor=actor)
    return result


def model_card(name: str, version: int) -> ModelCard:
    """The model card of a version: generated facts plus the edited fields (``to_markdown()``, ``to_html()``)."""
    return build_card(models._registry(), name, version)


def update_model_card(name: str, version: int, *, actor: str | None = None, **fields: str | None) -> ModelCard:
    """Edit a card's fields, e.g. ``update_model_card("churn", 3, intended_use="...", owners="ana")``;
    ``None`` clears a field. Each edit is recorded in the model's history."""
    return update_card(models._registry(), name, version, fields, actor=actor or models.current_user())


__all__ = ["EvaluationResult", "ModelCard", "evaluate", "model_card", "update_model_card"]
