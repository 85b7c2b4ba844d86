"""Autologging: ``modelyard.autolog()``.

One switch for every integration: scikit-learn (``_autolog_sklearn``: every estimator's ``fit``,
``fit_transform``, ``fit_predict``; searches as a parent run with child runs) and, when they are
installed, XGBoost and LightGBM (``_autolog_boost``: ``train`` and the scikit-learn-API ``fit``).
The outermost training call logs; the inner fits a Pipeline, a search or an ensemble makes do
not. Without an active run, the call starts one and ends it after training. Logging never raises
into the training code: a failure becomes one ``AutologgingWarning`` (none with ``silent=True``).
"""

from __future__ import annotations

import threading

from modelyard.sdk import _autolog_common as common
from modelyard.sdk._autolog_common import AutologgingWarning

__all__ = ["AutologgingWarning", "autolog"]

_lock = threading.Lock()


def autolog(
    *,
    log_models: bool = True,
    disable: bool = False,
    max_tuning_runs: int | None = 5,
    silent: bool = False,
) -> None:
    """Record params, training metrics and the fitted model of every training call.

    ``log_models``: log the fitted model as the run's ``model`` package. ``max_tuning_runs``: how
    many of a search's best candidates become child runs (``None``: all, ``0``: none).
    ``silent``: no warnings from autologging. ``disable=True`` restores every patched method.
    Calling ``autolog`` again replaces the previous options.
    """
    import warnings

    from modelyard.sdk import _autolog_boost, _autolog_sklearn

    if max_tuning_runs is not None and (isinstance(max_tuning_runs, bool) or max_tuning_runs < 0):
        from modelyard.core.errors import InvalidArgument

        raise InvalidArgument(f"max_tuning_runs must be None or a non-negative integer, not {max_tuning_runs!r}")
    with _lock:
        common.unpatch_all()
        common.options = common.Options(log_models=log_models, max_tuning_runs=max_tuning_runs, silent=silent)
        if disable:
            return
        with warnings.catch_warnings():  # importing every estimator module may warn (deprecations)
            warnings.simplefilter("ignore")
            _autolog_sklearn.patch_sklearn()
            _autolog_boost.patch_boosters()
