"""Autologging for scikit-learn.

Every class of ``sklearn.utils.all_estimators()`` (and the halving searches, experimental or not)
is covered: ``fit``, ``fit_transform`` and ``fit_predict`` are wrapped on the class that defines
them (walking each estimator's MRO), once. The outermost call logs (see ``_autolog_common``):

- params: ``get_params(deep=True)`` (a Pipeline's ``scaler__with_mean``, ``clf__C``);
- tags ``estimator_name`` and ``estimator_class``;
- training metrics under MLflow's names, computed on the data ``fit`` saw;
- the fitted estimator as the run's ``model`` package (``log_models``).

A hyperparameter search (anything with ``cv_results_["params"]``: GridSearchCV,
RandomizedSearchCV, the halving searches) also logs ``best_<param>`` params, ``best_cv_score``,
``cv_results.csv``, the best estimator as ``model``, and child runs for the best
``max_tuning_runs`` candidates (their params and cv scores), linked to the parent run the way
the tuner links its trials.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from modelyard.core.ids import new_id
from modelyard.core.tracking import LifecycleStage, Metric, Run, RunStatus, now_millis
from modelyard.sdk import _autolog_common as common

METHODS = ("fit", "fit_transform", "fit_predict")
TAG_PARENT_SEARCH = "modelyard.autolog.search"
TAG_CANDIDATE = "modelyard.autolog.candidate"  # its row in cv_results_
TAG_POSITION = "modelyard.autolog.position"  # 1 for the chosen candidate, then by rank


# -- patching ---------------------------------------------------------------------------------


def _estimator_classes() -> list[type]:
    from sklearn.utils import all_estimators

    classes = [cls for _, cls in all_estimators()]
    try:  # the halving searches exist before ``enable_halving_search_cv`` makes them importable
        from sklearn.model_selection import _search_successive_halving as halving

        classes += [cls for cls in vars(halving).values() if isinstance(cls, type) and hasattr(cls, "fit")]
    except Exception:
        pass
    return classes


def _wrapped(value: Any) -> Any | None:
    """The wrapper to install for a class attribute, or None for one that is not a plain method.

    A function is wrapped directly; a conditional method (``available_if``: an object holding
    the function as ``fn``) gets a copy holding the wrapped function, so ``hasattr`` still
    answers as before. Properties and anything else are left alone."""
    if inspect.isfunction(value):
        return common.wrap_method(value, _run_name, _record)
    fn = getattr(value, "fn", None)
    if inspect.isfunction(fn) and not isinstance(value, property):
        try:
            clone = copy.copy(value)
            clone.fn = common.wrap_method(fn, _run_name, _record)
            return clone
        except Exception:
            return None
    return None


def patch_sklearn() -> int:
    """Wrap every training method of every scikit-learn estimator; returns how many were wrapped."""
    count = 0
    seen: set[type] = set()
    for cls in _estimator_classes():
        for owner in cls.__mro__:
            if owner in seen or not owner.__module__.startswith("sklearn"):
                continue
            seen.add(owner)
            for name in METHODS:
                value = owner.__dict__.get(name)
                if value is None or common.is_patched(value) or common.is_patched(getattr(value, "fn", None)):
                    continue
                wrapper = _wrapped(value)
                if wrapper is not None:
                    _patch_attribute(owner, name, value, wrapper)
                    count += 1
    return count


def _patch_attribute(owner: type, name: str, original: Any, wrapper: Any) -> None:
    setattr(getattr(wrapper, "fn", wrapper), common.MARK, original)
    common._patches.append((owner, name, original))
    setattr(owner, name, wrapper)


# -- what a call logs -------------------------------------------------------------------------


def _run_name(estimator: Any) -> str:
    return type(estimator).__name__


def _xy(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y", kwargs.get("Y"))
    return X, y


def _is_search(estimator: Any) -> bool:
    results = getattr(estimator, "cv_results_", None)
    return isinstance(results, dict) and "params" in results


def _record(rec: common.Recorder, estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any], _: Any) -> None:
    X, y = _xy(args, kwargs)
    weight = kwargs.get("sample_weight")
    cls = type(estimator)
    rec.attempt("params", lambda: rec.log_params(estimator.get_params(deep=True)))
    rec.attempt(
        "tags",
        lambda: rec.client.set_tags(
            rec.run_id, {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__qualname__}"}
        ),
    )
    rec.attempt("training metrics", lambda: rec.log_metrics(training_metrics(estimator, X, y, weight)))
    model = estimator
    if _is_search(estimator):
        rec.attempt("search results", lambda: _record_search(rec, estimator))
        model = getattr(estimator, "best_estimator_", None)
    if common.options.log_models and model is not None:
        rec.attempt("model", lambda: rec.log_model(model, "sklearn", X))


def _quiet(out: dict[str, float], key: str, compute: Callable[[], Any]) -> None:
    """One metric; one that does not apply to this estimator or target is left out."""
    try:
        value = float(compute())
    except Exception:
        return
    out[key] = value


def training_metrics(estimator: Any, X: Any, y: Any, sample_weight: Any = None) -> dict[str, float]:
    """MLflow's training metrics: ``training_score`` for every estimator with ``score``, and
    classification or regression metrics for classifiers and regressors."""
    from sklearn import metrics as skm
    from sklearn.base import is_classifier, is_regressor

    out: dict[str, float] = {}
    if X is None:
        return out
    score = getattr(estimator, "score", None)
    if callable(score):
        if y is not None:
            kw = {"sample_weight": sample_weight} if sample_weight is not None else {}
            _quiet(out, "training_score", lambda: score(X, y, **kw))
        else:
            _quiet(out, "training_score", lambda: score(X))
    if y is None:
        return out
    sw = sample_weight
    if is_classifier(estimator):
        try:
            pred = estimator.predict(X)
        except Exception:
            return out
        try:
            import numpy as np

            average = "binary" if len(np.unique(np.asarray(y))) == 2 else "weighted"
        except Exception:
            average = "weighted"
        _quiet(out, "training_accuracy_score", lambda: skm.accuracy_score(y, pred, sample_weight=sw))
        scorers: list[tuple[str, Callable[..., Any]]] = [
            ("precision", skm.precision_score),
            ("recall", skm.recall_score),
            ("f1", skm.f1_score),
        ]
        for key, fn in scorers:
            _quiet(
                out,
                f"training_{key}_score",
                functools.partial(fn, y, pred, average=average, sample_weight=sw, zero_division=0),
            )
        if callable(getattr(estimator, "predict_proba", None)):
            try:
                proba = estimator.predict_proba(X)
            except Exception:
                return out
            labels = getattr(estimator, "classes_", None)
            _quiet(out, "training_log_loss", lambda: skm.log_loss(y, proba, sample_weight=sw, labels=labels))
            if getattr(proba, "ndim", 0) == 2 and proba.shape[1] == 2:
                _quiet(out, "training_roc_auc", lambda: skm.roc_auc_score(y, proba[:, 1], sample_weight=sw))
            else:
                _quiet(
                    out,
                    "training_roc_auc",
                    lambda: skm.roc_auc_score(
                        y, proba, sample_weight=sw, average="weighted", multi_class="ovo", labels=labels
                    ),
                )
    elif is_regressor(estimator):
        try:
            pred = estimator.predict(X)
        except Exception:
            return out
        _quiet(out, "training_mean_squared_error", lambda: skm.mean_squared_error(y, pred, sample_weight=sw))
        if "training_mean_squared_error" in out:
            out["training_root_mean_squared_error"] = math.sqrt(out["training_mean_squared_error"])
        _quiet(out, "training_mean_absolute_error", lambda: skm.mean_absolute_error(y, pred, sample_weight=sw))
        _quiet(out, "training_r2_score", lambda: skm.r2_score(y, pred, sample_weight=sw))
    return out


# -- searches ---------------------------------------------------------------------------------


def _record_search(rec: common.Recorder, search: Any) -> None:
    best = getattr(search, "best_params_", None)
    if isinstance(best, dict):
        rec.attempt("best params", lambda: rec.log_params({f"best_{k}": v for k, v in best.items()}))
    if hasattr(search, "best_score_"):
        rec.attempt("best_cv_score", lambda: rec.log_metrics({"best_cv_score": float(search.best_score_)}))
    rec.attempt("cv_results.csv", lambda: _log_cv_results(rec, search.cv_results_))
    rec.attempt("child runs", lambda: _log_children(rec, search))


def _log_cv_results(rec: common.Recorder, results: dict[str, Any]) -> None:
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="modelyard-autolog-") as tmp:
        path = Path(tmp) / "cv_results.csv"
        pd.DataFrame(results).to_csv(path, index=False)
        rec.client.log_artifact(rec.run_id, path)


def _rank_key(search: Any, results: dict[str, Any]) -> str | None:
    refit = getattr(search, "refit", None)
    if isinstance(refit, str) and f"rank_test_{refit}" in results:
        return f"rank_test_{refit}"
    if "rank_test_score" in results:
        return "rank_test_score"
    return next((k for k in results if k.startswith("rank_test_")), None)


def best_candidates(search: Any, limit: int | None) -> list[int]:
    """Indices into ``cv_results_`` of the best candidates, best first: the chosen one, then by
    rank; for successive halving a candidate counts at the last iteration it reached."""
    results = search.cv_results_
    n = len(results["params"])
    rank_key = _rank_key(search, results)
    ranks = results[rank_key] if rank_key else list(range(n))
    iters = results.get("iter")
    best_index = getattr(search, "best_index_", None)

    def order(i: int) -> tuple[int, int, float]:
        return (0 if i == best_index else 1, -int(iters[i]) if iters is not None else 0, float(ranks[i]))

    chosen: list[int] = []
    seen: set[str] = set()
    for i in sorted(range(n), key=order):
        key = repr(sorted(results["params"][i].items(), key=lambda kv: kv[0]))
        if key in seen:
            continue
        seen.add(key)
        chosen.append(i)
        if limit is not None and len(chosen) >= limit:
            break
    return chosen


def _numbers(results: dict[str, Any], i: int) -> Iterable[tuple[str, float]]:
    for key, column in results.items():
        if key == "params" or key.startswith("param_"):
            continue
        try:
            value = float(column[i])
        except (TypeError, ValueError, IndexError):
            continue
        yield key, value


def _log_children(rec: common.Recorder, search: Any) -> None:
    limit = common.options.max_tuning_runs
    if limit is not None and limit <= 0:
        return
    results = search.cv_results_
    client = rec.client
    parent = client.get_run(rec.run_id)
    inner = getattr(search, "estimator", None)
    inner_name = type(inner).__name__ if inner is not None else type(search).__name__
    ts = now_millis()
    batch: list[tuple[Run, list[Metric]]] = []
    for position, i in enumerate(best_candidates(search, limit)):
        params = {k: common.param_text(v) for k, v in results["params"][i].items()}
        metrics = [Metric(k, v, 0, ts) for k, v in _numbers(results, i)]
        run = Run.model_construct(
            id=new_id(),
            project_id=parent.project_id,
            name=f"{inner_name}-candidate-{i}",
            status=RunStatus.FINISHED,
            start_time=ts,
            end_time=ts,
            parent_run_id=rec.run_id,
            lifecycle_stage=LifecycleStage.ACTIVE,
            notes=None,
            params=params,
            tags={
                "estimator_name": inner_name,
                TAG_CANDIDATE: str(i),
                TAG_POSITION: str(position + 1),
                TAG_PARENT_SEARCH: type(search).__name__,
            },
            metrics={},
            inputs=[],
        )
        batch.append((run, metrics))
    if batch:
        client.store.import_runs(batch)
