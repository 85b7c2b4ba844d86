"""Signal evaluators: what a monitor computes on one window, as JSON values under its group.

* ``health`` — service health from the log, per endpoint and per variant (shadows included,
  labelled): requests, errors, error rate, latency p50/p95/p99 (nearest rank), throughput
  (requests per second over the window's span).
* ``quality`` — data quality of the live inputs against the reference's validation suite (the
  data subsystem's expectations: ``not_null``, ``between``, ``in_set``, suggested from the
  reference by ``Suite.suggest``): missing values, out-of-range values, unseen categories and
  schema violations (reference columns missing from the log, numeric columns carrying text).
* ``drift`` — ``monitoring.drift.compute_drift`` of the window's inputs (and the prediction)
  against the version's stored reference profile: the reference data is never rescanned.
* ``performance`` — realized metrics (``monitoring.performance.window_performance``) on the rows
  whose labels arrived as feedback (joined by request id), against the version's evaluation
  baseline, with confidence intervals.
* ``estimated`` — label-free estimates (``monitoring.estimation``) from the estimator registered
  as the version's ``estimator`` reference.

Each evaluator returns a flat-ish dict; alert rules address a value by its dotted path
(``health.error_rate``, ``quality.out_of_range_share``, ``drift.share_drifted``,
``drift.columns.age.score``, ``performance.accuracy``, ``estimated.roc_auc``). Values are JSON
(NaN and infinities become None): a window that cannot define a value says so in ``notes``
rather than failing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.monitoring.windows import PREDICTION, WindowData

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.stats.profile import DatasetProfile

__all__ = [
    "Reference",
    "SignalOutput",
    "drift_signal",
    "estimated_signal",
    "health_signal",
    "label_digest",
    "lookup",
    "performance_signal",
    "quality_signal",
    "reference_summary",
]


@dataclass
class Reference:
    """What a window is judged against: the version's profile (drift), its summary (quality:
    columns, kinds, the suggested suite), its evaluation baseline and label-free estimator."""

    model: str | None = None
    version: int | None = None
    profile: DatasetProfile | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)
    estimator: Any = None

    @property
    def columns(self) -> list[str]:
        return list((self.summary.get("columns") or {}).keys())


@dataclass
class SignalOutput:
    values: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def clean(value: Any) -> Any:
    """A JSON value: numpy scalars as Python, NaN/inf as None, containers recursively."""
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def lookup(values: Mapping[str, Any], signal: str) -> float | None:
    """The number at ``signal``'s dotted path in a window's values (booleans as 0/1); None when
    the window has no such value."""
    current: Any = values
    for part in signal.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    if isinstance(current, bool):
        return 1.0 if current else 0.0
    if isinstance(current, int | float) and math.isfinite(float(current)):
        return float(current)
    return None


# -- health -------------------------------------------------------------------------------------


def _percentile(values: np.ndarray, q: float) -> float | None:
    if values.size == 0:
        return None
    ordered = np.sort(values)
    rank = max(0, math.ceil(q * ordered.size) - 1)  # nearest rank, as the serving SLO rule
    return float(ordered[rank])


def _health(frame: pd.DataFrame, span_s: float) -> dict[str, Any]:
    n = len(frame)
    errors = int((frame["status"] != "ok").sum()) if n else 0
    latency = frame["latency_ms"].to_numpy(dtype=float) if n else np.zeros(0)
    return {
        "requests": n,
        "errors": errors,
        "error_rate": errors / n if n else None,
        "p50_ms": _percentile(latency, 0.50),
        "p95_ms": _percentile(latency, 0.95),
        "p99_ms": _percentile(latency, 0.99),
        "throughput_rps": n / span_s if span_s > 0 else None,
    }


def health_signal(data: WindowData, *, span_ms: int | None = None) -> SignalOutput:
    """Service health of the window's requests: the live ones for the endpoint's figures, every
    variant (shadows too) under ``variants``."""
    requests = data.requests
    if span_ms is None:
        first, last = data.first_ms, data.last_ms
        span_ms = (last - first) if first is not None and last is not None else 0
    span_s = max(span_ms, 1) / 1000.0
    live = requests[~requests["shadow"].astype(bool)] if len(requests) else requests
    values = _health(live, span_s)
    variants: dict[str, Any] = {}
    for name, group in requests.groupby("variant", sort=True) if len(requests) else []:
        entry = _health(group, span_s)
        entry["shadow"] = bool(group["shadow"].astype(bool).any())
        variants[str(name)] = entry
    values["variants"] = variants
    return SignalOutput(clean(values))


# -- quality ------------------------------------------------------------------------------------


def reference_summary(frame: pd.DataFrame | None = None, profile: DatasetProfile | None = None) -> dict[str, Any]:
    """The summary stored with a reference: its columns with their kinds and the validation suite
    the quality checks run (``Suite.suggest`` over the data subsystem's profile for a frame; from
    the profile's ranges, categories and missing counts for a ``DatasetProfile``)."""
    from modelyard.data.validation import Between, InSet, NotNull, Suite

    if frame is not None:
        from modelyard.data.validation import profile as validation_profile

        prof = validation_profile(frame)
        suite = Suite.suggest(prof, name="reference")
        suite.expectations = [e for e in suite.expectations if e.kind in ("not_null", "between", "in_set")]
        columns = {name: {"kind": col.kind} for name, col in prof.columns.items()}
        return {"rows": len(frame), "columns": columns, "suite": suite.to_dict()}
    if profile is None:
        return {"columns": {}, "suite": {"name": "reference", "expectations": []}}
    from modelyard.stats.profile import CategoricalProfile, NumericProfile

    expectations: list[Any] = []
    columns = {}
    for name, col in profile.columns.items():
        columns[name] = {"kind": col.kind}
        if col.missing == 0 and col.count:
            expectations.append(NotNull(column=name))
        if isinstance(col, NumericProfile) and col.n and col.kind == "numeric":
            expectations.append(Between(column=name, min=float(col.min), max=float(col.max)))
        elif isinstance(col, CategoricalProfile) and col.kind in ("categorical", "boolean") and not col.other:
            expectations.append(InSet(column=name, values=sorted(col.counts)))
    suite = Suite(name="reference", expectations=expectations)
    return {"rows": profile.rows, "columns": columns, "suite": suite.to_dict()}


def quality_signal(data: WindowData, reference: Reference) -> SignalOutput:
    """Missing values, out-of-range values, unseen categories and schema violations of the live
    rows, by the reference's suite (see the module docstring)."""
    import pandas as pd

    from modelyard.data.validation.expectations import from_dict

    rows = data.rows
    n = len(rows)
    inputs = list(data.input_columns)
    expected = reference.columns or inputs
    missing_columns = [c for c in expected if c not in rows.columns]
    present = [c for c in expected if c in rows.columns]
    cells = n * len(present)
    nulls = int(rows[present].isna().sum().sum()) if present and n else 0
    out: dict[str, Any] = {
        "rows": n,
        "missing_share": nulls / cells if cells else None,
        "missing_columns": len(missing_columns),
        "out_of_range_share": 0.0 if n else None,
        "unseen_category_share": 0.0 if n else None,
        "null_violation_share": 0.0 if n else None,
    }
    notes: list[str] = []
    if missing_columns:
        notes.append(f"column(s) {', '.join(map(repr, missing_columns))} missing from the log")
    kinds = reference.summary.get("columns") or {}
    type_violations = []
    for name in present:
        if kinds.get(name, {}).get("kind") == "numeric" and n:
            coerced = pd.to_numeric(rows[name], errors="coerce")
            if int((coerced.isna() & rows[name].notna()).sum()):
                type_violations.append(name)
    if type_violations:
        notes.append(f"numeric column(s) {', '.join(map(repr, type_violations))} carry non-numeric values")
    out["schema_violations"] = len(missing_columns) + len(type_violations)
    failed: list[dict[str, Any]] = []
    masks: dict[str, np.ndarray] = {
        "between": np.zeros(n, dtype=bool),
        "in_set": np.zeros(n, dtype=bool),
        "not_null": np.zeros(n, dtype=bool),
    }
    for spec in (reference.summary.get("suite") or {}).get("expectations", []):
        expectation = from_dict(dict(spec))
        if expectation.column not in rows.columns or not n or expectation.kind not in masks:
            continue
        mask = np.asarray(expectation.failing_mask(rows), dtype=bool)
        masks[expectation.kind] |= mask
        if mask.any():
            failed.append({"expectation": expectation.describe(), "failing_fraction": float(mask.mean())})
    if n:
        out["out_of_range_share"] = float(masks["between"].mean())
        out["unseen_category_share"] = float(masks["in_set"].mean())
        out["null_violation_share"] = float(masks["not_null"].mean())
    out["failed_expectations"] = len(failed)
    out["failures"] = failed[:50]
    return SignalOutput(clean(out), notes)


# -- drift --------------------------------------------------------------------------------------


def _numeric_frame(rows: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    out = {}
    for name in columns:
        series = rows[name]
        if series.dtype == object:
            numeric = pd.to_numeric(series, errors="coerce")
            if int(numeric.notna().sum()) == int(series.notna().sum()):
                series = numeric
        out[name] = series
    return pd.DataFrame(out)


def drift_signal(data: WindowData, reference: Reference, *, options: Mapping[str, Any] | None = None) -> SignalOutput:
    """Drift of the window's inputs and prediction against the reference profile."""
    from modelyard.monitoring.drift import DriftOptions, compute_drift

    if reference.profile is None:
        return SignalOutput({}, ["no reference profile registered for the served version: drift not computed"])
    rows = data.rows
    common = [c for c in reference.profile.columns if c in rows.columns]
    if not common:
        return SignalOutput({}, ["no column of the reference profile is in the log: drift not computed"])
    opts = dict(options or {})
    prediction = PREDICTION if PREDICTION in common else None
    kwargs = {k: v for k, v in opts.items() if k in ("threshold", "drift_share", "method")}
    result = compute_drift(
        reference.profile,
        _numeric_frame(rows, common),
        columns=common,
        options=DriftOptions(prediction=prediction, **kwargs),
    )
    columns = {
        c.column: {"drifted": c.drifted, "score": c.score, "statistic": c.statistic, "method": c.method, "psi": c.psi}
        for c in result.columns
    }
    values = {
        "share_drifted": result.share_drifted,
        "dataset_drift": result.dataset_drift,
        "drifted_columns": len(result.drifted_columns),
        "prediction_drift": result.prediction.drifted if result.prediction is not None else None,
        "columns": columns,
    }
    notes = [f"drift of {name!r} not tested: {why}" for name, why in result.skipped.items()]
    return SignalOutput(clean(values), notes)


# -- performance --------------------------------------------------------------------------------


def _labelled(rows: pd.DataFrame) -> pd.DataFrame:
    if not len(rows):
        return rows
    return rows[rows["feedback"].map(lambda v: v is not None) & rows[PREDICTION].map(lambda v: v is not None)]


def label_digest(labelled: pd.DataFrame) -> str:
    """What labels a window's performance was computed on (request ids and values), in 16 hex
    digits: a later run that reads other labels for the same window re-evaluates it."""
    import hashlib
    import json

    pairs = (
        list(zip(labelled["request_id"].tolist(), labelled["feedback"].tolist(), strict=True)) if len(labelled) else []
    )
    text = json.dumps(pairs, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def performance_signal(
    data: WindowData, reference: Reference, *, options: Mapping[str, Any] | None = None
) -> SignalOutput:
    """Realized metrics on the rows whose labels arrived, against the version's baseline."""
    from modelyard.monitoring.performance import window_performance

    opts = dict(options or {})
    task = opts.get("task", "classification")
    rows = data.rows
    if len(rows):  # rows of failed requests have no prediction to judge
        rows = rows[rows[PREDICTION].map(lambda v: v is not None)]
    labelled = _labelled(rows)
    if not len(labelled):
        return SignalOutput(
            {"labelled": 0, "unlabelled": len(rows), "labels": label_digest(labelled)},
            ["no labels arrived for this window yet"],
        )
    score_column = opts.get("score")
    scores = labelled[score_column].tolist() if score_column and score_column in labelled.columns else None
    metrics = opts.get("metrics")
    result = window_performance(
        task, labelled["feedback"].tolist(), labelled[PREDICTION].tolist(), scores,
        baseline=reference.baseline, tolerance=opts.get("tolerance", 0.0), unlabelled=len(rows) - len(labelled),
        metrics=metrics,
    )  # fmt: skip
    values: dict[str, Any] = {
        "labelled": len(labelled), "unlabelled": len(rows) - len(labelled), "labels": label_digest(labelled)
    }  # fmt: skip
    notes: list[str] = []
    for name, estimate in result.metrics.items():
        values[name] = estimate.value
        values[f"{name}_lower"] = estimate.lower
        values[f"{name}_upper"] = estimate.upper
        if estimate.value is None and estimate.reason:
            notes.append(f"{name}: {estimate.reason}")
    for name, comparison in result.comparisons.items():
        values[f"{name}_baseline"] = comparison.baseline
        values[f"{name}_delta"] = comparison.delta
    values["degraded"] = result.degraded
    return SignalOutput(clean(values), notes)


def estimated_signal(
    data: WindowData, reference: Reference, *, options: Mapping[str, Any] | None = None
) -> SignalOutput:
    """Label-free estimates of the window's performance by the version's estimator."""
    if reference.estimator is None:
        return SignalOutput({}, ["no label-free estimator registered for the served version"])
    opts = dict(options or {})
    rows = data.rows
    if not len(rows):
        return SignalOutput({}, [])
    column = opts.get("score", PREDICTION)
    if column not in rows.columns:
        return SignalOutput({}, [f"score column {column!r} is not in the log"])
    window = rows[column].tolist()
    if reference.estimator.kind == "regression":
        features = _numeric_frame(rows, [c for c in data.input_columns if c in rows.columns])
        found = reference.estimator.estimate(window, features=features)
    else:
        found = reference.estimator.estimate(window)
    values: dict[str, Any] = {}
    for name, estimate in found.items():
        values[name] = estimate.value
        values[f"{name}_lower"] = estimate.lower
        values[f"{name}_upper"] = estimate.upper
    return SignalOutput(clean(values))
