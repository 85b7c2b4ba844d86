"""Autologging for XGBoost and LightGBM (each only when installed).

Patched: ``xgboost.train`` and ``lightgbm.train`` (also under their defining modules
``xgboost.training`` and ``lightgbm.engine``), and ``fit`` of every scikit-learn-API class
(``XGBClassifier``, ``LGBMRegressor``...) on the class that defines it. The outermost call logs:

- params: the ``params`` dict and ``num_boost_round`` (``train``) or ``get_params()`` (``fit``);
- per-iteration evaluation metrics ``<dataset>-<metric>`` (``validation_0-logloss``,
  ``valid_0-binary_logloss``) with the iteration as the step, plus ``best_iteration`` and
  ``stopped_iteration`` (as steps: counted from 0) after early stopping;
- feature importance as JSON artifacts ``feature_importance_<type>.json``
  (XGBoost: weight, gain, cover; LightGBM: split, gain);
- the model through the ``xgboost`` or ``lightgbm`` flavor, as the run's ``model`` package.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any

from modelyard.sdk import _autolog_common as common

XGB_IMPORTANCE = ("weight", "gain", "cover")
LGB_IMPORTANCE = ("split", "gain")


def _module(name: str) -> Any | None:
    if importlib.util.find_spec(name) is None:
        return None
    try:
        return importlib.import_module(name)
    except Exception:  # a broken install is not autologged, and not an error either
        return None


def _classes(base: type) -> list[type]:
    out = [base]
    sub: type
    for sub in base.__subclasses__():
        out += [c for c in _classes(sub) if c not in out]
    return out


def patch_boosters() -> None:
    xgb = _module("xgboost")
    if xgb is not None:
        _patch_train(xgb, ("xgboost", "xgboost.training"), _xgb_train_record, _xgb_prepare, "xgboost.train")
        _patch_fits(xgb.sklearn.XGBModel, "xgboost", _xgb_fit_record)
    lgb = _module("lightgbm")
    if lgb is not None:
        _patch_train(lgb, ("lightgbm", "lightgbm.engine"), _lgb_train_record, _lgb_prepare, "lightgbm.train")
        _patch_fits(lgb.sklearn.LGBMModel, "lightgbm", _lgb_fit_record)


def _patch_fits(base: type, package: str, record: Callable[..., None]) -> None:
    for cls in _classes(base):
        if cls.__module__.startswith(package) and inspect.isfunction(cls.__dict__.get("fit")):
            common.patch(cls, "fit", common.wrap_method(cls.__dict__["fit"], lambda est: type(est).__name__, record))


def _patch_train(
    package: Any,
    modules: tuple[str, ...],
    record: Callable[[common.Recorder, inspect.BoundArguments, dict[str, Any], Any], None],
    prepare: Callable[[inspect.BoundArguments, dict[str, Any]], None],
    run_name: str,
) -> None:
    original = package.train
    signature = inspect.signature(original)

    @functools.wraps(original)
    def train(*args: Any, **kwargs: Any) -> Any:
        state: dict[str, Any] = {}
        try:
            bound = signature.bind(*args, **kwargs)
            prepare(bound, state)  # ask the library to collect the evaluation history
            call_args, call_kwargs = bound.args, bound.kwargs
        except Exception:  # arguments the library itself will reject: let it say so
            return original(*args, **kwargs)
        return common.call_logged(
            run_name,
            lambda: original(*call_args, **call_kwargs),
            lambda rec, booster: record(rec, bound, state, booster),
        )

    for name in modules:
        module = importlib.import_module(name)
        if getattr(module, "train", None) is original:
            common.patch(module, "train", train)


# -- shared -------------------------------------------------------------------------------------


def _simple(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


def _log_history(rec: common.Recorder, history: Mapping[str, Mapping[str, Any]] | None) -> None:
    """``{dataset: {metric: [value per iteration]}}`` as ``dataset-metric`` points, step = iteration."""
    if not history:
        return
    ts = time.time_ns() // 1_000_000
    points: list[tuple[str, float, int, int]] = []
    for data_name, metrics in history.items():
        for metric_name, values in metrics.items():
            for step, value in enumerate(values):
                number = value[0] if isinstance(value, (tuple, list)) else value  # cv: (mean, std)
                points.append((f"{data_name}-{metric_name}", float(number), step, ts))
    if points:
        rec.client.log_batch(rec.run_id, metrics=points)


def _log_stopping(rec: common.Recorder, best: Any, history: Mapping[str, Mapping[str, Any]] | None) -> None:
    if not isinstance(best, int) or isinstance(best, bool) or best < 0 or not history:
        return
    n = max((len(v) for metrics in history.values() for v in metrics.values()), default=0)
    rec.log_metrics({"best_iteration": best, "stopped_iteration": max(n - 1, 0)})


def _common_record(
    rec: common.Recorder,
    params: Mapping[str, Any],
    history: Any,
    best: Any,
    importance: Callable[[], dict[str, Any]],
    model: Any,
    flavor: str,
    X: Any = None,
) -> None:
    rec.attempt("params", lambda: rec.log_params(params))
    rec.attempt("evaluation metrics", lambda: _log_history(rec, history))
    rec.attempt("early stopping", lambda: _log_stopping(rec, best, history))

    def log_importance() -> None:
        for kind, scores in importance().items():
            rec.log_json(scores, f"feature_importance_{kind}.json")

    rec.attempt("feature importance", log_importance)
    if common.options.log_models:
        rec.attempt("model", lambda: rec.log_model(model, flavor, X))


# -- XGBoost ------------------------------------------------------------------------------------


def _xgb_prepare(bound: inspect.BoundArguments, state: dict[str, Any]) -> None:
    if bound.arguments.get("evals_result") is None:
        bound.arguments["evals_result"] = {}
    state["history"] = bound.arguments["evals_result"]


def _xgb_importance(booster: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in XGB_IMPORTANCE:
        try:
            out[kind] = {str(k): float(v) for k, v in booster.get_score(importance_type=kind).items()}
        except Exception:
            continue
    return out


def _xgb_best(booster: Any) -> Any:
    try:
        return int(booster.attr("best_iteration")) if booster.attr("best_iteration") is not None else None
    except Exception:
        return None


def _xgb_train_record(rec: common.Recorder, bound: inspect.BoundArguments, state: dict[str, Any], booster: Any) -> None:
    args = bound.arguments
    params = dict(args.get("params") or {})
    params["num_boost_round"] = args.get("num_boost_round", 10)
    for key in ("maximize", "early_stopping_rounds"):
        if args.get(key) is not None:
            params[key] = args[key]
    _common_record(
        rec, params, state.get("history"), _xgb_best(booster), lambda: _xgb_importance(booster), booster, "xgboost"
    )


def _xgb_fit_record(rec: common.Recorder, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], _: Any) -> None:
    X = args[0] if args else kwargs.get("X")
    try:
        history = model.evals_result()
    except Exception:  # trained without an eval_set
        history = {}
    params = {k: v if _simple(v) else common.param_text(v) for k, v in model.get_params().items()}
    best = getattr(model, "best_iteration", None) if history else None
    _common_record(rec, params, history, best, lambda: _xgb_importance(model.get_booster()), model, "xgboost", X)


# -- LightGBM -----------------------------------------------------------------------------------


def _lgb_prepare(bound: inspect.BoundArguments, state: dict[str, Any]) -> None:
    import lightgbm

    history: dict[str, Any] = {}
    bound.arguments["callbacks"] = [*(bound.arguments.get("callbacks") or []), lightgbm.record_evaluation(history)]
    state["history"] = history


def _lgb_importance(booster: Any) -> dict[str, Any]:
    names = [str(n) for n in booster.feature_name()]
    out: dict[str, Any] = {}
    for kind in LGB_IMPORTANCE:
        try:
            values = booster.feature_importance(importance_type=kind)
            out[kind] = {name: float(v) for name, v in zip(names, values, strict=False)}
        except Exception:
            continue
    return out


def _lgb_best(booster: Any) -> Any:
    """LightGBM counts iterations from 1 (0: no early stopping); the metrics' steps count from 0."""
    best = getattr(booster, "best_iteration", 0)
    return best - 1 if isinstance(best, int) and best > 0 else None


def _lgb_train_record(rec: common.Recorder, bound: inspect.BoundArguments, state: dict[str, Any], booster: Any) -> None:
    args = bound.arguments
    params = dict(args.get("params") or {})
    params.setdefault("num_boost_round", args.get("num_boost_round", 100))
    _common_record(
        rec, params, state.get("history"), _lgb_best(booster), lambda: _lgb_importance(booster), booster, "lightgbm"
    )


def _lgb_fit_record(rec: common.Recorder, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], _: Any) -> None:
    X = args[0] if args else kwargs.get("X")
    history = dict(getattr(model, "evals_result_", None) or {})
    params = {k: v if _simple(v) else common.param_text(v) for k, v in model.get_params().items()}
    booster = model.booster_
    _common_record(rec, params, history, _lgb_best(booster), lambda: _lgb_importance(booster), model, "lightgbm", X)
