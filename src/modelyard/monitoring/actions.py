"""What a firing alert does besides notifying: roll the deployment back, close a gate.

**Rollback** goes through serving's ``DeploymentService.rollback`` (the same path as
``modelyard deploy rollback`` and the SLO watcher): the previous state of the deployment is
restored as a new "rollback" revision, pinned to the versions it served, by actor
``system:monitor``, with the alert as its reason. It is compare-and-set on the revision the
window was judged under: if someone changed the deployment meanwhile nothing is rolled back over
their change (the alert records why). Resolving an alert rolls nothing forward.

``AlertRollbackRule`` offers the same decision through serving's ``RollbackRule`` interface, for
``serving.rollback.AutoRollback`` watchers: a deployment is rolled back while a monitor of it has
a firing alert whose rule has a rollback action and fired after the deployment's last change.

**Gate**: a gate is closed while an alert whose rule has a gate action fires, and open otherwise.
It is read by ``modelyard monitor gate DEPLOYMENT`` (and ``GET /api/v1/alerts?state=firing``),
which exits 1 while closed — the step a CI pipeline runs before promoting or deploying a model.
Closing and reopening are recorded as "action" events of the alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import Conflict, ModelyardError, NotFound
from modelyard.core.monitoring import Alert, AlertEvent, AlertRule, WindowResult
from modelyard.core.serving import Deployment
from modelyard.serving.rollback import RollbackDecision, RollbackRule, WindowStats

if TYPE_CHECKING:
    from modelyard.serving.deployments import DeploymentService
    from modelyard.store.monitoring import MonitoringStore

__all__ = ["MONITOR_ACTOR", "ActionRunner", "AlertRollbackRule", "closed_gates"]

#: The actor of the changes monitoring makes by itself.
MONITOR_ACTOR = "system:monitor"


def _event(alert: Alert, kind: str, at: int, detail: dict[str, Any]) -> AlertEvent:
    return AlertEvent(
        fingerprint=alert.fingerprint, monitor=alert.monitor, rule=alert.rule, kind=kind,  # type: ignore[arg-type]
        at=at, value=alert.value, detail=detail,
    )  # fmt: skip


class ActionRunner:
    """Runs a rule's actions for one monitor's deployment; ``revision`` is the deployment revision
    the window was judged under (the compare-and-set guard of a rollback)."""

    def __init__(self, deployments: DeploymentService, deployment: str, revision: int | None, *, now: int) -> None:
        self.deployments = deployments
        self.deployment = deployment
        self.revision = revision
        self.now = now

    def __call__(self, alert: Alert, rule: AlertRule, status: str, window: WindowResult) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        for action in rule.actions:
            if action.type == "gate":
                state = "closed" if status == "firing" else "open"
                events.append(_event(alert, "action", self.now, {"action": "gate", "gate": state,
                                                                  "deployment": self.deployment}))  # fmt: skip
            elif action.type == "rollback" and status == "firing":
                events.append(self._rollback(alert, rule))
        return events

    def _rollback(self, alert: Alert, rule: AlertRule) -> AlertEvent:
        value = "n/a" if alert.value is None else f"{alert.value:.6g}"
        reason = (
            f"monitor {alert.monitor}: alert {rule.name} fired ({rule.signal} = {value} {rule.comparator} "
            f"{rule.threshold:g} for {rule.for_windows} window(s))"
        )
        try:
            restored = self.deployments.rollback(
                self.deployment, actor=MONITOR_ACTOR, reason=reason, expected_revision=self.revision
            )
        except (Conflict, NotFound) as exc:  # changed meanwhile, nothing to restore, or gone
            return _event(alert, "action_failed", self.now, {"action": "rollback", "deployment": self.deployment,
                                                             "error": str(exc)[:500]})  # fmt: skip
        return _event(alert, "action", self.now, {
            "action": "rollback", "deployment": self.deployment, "revision": restored.revision,
            "restored_from": self.revision,
        })  # fmt: skip


def closed_gates(store: MonitoringStore, deployment: str | None = None) -> list[Alert]:
    """The firing alerts that hold a gate closed (of monitors of ``deployment`` when given)."""
    monitors = {m.name: m for m in store.list_monitors(deployment)}
    closed: list[Alert] = []
    for alert in store.list_alerts(state="firing"):
        monitor = monitors.get(alert.monitor)
        if monitor is None:
            continue
        rule = next((r for r in monitor.spec.rules if r.name == alert.rule), None)
        if rule is not None and any(a.type == "gate" for a in rule.actions):
            closed.append(alert)
    return closed


class AlertRollbackRule(RollbackRule):
    """Serving's ``RollbackRule`` over monitoring alerts (see the module docstring)."""

    name = "monitoring"

    def __init__(self, store: MonitoringStore) -> None:
        self.store = store

    def evaluate(self, deployment: Deployment, windows: Mapping[str, WindowStats]) -> RollbackDecision:
        try:
            monitors = {m.name: m for m in self.store.list_monitors(deployment.name)}
            firing = self.store.list_alerts(state="firing")
        except ModelyardError as exc:
            return RollbackDecision.keep(f"monitoring unavailable: {exc}")
        for alert in firing:
            monitor = monitors.get(alert.monitor)
            if monitor is None or alert.first_seen < deployment.updated_at:
                continue
            rule = next((r for r in monitor.spec.rules if r.name == alert.rule), None)
            if rule is not None and any(a.type == "rollback" for a in rule.actions):
                return RollbackDecision(True, f"monitor {alert.monitor}: alert {alert.rule} is firing")
        return RollbackDecision.keep("no firing monitoring alert asks for a rollback")
