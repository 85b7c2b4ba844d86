"""Autologging for scikit-learn: ``modelyard.autolog()``.

Every estimator class that defines ``fit`` gets a thin wrapper. The outermost ``fit`` call (not
the inner fits a Pipeline or a search makes) records the estimator's params, training metrics
computed on the data it was fitted on, and the fitted model as an artifact. Without an active
run, the wrapper starts one and ends it after ``fit``, as users of other trackers expect.
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any

from modelyard import _sdk

_state = threading.local()
_patched: dict[type, Any] = {}
_lock = threading.Lock()


def _training_metrics(estimator: Any, X: Any, y: Any) -> dict[str, float]:
    from sklearn import metrics as skm
    from sklearn.base import is_classifier, is_regressor

    if y is None:
        return {}
    out: dict[str, float] = {}
    try:
        if is_classifier(estimator):
            pred = estimator.predict(X)
            out["training_accuracy"] = float(skm.accuracy_score(y, pred))
            average = "binary" if len(set(list(y))) == 2 else "weighted"
            out["training_precision"] = float(skm.precision_score(y, pred, average=average, zero_division=0))
            out["training_recall"] = float(skm.recall_score(y, pred, average=average, zero_division=0))
            out["training_f1"] = float(skm.f1_score(y, pred, average=average, zero_division=0))
            if hasattr(estimator, "predict_proba"):
                proba = estimator.predict_proba(X)
                out["training_log_loss"] = float(skm.log_loss(y, proba, labels=estimator.classes_))
                if proba.shape[1] == 2:
                    out["training_roc_auc"] = float(skm.roc_auc_score(y, proba[:, 1]))
        elif is_regressor(estimator):
            pred = estimator.predict(X)
            mse = float(skm.mean_squared_error(y, pred))
            out["training_mse"] = mse
            out["training_rmse"] = math.sqrt(mse)
            out["training_mae"] = float(skm.mean_absolute_error(y, pred))
            out["training_r2"] = float(skm.r2_score(y, pred))
        else:
            score = getattr(estimator, "score", None)
            if score is not None:
                out["training_score"] = float(score(X, y))
    except Exception:  # a metric that does not apply to this estimator is skipped, never fatal
        pass
    return out


def _record(estimator: Any, X: Any, y: Any, log_models: bool) -> None:
    params = {}
    for key, value in estimator.get_params(deep=False).items():
        params[key] = value if isinstance(value, (int, float, str, bool, type(None))) else type(value).__name__
    _sdk.log_params(params)
    _sdk.set_tags({"estimator_name": type(estimator).__name__,
                   "estimator_class": f"{type(estimator).__module__}.{type(estimator).__qualname__}"})
    metrics = _training_metrics(estimator, X, y)
    if metrics:
        _sdk.log_metrics(metrics, step=0)
    if log_models:
        # A verified package (MLmodel.json with signature, pinned environment and file hashes)
        # under the run's "model/" artifacts, loadable with registry.packaging.load_directory.
        import tempfile
        from pathlib import Path

        from modelyard.core.errors import InvalidArgument
        from modelyard.registry.packaging import package_model
        from modelyard.registry.signature import infer_signature

        example: Any = None
        try:  # the first rows of the training input are the package's input example
            example = X.iloc[:5] if hasattr(X, "iloc") else X[:5]
            if example is not None:
                infer_signature(example)
        except (InvalidArgument, TypeError, IndexError, KeyError):  # sparse, ragged...: no example
            example = None
        client = _sdk._session.client()
        run_id = _sdk._session.current().id
        with tempfile.TemporaryDirectory(prefix="modelyard-autolog-") as tmp:
            package_model(estimator, Path(tmp) / "model", flavor="sklearn", input_example=example)
            client.log_artifacts(run_id, Path(tmp) / "model", "model")


def _wrap(cls: type, log_models: bool) -> None:
    original = cls.__dict__["fit"]

    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(_state, "depth", 0) > 0 or getattr(_state, "disabled", False):
            return original(self, *args, **kwargs)
        X = args[0] if args else kwargs.get("X")
        y = args[1] if len(args) > 1 else kwargs.get("y")
        _state.depth = 1
        started = _sdk.active_run() is None
        try:
            if started:
                _sdk.start_run(name=type(self).__name__)
            try:
                result = original(self, *args, **kwargs)
            except BaseException:
                if started:
                    _sdk.end_run("FAILED")
                raise
            _record(self, X, y, log_models)
            if started:
                _sdk.end_run()
            return result
        finally:
            _state.depth = 0

    fit.__modelyard_autolog__ = original  # type: ignore[attr-defined]
    _patched[cls] = original
    cls.fit = fit  # type: ignore[attr-defined]


def autolog(*, log_models: bool = True, disable: bool = False) -> None:
    """Record params, training metrics and the fitted model of every scikit-learn ``fit`` call."""
    from sklearn.utils import all_estimators

    with _lock:
        for cls, original in list(_patched.items()):
            cls.fit = original  # type: ignore[attr-defined]
        _patched.clear()
        if disable:
            return
        for _, cls in all_estimators():
            if "fit" in cls.__dict__ and not hasattr(cls.__dict__["fit"], "__modelyard_autolog__"):
                _wrap(cls, log_models)
