"""Entities of the monitoring room: monitors over a deployment's prediction log, their alert
rules, the alerts they raise with their history, silences, the result of every evaluated window,
and the reference profiles registered per model version.

A *monitor* watches one deployment (its endpoint's prediction log) through *windows*: tumbling
(back to back) or sliding (overlapping, every ``step``), measured in time (milliseconds) or in
requests (rows of the log). Each window is evaluated once — replicas claim it through the store —
into a *window result*: the value of every signal the monitor computes (service health, data
quality, drift against the reference, realized and estimated performance) as JSON.

*Alert rules* compare one signal (``health.error_rate``, ``drift.share_drifted``,
``quality.out_of_range_share``, ``performance.accuracy``...) with a threshold; a rule that holds
for ``for_windows`` consecutive windows with traffic *fires*. An *alert* is identified by its
*fingerprint* (monitor, rule), so a rule that keeps firing updates one alert (deduplication)
instead of raising new ones; it *resolves* at the first window with traffic where the rule no
longer holds. Every transition, notification, failed notification and action is an
*alert event* (the history). A *silence* (matchers on monitor, rule, severity; a time range)
keeps alerts from notifying while it is active; they are still recorded.

A *reference profile* is the data a model version is judged against: stored once per version and
role ("training", "evaluation", "outputs") as a blob in the artifact store, with a small summary
(columns, kinds, ranges, categories: the validation suite the quality checks run) kept here.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, StrictBool, StrictFloat, field_validator, model_validator

from modelyard.core.base import Entity
from modelyard.core.errors import InvalidArgument
from modelyard.core.serving import DEPLOYMENT_NAME_PATTERN, validate_deployment_name
from modelyard.core.validation import DIGEST_PATTERN, ENTITY_NAME_PATTERN, NO_NEWLINE, validate_entity_name

__all__ = [
    "ACTION_TYPES",
    "ALERT_EVENT_KINDS",
    "COMPARATORS",
    "MONITOR_NAME_PATTERN",
    "RULE_NAME_PATTERN",
    "SEVERITIES",
    "SIGNAL_GROUPS",
    "SIGNAL_PATTERN",
    "Alert",
    "AlertAction",
    "AlertEvent",
    "AlertRule",
    "Monitor",
    "MonitorSpec",
    "ReferenceProfile",
    "Silence",
    "WindowClaim",
    "WindowResult",
    "WindowSpec",
    "compare",
    "fingerprint",
    "json_text",
    "validate_monitor_name",
]

MONITOR_NAME_PATTERN = DEPLOYMENT_NAME_PATTERN
RULE_NAME_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"
#: ``group.name`` or ``group.name.part``: health.error_rate, drift.share_drifted, drift.column.age,
#: quality.out_of_range_share, performance.accuracy, estimated.accuracy.
SIGNAL_PATTERN = r"^(health|quality|drift|performance|estimated)(\.[A-Za-z0-9_\-:]{1,128}){1,3}$"
SIGNAL_GROUPS: tuple[str, ...] = ("health", "quality", "drift", "performance", "estimated")
COMPARATORS: tuple[str, ...] = (">", ">=", "<", "<=", "==", "!=")
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")
ACTION_TYPES: tuple[str, ...] = ("rollback", "gate")
ALERT_EVENT_KINDS: tuple[str, ...] = (
    "firing",
    "updated",
    "resolved",
    "notified",
    "notify_failed",
    "silenced",
    "action",
    "action_failed",
)
ROLES: tuple[str, ...] = ("training", "evaluation", "outputs", "estimator")

Comparator = Literal[">", ">=", "<", "<=", "==", "!="]
Severity = Literal["info", "warning", "critical"]
SignalGroup = Literal["health", "quality", "drift", "performance", "estimated"]


def validate_monitor_name(name: object) -> str:
    """A monitor name is one URL segment, like a deployment name."""
    text = validate_entity_name(name, "monitor name")
    if any(ch in text for ch in "/@?#%"):
        raise InvalidArgument(f"invalid monitor name {text!r}: '/', '@', '?', '#' and '%' are not allowed")
    return text


def compare(value: float, comparator: str, threshold: float) -> bool:
    """Whether ``value comparator threshold`` holds (a NaN value never does)."""
    if math.isnan(value):
        return False
    if comparator == ">":
        return value > threshold
    if comparator == ">=":
        return value >= threshold
    if comparator == "<":
        return value < threshold
    if comparator == "<=":
        return value <= threshold
    if comparator == "==":
        return value == threshold
    if comparator == "!=":
        return value != threshold
    raise InvalidArgument(f"unknown comparator {comparator!r} (one of {', '.join(COMPARATORS)})")


def json_text(value: Any, what: str) -> str:
    """``value`` as compact JSON; InvalidArgument for what JSON cannot hold (NaN, infinity),
    which every store refuses the same way."""
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{what} must be JSON values (no NaN or infinity): {exc}") from None


def fingerprint(monitor: str, rule: str) -> str:
    """The identity of the alert a rule of a monitor raises: the same rule firing again updates
    the same alert."""
    return hashlib.sha256(f"{monitor}\x00{rule}".encode()).hexdigest()[:32]


class _Entity(Entity):
    """Entities whose field patterns use Python's regex engine (look-aheads), as the wire does."""

    model_config = ConfigDict(frozen=True, extra="forbid", regex_engine="python-re")


