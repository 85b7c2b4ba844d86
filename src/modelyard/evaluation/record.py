"""Recording an evaluation: metrics, plots and the JSON result logged to a run, the evaluation
recorded on the model version, and the newest one read back."""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.evaluation.result import EvaluationResult

if TYPE_CHECKING:
    from modelyard.core.registry import ModelVersion
    from modelyard.explain import Importance
    from modelyard.registry.service import RegistryService

TAG_EVALUATED_MODEL = "modelyard.evaluation.model"
TAG_CHAMPION = "modelyard.evaluation.champion"
TAG_TEST = "modelyard.evaluation.test"
EVALUATION_ARTIFACT = "evaluation/evaluation.json"


def _metric_key(*parts: str) -> str:
    """Metric keys allow letters, digits and ``_ - . / : space``; anything else becomes ``_``."""
    return "/".join(re.sub(r"[^A-Za-z0-9_\-.: ]", "_", p.replace("=", ":")) for p in parts)


def _log(
    result: EvaluationResult,
    registry: RegistryService,
    version: ModelVersion | None,
    *,
    run_id: str | None,
    project: str | None,
    actor: str,
) -> None:
    from modelyard.evaluation import plots as evaluation_plots
    from modelyard.tracking.service import TrackingService

    tracking = TrackingService(registry.tracking, registry.artifacts)
    own_run = run_id is None
    if own_run:
        if version is not None:
            project_id = registry.get_model(version.model_name).project_id
            project_name = registry.tracking.get_project(project_id).name
        elif project is not None:
            project_name = project
        else:
            raise InvalidArgument("log an evaluation of a model object inside a run, or pass project=")
        run_id = tracking.create_run(project_name, name="evaluation").id
    assert run_id is not None
    result.run_id = run_id
    try:
        at = result.created_at
        points = [(_metric_key("eval", k), v, 0, at) for k, v in result.metrics.items() if math.isfinite(v)]
        for name, values in result.slices.items():
            points += [(_metric_key("eval", "slice", name, k), v, 0, at) for k, v in values.items() if math.isfinite(v)]
        tags: dict[str, str] = {}
        if result.model is not None:
            tags[TAG_EVALUATED_MODEL] = result.model
        c = result.comparison
        if c is not None:
            tags[TAG_CHAMPION] = c.champion
            tags[TAG_TEST] = c.test
            for key, value in (
                ("champion_" + c.metric, c.champion_value), ("difference", c.difference), ("p_value", c.p_value),
            ):  # fmt: skip
                if math.isfinite(value):
                    points.append((_metric_key("eval", "compare", key), value, 0, at))
        tracking.log_batch(run_id, metrics=points, tags=tags)
        for path, payload in evaluation_plots.render_artifacts(result).items():
            result.artifacts[path] = tracking.log_bytes(run_id, payload, path).digest
        entry = tracking.log_bytes(run_id, result.to_json().encode(), EVALUATION_ARTIFACT)
        result.digest = entry.digest
        if version is not None:
            registry.store.add_model_evaluation(
                version.model_name,
                version.version,
                evaluation_id=result.evaluation_id,
                digest=entry.digest,
                summary=result.summary(),
                run_id=run_id,
                actor=actor,
                at=registry.clock(),
            )
    except BaseException:
        if own_run:
            tracking.end_run(run_id, "FAILED")
        raise
    if own_run:
        tracking.end_run(run_id, "FINISHED")


def latest_evaluation(registry: RegistryService, name: str, version: int) -> EvaluationResult | None:
    """The newest recorded evaluation of a version, read back from its JSON artifact."""
    records = registry.store.list_model_evaluations(name, version)
    if not records:
        return None
    try:
        result = EvaluationResult.from_dict(json.loads(registry.artifacts.get_bytes(records[0].digest)))
    except NotFound:  # the blob was purged with its version
        return None
    result.digest = records[0].digest  # the JSON cannot contain its own hash
    return result


def latest_importance(registry: RegistryService, name: str, version: int) -> dict[str, Importance]:
    """The importance stored with a version's newest evaluation, by method ("permutation", "shap");
    empty when it was evaluated without it (or never)."""
    from modelyard.explain import Importance

    result = latest_evaluation(registry, name, version)
    if result is None:
        return {}
    return {method: Importance.from_dict(data) for method, data in result.importance.items()}
