"""Alert rules over window results: firing and resolving, deduplication, history, silences,
notifications and actions.

After each evaluated window, every rule of the monitor is judged on the newest windows *with
traffic* (status "ok"; empty windows neither fire nor resolve an alert): it *holds* when its
signal compares true with its threshold in each of the last ``for_windows`` of them.

* A rule that holds and has no firing alert **fires**: the alert of its fingerprint (monitor,
  rule) becomes "firing" (``first_seen`` now), a "firing" event is appended, the rule's notifiers
  are called and its actions run.
* A rule that holds while its alert fires only updates the alert (``last_seen``, value): one
  alert, no repeated notifications (deduplication).
* A rule that no longer holds on the newest window with traffic **resolves** its firing alert
  ("resolved" event, notifiers called with status "resolved", gate actions reopen the gate).
* An alert last judged on a newer window than the newest of these results is left alone: several
  evaluators (replicas) evaluate neighbouring windows at once, and one that read the results
  before another stored a newer window would otherwise resolve, then re-fire, its alert (a flap).

Silences: an alert that matches an active silence is recorded (and acts) but does not notify;
a "silenced" event says so. Notifications go through ``monitoring.notifiers`` (``from_config``,
``deliver`` with retries and backoff); a notifier that fails or is unavailable never stops the
evaluation: its failure is a "notify_failed" event on the alert.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from modelyard.core.errors import Conflict, NotFound
from modelyard.core.monitoring import Alert, AlertEvent, AlertRule, Monitor, WindowResult, compare, fingerprint
from modelyard.monitoring.signals import lookup
from modelyard.store.monitoring import MonitoringStore

__all__ = ["Transition", "deliver_notifications", "evaluate_rules", "rule_holds"]

logger = logging.getLogger("modelyard.monitoring.alerts")

#: What an action runner is called with: the alert, the rule, "firing" or "resolved", the window.
ActionRunner = Callable[[Alert, AlertRule, str, WindowResult], list[AlertEvent]]


@dataclass
class Transition:
    """An alert that fired or resolved on one window, with the events recorded for it."""

    alert: Alert
    status: str  # firing | resolved
    events: list[AlertEvent] = field(default_factory=list)


def rule_holds(rule: AlertRule, results: Sequence[WindowResult]) -> tuple[bool | None, float | None]:
    """Whether ``rule`` holds on ``results`` (newest first; only those with traffic count), and
    the newest value. None when the newest window with traffic has no value for the signal."""
    with_traffic = [r for r in results if r.status == "ok"]
    if not with_traffic:
        return None, None
    newest = lookup(with_traffic[0].values, rule.signal)
    if newest is None:
        return None, None
    if len(with_traffic) < rule.for_windows:
        return False, newest
    for result in with_traffic[: rule.for_windows]:
        value = lookup(result.values, rule.signal)
        if value is None or not compare(value, rule.comparator, rule.threshold):
            return False, newest
    return True, newest


def _message(alert: Alert, rule: AlertRule, status: str) -> str:
    value = "n/a" if alert.value is None else f"{alert.value:.6g}"
    if status == "resolved":
        rule_text = f"{rule.comparator} {rule.threshold:g}"
        return f"[resolved] {alert.monitor}/{rule.name}: {rule.signal} = {value} (rule {rule_text})"
    return (
        f"[{rule.severity}] {alert.monitor}/{rule.name}: {rule.signal} = {value} {rule.comparator} {rule.threshold:g}"
        f" for {rule.for_windows} window(s)"
    )


def deliver_notifications(
    alert: Alert, rule: AlertRule, status: str, *, at: int, labels: dict[str, str] | None = None
) -> list[AlertEvent]:
    """Send the alert to each of the rule's notifiers, concurrently; one event per notifier
    ("notified" or "notify_failed" with the error). Never raises."""
    if not rule.notifiers:
        return []
    from modelyard.monitoring import notifiers

    notification = notifiers.Notification(
        monitor=alert.monitor, rule=alert.rule, status=status, severity=alert.severity, signal=alert.signal,
        value=alert.value, threshold=alert.threshold, window_start_ms=alert.window_start,
        window_end_ms=alert.window_end, message=_message(alert, rule, status), labels=dict(labels or {}),
        fingerprint=alert.fingerprint,
    )  # fmt: skip

    def send(config: dict[str, Any]) -> AlertEvent:
        kind = str(config.get("type"))
        try:
            delivery = notifiers.deliver(notifiers.from_config(config), notification)
        except Exception as exc:  # a broken notifier configuration must not stop monitoring
            return _event(alert, "notify_failed", at, {"notifier": kind, "error": str(exc)[:500]})
        detail = {"notifier": kind, "attempts": delivery.attempts}
        if delivery.ok:
            return _event(alert, "notified", at, detail)
        return _event(alert, "notify_failed", at, {**detail, "error": str(delivery.error)[:500]})

    with ThreadPoolExecutor(max_workers=min(8, len(rule.notifiers))) as pool:
        return list(pool.map(send, rule.notifiers))


def _event(alert: Alert, kind: str, at: int, detail: dict[str, Any] | None = None) -> AlertEvent:
    return AlertEvent(
        fingerprint=alert.fingerprint, monitor=alert.monitor, rule=alert.rule, kind=kind,  # type: ignore[arg-type]
        at=at, value=alert.value, detail=detail or {},
    )  # fmt: skip


def evaluate_rules(
    store: MonitoringStore,
    monitor: Monitor,
    results: Sequence[WindowResult],
    *,
    now: int,
    act: ActionRunner | None = None,
    notify: bool = True,
) -> list[Transition]:
    """Judge every rule of ``monitor`` on ``results`` (its newest window results, newest first)
    and record what changed (see the module docstring). Returns the alerts that fired or resolved."""
    if not results:
        return []
    newest = results[0]
    silences = store.list_silences(active_at=now)
    transitions: list[Transition] = []
    for rule in monitor.spec.rules:
        holds, value = rule_holds(rule, results)
        if holds is None:
            continue
        fp = fingerprint(monitor.name, rule.name)
        try:
            current: Alert | None = store.get_alert(fp)
        except NotFound:
            current = None
        if current is not None and current.window_start > newest.window_start:
            continue  # judged on a newer window already (another evaluator's): these results are stale
        firing = current is not None and current.state == "firing"
        if holds and firing:
            assert current is not None
            updated = current.model_copy(update={"last_seen": now, "value": value,
                                                  "window_start": newest.window_start,
                                                  "window_end": newest.window_end})  # fmt: skip
            with contextlib.suppress(Conflict):  # resolved meanwhile by another evaluator
                store.save_alert(updated, expected_state="firing")
            continue
        if not holds and not firing:
            continue
        status = "firing" if holds else "resolved"
        base: dict[str, Any] = dict(
            fingerprint=fp, monitor=monitor.name, rule=rule.name, signal=rule.signal, severity=rule.severity,
            value=value, threshold=rule.threshold, window_start=newest.window_start, window_end=newest.window_end,
        )  # fmt: skip
        if holds:
            alert = Alert.model_validate({**base, "state": "firing", "first_seen": now, "last_seen": now})
        else:
            assert current is not None
            alert = current.model_copy(update={**base, "state": "resolved", "last_seen": now, "resolved_at": now})
        silenced = any(s.matches(alert, now) for s in silences)
        alert = alert.model_copy(update={"silenced": silenced})
        events = [_event(alert, status, now, {"window": [newest.window_start, newest.window_end]})]
        expected = "firing" if firing else ("absent" if current is None else "resolved")
        try:
            events = store.save_alert(alert, events, expected_state=expected)
        except Conflict:  # another evaluator recorded this transition first: it notifies and acts
            continue
        transition = Transition(alert, status, list(events))
        more: list[AlertEvent] = []
        if act is not None and rule.actions:
            try:
                more.extend(act(alert, rule, status, newest))
            except Exception as exc:  # an action that fails is recorded, never fatal
                logger.exception("alert action failed")
                more.append(_event(alert, "action_failed", now, {"error": str(exc)[:500]}))
        if silenced:
            more.append(_event(alert, "silenced", now, {"notifiers": len(rule.notifiers)}))
        elif notify:
            more.extend(deliver_notifications(alert, rule, status, at=now, labels={"deployment": monitor.deployment}))
        if more:
            transition.events.extend(store.add_alert_events(more))
        transitions.append(transition)
    return transitions
