"""The monitoring SDK: ``modelyard.create_monitor()``, ``run_monitors()``, ``set_reference()``,
``alerts()``, ``silence()``, over the SDK session's stores (a local store or a modelyard server).

>>> modelyard.set_reference("churn", 3, train_df, target="churned")  # scored, profiled, estimator fitted
>>> modelyard.create_monitor("churn-mon", "churn-api", window="5m",
...     signals=["health", "quality", "drift"],
...     rules=[{"name": "drift", "signal": "drift.share_drifted", "threshold": 0.3,
...             "notifiers": [{"type": "webhook", "url": "https://hooks.example.org/x"}],
...             "actions": [{"type": "rollback"}]}])
>>> report = modelyard.run_monitors()                             # every due window, once
>>> modelyard.alerts(state="firing")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelyard.core.monitoring import Alert, AlertEvent, AlertRule, Monitor, ReferenceProfile, Silence, WindowResult
from modelyard.monitoring.service import MonitoringService, RunReport
from modelyard.sdk.models import current_user
from modelyard.sdk.session import _session

__all__ = [
    "alert_history",
    "alerts",
    "create_monitor",
    "monitor_results",
    "monitors",
    "run_monitors",
    "set_reference",
    "silence",
]


def service() -> MonitoringService:
    """The explicit API (``modelyard.monitoring.service.MonitoringService``) over the SDK's stores."""
    return _session.cached("monitoring", lambda: MonitoringService(_session.stores()))


def _window(window: str | int | Mapping[str, Any], by: str) -> Any:
    if isinstance(window, Mapping):
        return window
    if isinstance(window, str) and by == "time":
        from modelyard.auth.timeparse import parse_duration_ms

        return {"by": "time", "size": parse_duration_ms(window)}
    return {"by": by, "size": int(window)}


def create_monitor(
    name: str,
    deployment: str,
    *,
    window: str | int | Mapping[str, Any] = "5m",
    by: str = "time",
    signals: Sequence[str] = ("health",),
    rules: Sequence[AlertRule | Mapping[str, Any]] = (),
    reference: str | None = None,
    options: Mapping[str, Any] | None = None,
    start: int | None = None,
    label_horizon: str | int | None = None,
    actor: str | None = None,
) -> Monitor:
    """A monitor of ``deployment``: ``window`` is a duration ("5m"), a number of requests with
    ``by="count"``, or a full window spec (``{"kind": "sliding", "size": ..., "step": ...}``);
    ``reference`` is ``MODEL@VERSION`` (default: the version that served each window);
    ``label_horizon`` (a duration, "1d", or milliseconds): late labels re-evaluate the
    ``performance`` of windows that young."""
    from modelyard.auth.timeparse import parse_duration_ms

    horizon = (
        label_horizon if isinstance(label_horizon, int) or label_horizon is None else parse_duration_ms(label_horizon)
    )
    model = version = None
    if reference is not None:
        model_name, _, number = reference.rpartition("@")
        model, version = model_name, int(number)
    return service().create(
        name, deployment, window=_window(window, by), signals=signals, rules=rules, reference_model=model,
        reference_version=version, options=options, start=start, label_horizon_ms=horizon or 0,
        actor=actor or current_user(),
    )  # fmt: skip


def monitors(deployment: str | None = None) -> list[Monitor]:
    return service().list_monitors(deployment)


def run_monitors(names: Sequence[str] | None = None, *, limit: int = 100, notify: bool = True) -> RunReport:
    """Evaluate every due window of the monitors (each window once, whoever else runs them)."""
    return service().run(names, limit=limit, notify=notify)


def monitor_results(name: str, *, limit: int = 100) -> list[WindowResult]:
    return service().results(name, limit=limit)


def set_reference(
    model: str,
    version: int,
    data: Any,
    *,
    target: str | None = None,
    task: str | None = None,
    role: str = "training",
    actor: str | None = None,
) -> ReferenceProfile:
    """Register what ``model`` version ``version`` is judged against, in one call: a DataFrame is
    scored by the (hash-verified) version and profiled with its outputs as ``prediction``; with
    ``target`` the label-free estimator is fitted and stored too (the target is not profiled).
    A ``DatasetProfile`` or a fitted ``Estimator`` is stored as it is."""
    return service().set_reference(
        model, version, data, target=target, task=task, role=role, actor=actor or current_user()
    )


def alerts(*, monitor: str | None = None, state: str | None = None) -> list[Alert]:
    return service().alerts(monitor=monitor, state=state)


def alert_history(*, fingerprint: str | None = None, monitor: str | None = None, limit: int = 1000) -> list[AlertEvent]:
    return service().history(fingerprint=fingerprint, monitor=monitor, limit=limit)


def silence(
    matchers: Mapping[str, str], *, duration: str = "1h", comment: str | None = None, actor: str | None = None
) -> Silence:
    """Silence alerts matching ``matchers`` (monitor, rule, severity, signal) for ``duration``."""
    from modelyard.auth.timeparse import parse_duration_ms

    return service().silence(
        matchers, duration_ms=parse_duration_ms(duration), comment=comment, actor=actor or current_user()
    )
