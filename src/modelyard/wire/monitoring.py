"""v1 request and response bodies of the monitoring API: monitors, window claims and results,
alerts and their history, silences, reference profiles.

The entities of ``modelyard.core.monitoring`` (frozen pydantic models that refuse unknown fields,
with strict integers, floats and booleans) are the bodies as they are; requests that change a
monitor wrap its spec with who and when.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool

from modelyard.core.monitoring import (
    Alert,
    AlertEvent,
    Monitor,
    MonitorSpec,
    ReferenceProfile,
    Silence,
    WindowClaim,
    WindowResult,
)
from modelyard.core.serving import DEPLOYMENT_NAME_PATTERN
from modelyard.wire._base import JSON_INTEGER, MAX_SAFE_INT, Count, Millis, WireModel

__all__ = [
    "AlertEventList",
    "AlertEventsAdd",
    "AlertList",
    "AlertSave",
    "MonitorCreate",
    "MonitorList",
    "MonitorUpdate",
    "ReferenceDeleted",
    "ReferenceList",
    "SilenceExpire",
    "SilenceList",
    "WindowClaimRequest",
    "WindowClaimed",
    "WindowResultList",
]

#: Who acts or evaluates: no control characters (the entities record them as they are).
Actor = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
Owner = Actor
#: Events per request.
MAX_EVENTS = 1_000


class MonitorCreate(WireModel):
    """A new monitor of ``deployment``."""

    deployment: Annotated[str, Field(min_length=1, max_length=256, pattern=DEPLOYMENT_NAME_PATTERN)]
    spec: MonitorSpec
    actor: Actor | None = None
    at: Millis | None = None


class MonitorUpdate(WireModel):
    spec: MonitorSpec
    actor: Actor | None = None
    at: Millis | None = None


class MonitorList(WireModel):
    monitors: list[Monitor]


class WindowClaimRequest(WireModel):
    """Claim the window starting at ``window_start`` for ``owner`` for ``lease_ms``; ``revise``:
    a done window, to evaluate it again (late labels)."""

    window_start: Count
    window_end: Count
    owner: Owner
    at: Millis | None = None
    lease_ms: Annotated[int, Field(ge=1, le=MAX_SAFE_INT), JSON_INTEGER]
    revise: StrictBool = False


class WindowClaimed(WireModel):
    """The claim, or null when another evaluator holds the window or it is done."""

    claim: WindowClaim | None


class WindowResultList(WireModel):
    results: list[WindowResult]


class AlertSave(WireModel):
    """An alert's new state and its events; ``expected_state`` makes it a compare-and-set (409
    when the stored alert is not in that state: another evaluator recorded the transition)."""

    alert: Alert
    events: Annotated[list[AlertEvent], Field(max_length=MAX_EVENTS)] = []
    expected_state: Literal["absent", "firing", "resolved"] | None = None


class AlertEventsAdd(WireModel):
    events: Annotated[list[AlertEvent], Field(max_length=MAX_EVENTS)]


class AlertList(WireModel):
    alerts: list[Alert]


class AlertEventList(WireModel):
    events: list[AlertEvent]


class SilenceList(WireModel):
    silences: list[Silence]


class SilenceExpire(WireModel):
    at: Millis | None = None


class ReferenceList(WireModel):
    references: list[ReferenceProfile]


class ReferenceDeleted(WireModel):
    """Whether a reference was there to forget."""

    deleted: StrictBool
