"""Model evaluation: standard metrics, metrics per slice, plots, and a statistical comparison with
the current champion, logged to a run and recorded on the model version.

What is the project's own: choosing the metrics for the task (``metrics.py``), slicing, and the
paired tests that say whether a candidate really differs from the champion on the same rows
(``modelyard.stats``): McNemar's test on paired correctness for classification, a paired bootstrap
of the metric difference for regression.

``evaluate`` is the use case; it receives the registry service (and through it the stores), so it
runs the same on every store. The SDK face (``modelyard.evaluate``) passes the session's stores
and active run. Recording (``record.py``) and the result's JSON form (``result.py``) live beside it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelyard import stats
from modelyard.core.errors import InvalidArgument
from modelyard.evaluation.metrics import (
    LOWER_IS_BETTER,
    REGRESSION_METRICS,
    TASKS,
    Task,
    _metrics,
    _predict,
    _Predictions,
    _sorted_labels,
    infer_task,
    paired_bootstrap,
)
from modelyard.evaluation.record import _log
from modelyard.evaluation.result import ChampionComparison, EvaluationResult, _jsonable

if TYPE_CHECKING:
    from modelyard.core.registry import ModelVersion
    from modelyard.registry.service import RegistryService

log = logging.getLogger("modelyard.evaluation")

MAX_CURVE_POINTS = 1000
#: Importance is computed by default when the model has at most this many features: permutation
#: importance costs ``n_repeats`` (5) predictions per feature over at most ``importance_rows`` rows.
AUTO_IMPORTANCE_MAX_FEATURES = 100
DEFAULT_IMPORTANCE_ROWS = 2000


# --- slices ----------------------------------------------------------------------------------

SliceSpec = Sequence[str] | Mapping[str, Any] | None


def _slice_masks(data: pd.DataFrame, slices: SliceSpec) -> dict[str, np.ndarray]:
    if slices is None:
        return {}
    if isinstance(slices, str):
        slices = [slices]
    masks: dict[str, np.ndarray] = {}
    if isinstance(slices, Mapping):
        for name, mask in slices.items():
            array = np.asarray(mask, dtype=bool)
            if array.shape != (len(data),):
                raise InvalidArgument(f"slice {name!r}: the mask has {array.size} values for {len(data)} rows")
            masks[str(name)] = array
        return masks
    for column in slices:
        if column not in data.columns:
            raise InvalidArgument(f"slice column {column!r} is not in the data (columns: {', '.join(map(str, data))})")
        values = data[column]
        for value in sorted(values.dropna().unique().tolist(), key=str):
            masks[f"{column}={value}"] = (values == value).to_numpy()
        if values.isna().any():
            masks[f"{column}=<missing>"] = values.isna().to_numpy()
    return masks


def read_frame(path: str | Path) -> pd.DataFrame:
    """A CSV, TSV, Parquet or JSON Lines file as a frame, read by the data subsystem's
    ``read_table`` (the reader datasets use); InvalidArgument with the reason otherwise."""
    from modelyard.data.tabular import read_table, table_format

    p = Path(path)
    if not p.is_file():
        raise InvalidArgument(f"data file {str(p)!r} does not exist")
    if table_format(p) is None:
        raise InvalidArgument(f"unsupported data file {str(p)!r}: use .csv, .tsv, .parquet or .jsonl")
    return read_table([p]).to_pandas()


def _as_frame(data: Any) -> pd.DataFrame:
    if isinstance(data, (str, Path)):
        return read_frame(data)
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    try:
        return pd.DataFrame(data)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"cannot evaluate on {type(data).__name__}: {exc}") from None


# --- the use case ----------------------------------------------------------------------------


def evaluate(
    model_or_uri: Any,
    data: Any,
    *,
    target: str,
    task: Task | None = None,
    slices: SliceSpec = None,
    champion: Any = None,
    log: bool = True,
    registry: RegistryService | None = None,
    run_id: str | None = None,
    project: str | None = None,
    actor: str = "unknown",
    compare_metric: str | None = None,
    alpha: float = 0.05,
    n_resamples: int = 1000,
    seed: int | None = 0,
    importance: bool | None = None,
    importance_rows: int = DEFAULT_IMPORTANCE_ROWS,
) -> EvaluationResult:
    """Evaluate a model (an object with ``predict``, a loaded package, or ``"NAME@VERSION"``).

    With ``log`` (and a registry), metrics, plots and the JSON result go to ``run_id`` (or a new
    run named "evaluation" in the model's project, ended when done), and an evaluated registered
    version records the evaluation. ``champion`` (a reference like ``"churn@champion"`` or a
    model) adds the paired statistical comparison."""
    if task is not None and task not in TASKS:
        raise InvalidArgument(f"unknown task {task!r}; expected classification or regression")
    if importance_rows < 1:
        raise InvalidArgument(f"importance rows must be at least 1, got {importance_rows}")
    frame = _as_frame(data)
    if target not in frame.columns:
        raise InvalidArgument(f"target column {target!r} is not in the data (columns: {', '.join(map(str, frame))})")
    if frame.empty:
        raise InvalidArgument("cannot evaluate on an empty data set")
    y_series = frame[target]
    if y_series.isna().any():
        raise InvalidArgument(f"target column {target!r} has {int(y_series.isna().sum())} missing value(s)")
    masks = _slice_masks(frame, slices)
    features = frame.drop(columns=[target])

    model, version = _resolve(model_or_uri, registry)
    task = task or infer_task(y_series, model)
    y = y_series.to_numpy()
    pred = _predict(model, features, task)
    if len(pred.labels) != len(y):
        raise InvalidArgument(f"the model returned {len(pred.labels)} predictions for {len(y)} rows")
    result = EvaluationResult(
        task=task,
        n_rows=len(y),
        target=target,
        metrics=_metrics(task, y, pred),
        model=None if version is None else f"{version.model_name}@{version.version}",
    )
    for name, mask in masks.items():
        if mask.any():
            sub = _Predictions(pred.labels[mask], None if pred.scores is None else pred.scores[mask], pred.classes)
            result.slices[name] = {"n": float(mask.sum()), **_metrics(task, y[mask], sub)}
    _add_curves(result, y, pred)
    if importance is not False:
        result.importance = _importance(model, features, y, task, importance, importance_rows, seed)
    if champion is not None:
        result.comparison = _compare(
            task, y, features, pred, champion, registry, version, compare_metric, alpha, n_resamples, seed
        )
    if log and registry is not None:
        _log(result, registry, version, run_id=run_id, project=project, actor=actor)
    return result


def _resolve(model_or_uri: Any, registry: RegistryService | None) -> tuple[Any, ModelVersion | None]:
    if isinstance(model_or_uri, str):
        if registry is None:
            raise InvalidArgument("evaluating a model reference needs a registry")
        version = registry.resolve(model_or_uri)
        return registry.load(model_or_uri, allow_decommissioned=True), version
    if not hasattr(model_or_uri, "predict"):
        raise InvalidArgument(f"cannot evaluate {type(model_or_uri).__name__}: it has no predict method")
    return model_or_uri, None


def _importance(
    model: Any, features: pd.DataFrame, y: np.ndarray, task: Task, asked: bool | None, rows: int, seed: int | None
) -> dict[str, dict[str, Any]]:
    """Permutation importance (and SHAP for tree models) as stored in the result. Asked for
    explicitly, a failure of permutation importance is the caller's error; by default (``asked is None``) a model that
    cannot be explained this way is evaluated without importance."""
    from modelyard.core.errors import MissingExtra
    from modelyard.explain import is_tree_model, permutation_importance, shap_importance

    if asked is None and features.shape[1] > AUTO_IMPORTANCE_MAX_FEATURES:
        return {}
    out: dict[str, dict[str, Any]] = {}
    try:
        out["permutation"] = permutation_importance(model, features, y, task=task, max_rows=rows, seed=seed).to_dict()
    except Exception as exc:  # by default importance is a bonus: it never fails an evaluation that worked
        if asked:
            raise
        log.warning("evaluated without feature importance: %s", str(exc).splitlines()[0] if str(exc) else exc)
        return out
    if is_tree_model(model):
        try:
            out["shap"] = shap_importance(model, features, task=task, max_rows=min(rows, 1000), seed=seed).to_dict()
        except (InvalidArgument, MissingExtra) as exc:  # permutation importance is the one every model gets
            log.info("no SHAP importance: %s", exc)
    return out


def _add_curves(result: EvaluationResult, y: np.ndarray, pred: _Predictions) -> None:
    if result.task == "regression":
        residuals = y.astype(float) - pred.labels
        keep = _thin(len(y))
        result.curves["residuals"] = {
            "predicted": pred.labels[keep].tolist(), "residual": residuals[keep].tolist(),
        }  # fmt: skip
        return
    from sklearn import metrics as m

    classes = pred.classes or _sorted_labels(set(y.tolist()) | set(pred.labels.tolist()))
    result.classes = _jsonable(list(classes))
    result.confusion_matrix = m.confusion_matrix(y, pred.labels, labels=classes).tolist()
    if pred.scores is None or pred.classes is None or len(pred.classes) != 2 or len(set(y.tolist())) < 2:
        return
    positive = y == pred.classes[1]
    fpr, tpr, _ = m.roc_curve(positive, pred.scores[:, 1])
    precision, recall, _ = m.precision_recall_curve(positive, pred.scores[:, 1])
    roc_keep, pr_keep = _thin(len(fpr)), _thin(len(precision))
    result.curves["roc"] = {"fpr": fpr[roc_keep].tolist(), "tpr": tpr[roc_keep].tolist()}
    result.curves["pr"] = {"recall": recall[pr_keep].tolist(), "precision": precision[pr_keep].tolist()}


def _thin(n: int) -> np.ndarray:
    """At most MAX_CURVE_POINTS evenly spaced indices, always keeping both ends."""
    if n <= MAX_CURVE_POINTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_CURVE_POINTS).round().astype(int))


def _compare(
    task: Task,
    y: np.ndarray,
    features: pd.DataFrame,
    pred: _Predictions,
    champion: Any,
    registry: RegistryService | None,
    candidate: ModelVersion | None,
    compare_metric: str | None,
    alpha: float,
    n_resamples: int,
    seed: int | None,
) -> ChampionComparison | None:
    champion_model, champion_version = _resolve(champion, registry)
    if candidate is not None and champion_version is not None and champion_version.id == candidate.id:
        return None  # the candidate is the champion: nothing to compare
    label = "model" if champion_version is None else f"{champion_version.model_name}@{champion_version.version}"
    theirs = _predict(champion_model, features, task)
    if len(theirs.labels) != len(y):
        raise InvalidArgument(f"the champion returned {len(theirs.labels)} predictions for {len(y)} rows")
    champion_metrics = _metrics(task, y, theirs)
    if task == "classification":
        metric = compare_metric or "accuracy"
        mine_ok, theirs_ok = pred.labels == y, theirs.labels == y
        test = stats.mcnemar_test(mine_ok, theirs_ok)
        ours = float(np.mean(mine_ok)) if metric == "accuracy" else _metrics(task, y, pred).get(metric, math.nan)
        their_value = champion_metrics.get(metric, math.nan)
        significant = test.p_value < alpha
        return ChampionComparison(
            champion=label, test="mcnemar", metric=metric, candidate_value=ours, champion_value=their_value,
            difference=ours - their_value, p_value=test.p_value, significant=significant,
            better=(test.b > test.c) if significant else None, alpha=alpha, statistic=test.statistic,
            method=test.method, b=test.b, c=test.c, champion_metrics=champion_metrics,
        )  # fmt: skip
    metric = compare_metric or "rmse"
    if metric not in REGRESSION_METRICS:
        raise InvalidArgument(f"cannot compare on {metric!r}; choose one of {', '.join(REGRESSION_METRICS)}")
    boot = paired_bootstrap(
        y.astype(float), pred.labels, theirs.labels, metric, n_resamples=n_resamples, confidence=1 - alpha, seed=seed
    )
    significant = boot.ci_low > 0 or boot.ci_high < 0
    lower_better = metric in LOWER_IS_BETTER
    better = None if not significant else (boot.difference < 0) == lower_better
    return ChampionComparison(
        champion=label, test="paired_bootstrap", metric=metric,
        candidate_value=float(REGRESSION_METRICS[metric](y.astype(float), pred.labels)),
        champion_value=float(REGRESSION_METRICS[metric](y.astype(float), theirs.labels)),
        difference=boot.difference, p_value=boot.p_value, significant=significant, better=better, alpha=alpha,
        ci_low=boot.ci_low, ci_high=boot.ci_high, champion_metrics=champion_metrics,
    )  # fmt: skip
