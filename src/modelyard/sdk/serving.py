"""The deployment SDK: ``modelyard.deploy()``, ``rollback()``, ``deployment()``, ``predictions()``
and ``log_feedback()``, over the SDK session's stores (a local store or a modelyard server).

>>> modelyard.deploy("churn-api", ["stable=churn@production:90", "canary=churn@7:10"], reason="try v7")
>>> modelyard.rollback("churn-api", reason="canary errors")
>>> frame = modelyard.predictions("churn-api", start="24h")   # logged rows joined with feedback
>>> modelyard.log_feedback({"req-1": 1, "req-2": 0})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import NotFound
from modelyard.core.serving import Deployment, DeploymentEvent, Feedback, Slo
from modelyard.core.tracking import now_millis
from modelyard.sdk.models import _registry, current_user
from modelyard.sdk.session import _session
from modelyard.serving.deployments import DeploymentService, VariantRequest

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.serving.predictions import TimeLike

__all__ = ["deploy", "deployment", "deployment_history", "deployments", "log_feedback", "predictions", "rollback"]

Variants = Sequence[VariantRequest | Mapping[str, Any] | str]


def _build_service() -> DeploymentService:
    return DeploymentService(_session.stores().serving, _registry())


def service() -> DeploymentService:
    """The explicit API (``modelyard.serving.DeploymentService``) over the SDK's stores."""
    return _session.cached("deployments", _build_service)


def deploy(
    name: str,
    variants: Variants | str,
    *,
    sticky_key: str | None = None,
    slo: Slo | Mapping[str, Any] | None = None,
    auto_rollback: bool | None = None,
    description: str | None = None,
    reason: str | None = None,
    actor: str | None = None,
    log_retention_days: int | None = None,
) -> Deployment:
    """Create deployment ``name``, or change it (a new revision) when it exists.

    ``variants``: ``"churn@champion"`` for one variant, or a list of ``"NAME=MODEL@SELECTOR:PERCENT"``
    strings or mappings (``{"name": "canary", "model": "churn@7", "traffic": 10}``, ``"shadow": True``
    for a mirrored challenger). Percentages of the variants that are not shadows sum to 100.
    ``log_retention_days``: logged predictions older than that are deleted by the serving
    processes (0 removes the setting on a change; None leaves it as it is)."""
    items = [variants] if isinstance(variants, str) else list(variants)
    who = actor or current_user()
    svc = service()
    try:
        svc.get(name)
    except NotFound:
        return svc.create(
            name, items, actor=who, sticky_key=sticky_key, slo=slo, auto_rollback=bool(auto_rollback),
            description=description, reason=reason, log_retention_days=log_retention_days or None,
        )  # fmt: skip
    kwargs: dict[str, Any] = {}
    if sticky_key is not None:
        kwargs["sticky_key"] = sticky_key
    if slo is not None:
        kwargs["slo"] = slo
    if description is not None:
        kwargs["description"] = description
    if log_retention_days is not None:
        kwargs["log_retention_days"] = log_retention_days or None
    return svc.update(name, actor=who, variants=items, auto_rollback=auto_rollback, reason=reason, **kwargs)


def rollback(
    name: str, *, reason: str | None = None, to_revision: int | None = None, actor: str | None = None
) -> Deployment:
    """Restore the deployment's previous state (or ``to_revision``) as a new revision."""
    return service().rollback(name, actor=actor or current_user(), reason=reason, to_revision=to_revision)


def deployment(name: str) -> Deployment:
    return service().get(name)


def deployments() -> list[Deployment]:
    return service().list_deployments()


def deployment_history(name: str) -> list[DeploymentEvent]:
    return service().history(name)


def predictions(endpoint: str, start: TimeLike = None, end: TimeLike = None) -> pd.DataFrame:
    """The logged predictions of ``endpoint`` in ``[start, end)`` joined with their feedback
    (times: epoch ms, datetimes, ISO text, or a duration meaning that long ago, like ``"24h"``)."""
    from modelyard.serving.predictions import predictions as read

    return read(_session.stores(), endpoint, start, end)


def log_feedback(feedback: Mapping[str, Any] | Sequence[tuple[str, Any]]) -> int:
    """Ground truth by request id (``{request_id: value}``); every id must be a logged
    prediction's, else NotFound and nothing is recorded. Returns how many were recorded."""
    items = feedback.items() if isinstance(feedback, Mapping) else feedback
    now = now_millis()
    return _session.stores().serving.record_feedback([Feedback(request_id=r, value=v, at=now) for r, v in items])