def _json_integer(value: Any) -> Any:
    """What JSON Schema calls an integer (``3`` or ``3.0``), never ``"3"`` nor ``true``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected an integer")
    return value


#: A JSON integer (no coercion from text or booleans).
_JSON_INTEGER = BeforeValidator(_json_integer)


_MAX = 2**53 - 1
# JSON integers in bounds (the bounds before the validator, so the schema keeps them).
#: Times (epoch ms), row offsets and counts: JSON integers every client holds exactly.
Time = Annotated[int, Field(ge=0, le=_MAX), _JSON_INTEGER]
Positive = Annotated[int, Field(ge=1, le=_MAX), _JSON_INTEGER]
DelayMs = Annotated[int, Field(ge=0, le=86_400_000), _JSON_INTEGER]
WindowCount = Annotated[int, Field(ge=1, le=1000), _JSON_INTEGER]
LabelHorizon = Annotated[int, Field(ge=0, le=366 * 86_400_000), _JSON_INTEGER]
VersionNumber = Annotated[int, Field(ge=1, le=2**31 - 1), _JSON_INTEGER]
Actor = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
ModelName = Annotated[str, Field(min_length=1, max_length=256, pattern=ENTITY_NAME_PATTERN)]
Fingerprint = Annotated[str, Field(pattern=r"^[0-9a-f]{1,64}$")]
Name = Annotated[str, Field(min_length=1, max_length=256, pattern=MONITOR_NAME_PATTERN)]
RuleName = Annotated[str, Field(pattern=RULE_NAME_PATTERN)]


class WindowSpec(_Entity):
    """How a monitor cuts the log into windows.

    ``by="time"``: ``size`` and ``step`` are milliseconds; windows start at multiples of
    ``step`` (aligned on the epoch) and a window is due once its end is ``delay_ms`` in the past
    (the logger writes in batches). ``by="count"``: ``size`` and ``step`` are requests (rows of
    the log, in time order); a window is due once the log holds its last row. Tumbling windows
    have ``step == size`` (given or not); sliding windows a ``step`` smaller than ``size``."""

    kind: Literal["tumbling", "sliding"] = "tumbling"
    by: Literal["time", "count"] = "time"
    size: Positive
    step: Positive | None = None
    delay_ms: DelayMs = 5_000

    @model_validator(mode="after")
    def _rules(self) -> WindowSpec:
        if self.kind == "tumbling" and self.step is not None and self.step != self.size:
            raise ValueError("a tumbling window's step is its size (leave step out)")
        if self.kind == "sliding" and (self.step is None or self.step >= self.size):
            raise ValueError("a sliding window needs a step smaller than its size")
        return self

    @property
    def stride(self) -> int:
        return self.size if self.step is None else self.step


class AlertAction(_Entity):
    """What a firing alert does besides notifying. ``rollback``: roll the monitored deployment
    back to its previous revision (``DeploymentService.rollback``, compare-and-set on the revision
    the window was judged on). ``gate``: set the registry tag ``gate`` of the monitored version to
    ``closed`` while the alert fires and ``open`` when it resolves (what a CI gate reads)."""

    type: Literal["rollback", "gate"]
    tag: str = Field(default="monitoring.gate", min_length=1, max_length=250, pattern=r"^[A-Za-z0-9_.\-]+$")


class AlertRule(_Entity):
    """``signal comparator threshold`` for ``for_windows`` consecutive windows with traffic."""

    name: str = Field(pattern=RULE_NAME_PATTERN)
    signal: str = Field(pattern=SIGNAL_PATTERN)
    comparator: Comparator = ">"
    threshold: StrictFloat
    for_windows: WindowCount = 1
    severity: Severity = "warning"
    #: Notifier configurations, e.g. ``{"type": "webhook", "url": ...}`` (monitoring/notifiers).
    notifiers: tuple[dict[str, Any], ...] = Field(default=(), max_length=16)
    actions: tuple[AlertAction, ...] = Field(default=(), max_length=4)

    @field_validator("threshold")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("a threshold is a finite number")
        return value

    @field_validator("notifiers")
    @classmethod
    def _notifiers(cls, value: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        for item in value:
            if not isinstance(item.get("type"), str):
                raise ValueError("a notifier is a mapping with a 'type' (webhook, slack, email)")
        return value


class MonitorSpec(_Entity):
    """What a monitor computes: its windows, its signals, its reference and its rules."""

    window: WindowSpec
    signals: tuple[SignalGroup, ...] = Field(default=("health",), min_length=1, max_length=5)
    #: The model whose reference profile drift and quality are judged against; None: the model of
    #: the deployment's first variant that takes traffic, at the version it serves in the window.
    reference_model: ModelName | None = None
    reference_version: VersionNumber | None = None
    reference_role: Literal["training", "evaluation", "outputs"] = "training"
    #: Options per signal group, e.g. ``{"performance": {"task": "classification"}}``.
    options: dict[str, Any] = Field(default_factory=dict)
    rules: tuple[AlertRule, ...] = Field(default=(), max_length=64)
    #: Windows before this time (or, by count, this row) are not evaluated.
    start: Time = 0
    enabled: StrictBool = True
    #: Late labels: how long after a window's last request its feedback is still awaited. While a
    #: window with unlabelled rows is that young, each run re-reads it and, when labels arrived
    #: since it was evaluated, re-evaluates its ``performance`` under a revision lease. 0: never.
    label_horizon_ms: LabelHorizon = 0

    @model_validator(mode="after")
    def _rules(self) -> MonitorSpec:
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names must be distinct, got {names}")
        if len(set(self.signals)) != len(self.signals):
            raise ValueError("each signal group is listed once")
        for rule in self.rules:
            group = rule.signal.split(".", 1)[0]
            if group not in self.signals:
                raise ValueError(f"rule {rule.name!r} watches {rule.signal!r} but the monitor does not compute {group}")
        if self.reference_model is not None:
            validate_entity_name(self.reference_model, "model name")
        if self.label_horizon_ms and "performance" not in self.signals:
            raise ValueError("a label horizon re-evaluates the performance signal, which the monitor does not compute")
        return self


class Monitor(_Entity):
    name: Name
    deployment: Name
    spec: MonitorSpec
    created_at: Time
    created_by: Actor
    updated_at: Time
    updated_by: Actor

    @field_validator("deployment")
    @classmethod
    def _deployment(cls, value: str) -> str:
        return validate_deployment_name(value)


class WindowClaim(_Entity):
    """One window of one monitor taken by one evaluator: ``done`` once its result is stored; an
    unfinished claim whose lease expired may be taken over."""

    monitor: Name
    window_start: Time
    window_end: Time
    owner: Actor
    claimed_at: Time
    expires_at: Time
    done: StrictBool = False


class WindowResult(_Entity):
    """The signals of one evaluated window. ``window_start``/``window_end`` are milliseconds
    (time windows) or row offsets (count windows); ``first_ms``/``last_ms`` the times of its
    first and last request. ``status`` is "ok", "no_traffic" (an empty window: nothing to judge)
    or "error" (evaluation failed; ``notes`` says why)."""

    monitor: Name
    window_start: Time
    window_end: Time
    status: Literal["ok", "no_traffic", "error"]
    rows: Time
    first_ms: Time | None = None
    last_ms: Time | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    notes: tuple[str, ...] = ()
    evaluated_at: Time
    evaluated_by: Actor


class Alert(_Entity):
    """The current state of the alert of one (monitor, rule)."""

    fingerprint: Fingerprint
    monitor: Name
    rule: RuleName
    signal: str = Field(pattern=SIGNAL_PATTERN)
    severity: Severity
    state: Literal["firing", "resolved"]
    value: StrictFloat | None = None
    threshold: StrictFloat
    first_seen: Time
    last_seen: Time
    resolved_at: Time | None = None
    window_start: Time
    window_end: Time
    silenced: StrictBool = False


class AlertEvent(_Entity):
    """One entry of an alert's history; ``seq`` orders them."""

    seq: Time = 0
    fingerprint: Fingerprint
    monitor: Name
    rule: RuleName
    kind: Literal["firing", "updated", "resolved", "notified", "notify_failed", "silenced", "action", "action_failed"]
    at: Time
    value: StrictFloat | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class Silence(_Entity):
    """While ``start <= now < end``, alerts whose labels match every matcher do not notify.
    Matchers are exact values of ``monitor``, ``rule``, ``severity`` or ``signal``."""

    id: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    matchers: dict[Literal["monitor", "rule", "severity", "signal"], Annotated[str, Field(max_length=512)]]
    start: Time
    end: Time
    created_by: Actor
    created_at: Time
    comment: str | None = Field(default=None, max_length=10_000)

    @model_validator(mode="after")
    def _rules(self) -> Silence:
        if self.end <= self.start:
            raise ValueError("a silence ends after it starts")
        if not self.matchers:
            raise ValueError("a silence needs at least one matcher (monitor, rule, severity or signal)")
        unknown = set(self.matchers) - {"monitor", "rule", "severity", "signal"}
        if unknown:
            raise ValueError(f"unknown matcher(s) {sorted(unknown)}: use monitor, rule, severity or signal")
        return self

    def matches(self, alert: Alert, now: int) -> bool:
        if not self.start <= now < self.end:
            return False
        labels = {"monitor": alert.monitor, "rule": alert.rule, "severity": alert.severity, "signal": alert.signal}
        return all(labels.get(k) == v for k, v in self.matchers.items())


class ReferenceProfile(_Entity):
    """The reference a model version is judged against, by role. ``digest`` is the blob (a
    ``DatasetProfile`` when ``format`` is "profile", a Parquet sample when "parquet");
    ``summary`` the validation suite and column kinds derived from it."""

    model: ModelName
    version: VersionNumber
    role: Literal["training", "evaluation", "outputs", "estimator"] = "training"
    format: Literal["profile", "parquet", "estimator"]
    digest: str = Field(pattern=NO_NEWLINE.join(("^", DIGEST_PATTERN[1:])))
    size: Time
    rows: Time
    summary: dict[str, Any] = Field(default_factory=dict)
    created_at: Time
    created_by: Actor
