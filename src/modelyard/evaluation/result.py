"""The result of an evaluation and its JSON form (the artifact logged to the run and read back by
model cards and the UI)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from modelyard.core.ids import new_id
from modelyard.core.tracking import now_millis
from modelyard.evaluation.metrics import Task

# --- the result ------------------------------------------------------------------------------


@dataclass
class ChampionComparison:
    """The candidate against the champion on the same rows."""

    champion: str  # a reference like "churn@2", or "model" for an object passed in
    test: Literal["mcnemar", "paired_bootstrap"]
    metric: str
    candidate_value: float
    champion_value: float
    difference: float  # candidate - champion
    p_value: float
    significant: bool  # at ``alpha``
    better: bool | None  # None: no significant difference
    alpha: float = 0.05
    statistic: float | None = None
    method: str | None = None  # exact / chi-square for McNemar
    b: int | None = None  # McNemar's discordant counts
    c: int | None = None
    ci_low: float | None = None  # bootstrap interval of the difference
    ci_high: float | None = None
    champion_metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class EvaluationResult:
    task: Task
    n_rows: int
    target: str
    metrics: dict[str, float]
    slices: dict[str, dict[str, float]] = field(default_factory=dict)  # name -> metrics + "n"
    classes: list[Any] | None = None
    confusion_matrix: list[list[int]] | None = None
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    comparison: ChampionComparison | None = None
    model: str | None = None  # "churn@3" when a registered version was evaluated
    evaluation_id: str = field(default_factory=new_id)
    created_at: int = field(default_factory=now_millis)
    run_id: str | None = None
    digest: str | None = None  # of the JSON artifact, once logged
    artifacts: dict[str, str] = field(default_factory=dict)  # run artifact path -> digest
    #: method ("permutation", "shap") -> ``modelyard.explain.Importance.to_dict()``
    importance: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationResult:
        values = dict(data)
        comparison = values.get("comparison")
        if comparison is not None:
            values["comparison"] = ChampionComparison(**comparison)
        for key in ("metrics",):
            values[key] = {k: _unjson(v) for k, v in values[key].items()}
        values["slices"] = {n: {k: _unjson(v) for k, v in m.items()} for n, m in values.get("slices", {}).items()}
        return cls(**values)

    def summary(self) -> dict[str, Any]:
        """The few facts stored with the version (the full result stays in the JSON artifact)."""
        out: dict[str, Any] = {"task": self.task, "n_rows": self.n_rows, "metrics": self.to_dict()["metrics"]}
        if self.importance:
            method = "shap" if "shap" in self.importance else "permutation"
            out["top_features"] = [f["feature"] for f in self.importance[method]["features"][:5]]
        if self.comparison is not None:
            c = self.comparison
            out["champion"] = {
                "reference": c.champion, "test": c.test, "metric": c.metric, "difference": _finite(c.difference),
                "p_value": _finite(c.p_value), "better": c.better,
            }  # fmt: skip
        return out


def _finite(value: float) -> float | None:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def _jsonable(value: Any) -> Any:
    """NaN and infinities become None (JSON has no NaN); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _unjson(value: Any) -> Any:
    return float("nan") if value is None else value
