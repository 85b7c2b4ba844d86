"""``HttpMonitoringStore``: the ``MonitoringStore`` contract over the REST API v1.

It shares the ``ApiClient`` of the other HTTP stores. Window claims are made in the server's
database, so evaluators on many machines share them. Reads are retried after a dropped
connection; claims, results and alert writes are retried only when the request never reached the
server (a claim that reached it answers null to its retry, and the window is not lost: its lease
expires and another evaluation takes it over).

Request bodies are what the server's routes decode: the ``wire.monitoring`` models, checked by
``request`` (see ``_transport``), or the core entities themselves (window results, silences,
reference profiles), validated when they were built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import orjson

from modelyard.client._transport import HttpAggregateStore, request
from modelyard.core.monitoring import (
    Alert,
    AlertEvent,
    Monitor,
    MonitorSpec,
    ReferenceProfile,
    Silence,
    WindowClaim,
    WindowResult,
    json_text,
    validate_monitor_name,
)
from modelyard.store.monitoring import MonitoringStore
from modelyard.wire.monitoring import (
    AlertEventsAdd,
    AlertSave,
    MonitorCreate,
    MonitorUpdate,
    SilenceExpire,
    WindowClaimRequest,
)

__all__ = ["HttpMonitoringStore"]


def _path(name: str) -> str:
    return "/monitors/" + quote(name, safe="")


class HttpMonitoringStore(HttpAggregateStore, MonitoringStore):
    """Monitors, window claims and results, alerts, silences and references on a modelyard server."""

    def _json(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> Any:
        content = self.api.send(method, path, idempotent=idempotent, **kwargs).content
        return orjson.loads(content) if content else None

    # -- monitors -------------------------------------------------------------------------------
    def create_monitor(self, name: str, deployment: str, spec: MonitorSpec, *, actor: str, at: int) -> Monitor:
        name = validate_monitor_name(name)
        body = request(MonitorCreate, deployment=deployment, spec=spec, actor=actor, at=at)
        return Monitor.model_validate(self._json("POST", _path(name), idempotent=False, body=body))

    def update_monitor(self, name: str, spec: MonitorSpec, *, actor: str, at: int) -> Monitor:
        body = request(MonitorUpdate, spec=spec, actor=actor, at=at)
        return Monitor.model_validate(self._json("PUT", _path(name), idempotent=True, body=body))

    def delete_monitor(self, name: str) -> None:
        self._json("DELETE", _path(name), idempotent=False)

    def get_monitor(self, name: str) -> Monitor:
        return Monitor.model_validate(self._json("GET", _path(name), idempotent=True))

    def list_monitors(self, deployment: str | None = None) -> list[Monitor]:
        params = {} if deployment is None else {"deployment": deployment}
        data = self._json("GET", "/monitors", idempotent=True, params=params)
        return [Monitor.model_validate(m) for m in data["monitors"]]

    # -- windows --------------------------------------------------------------------------------
    def claim_window(
        self, monitor: str, window_start: int, window_end: int, *, owner: str, at: int, lease_ms: int,
        revise: bool = False,
    ) -> WindowClaim | None:  # fmt: skip
        body = request(
            WindowClaimRequest, window_start=window_start, window_end=window_end, owner=owner, at=at,
            lease_ms=lease_ms, revise=revise,
        )  # fmt: skip
        data = self._json("POST", _path(monitor) + "/claims", idempotent=False, body=body)
        return None if data["claim"] is None else WindowClaim.model_validate(data["claim"])

    def complete_window(self, result: WindowResult, *, revise: bool = False) -> WindowResult:
        json_text(result.values, "window values")  # NaN would travel as null: refuse it as SQL does
        # a revision replaces the stored result (PUT); a first result is added (POST)
        method = "PUT" if revise else "POST"
        data = self._json(method, _path(result.monitor) + "/results", idempotent=False, body=result)
        return WindowResult.model_validate(data)

    def last_claim(self, monitor: str) -> WindowClaim | None:
        data = self._json("GET", _path(monitor) + "/last-claim", idempotent=True)
        return None if data["claim"] is None else WindowClaim.model_validate(data["claim"])

    def list_window_results(self, monitor: str, *, limit: int = 100) -> list[WindowResult]:
        data = self._json("GET", _path(monitor) + "/results", idempotent=True, params={"limit": limit})
        return [WindowResult.model_validate(r) for r in data["results"]]

    # -- alerts ---------------------------------------------------------------------------------
    def save_alert(
        self, alert: Alert, events: Sequence[AlertEvent] = (), *, expected_state: str | None = None
    ) -> list[AlertEvent]:
        json_text([e.detail for e in events], "event detail")
        body = request(AlertSave, alert=alert, events=list(events), expected_state=expected_state)  # type: ignore[arg-type]
        data = self._json("PUT", "/alerts", idempotent=False, body=body)
        return [AlertEvent.model_validate(e) for e in data["events"]]

    def add_alert_events(self, events: Sequence[AlertEvent]) -> list[AlertEvent]:
        body = request(AlertEventsAdd, events=list(events))
        data = self._json("POST", "/alert-events", idempotent=False, body=body)
        return [AlertEvent.model_validate(e) for e in data["events"]]

    def get_alert(self, fingerprint: str) -> Alert:
        return Alert.model_validate(self._json("GET", "/alerts/" + quote(fingerprint, safe=""), idempotent=True))

    def list_alerts(self, *, monitor: str | None = None, state: str | None = None) -> list[Alert]:
        params = {k: v for k, v in {"monitor": monitor, "state": state}.items() if v is not None}
        data = self._json("GET", "/alerts", idempotent=True, params=params)
        return [Alert.model_validate(a) for a in data["alerts"]]

    def list_alert_events(
        self, *, fingerprint: str | None = None, monitor: str | None = None, limit: int = 1000
    ) -> list[AlertEvent]:
        params: dict[str, Any] = {"limit": limit}
        if fingerprint is not None:
            params["fingerprint"] = fingerprint
        if monitor is not None:
            params["monitor"] = monitor
        data = self._json("GET", "/alert-events", idempotent=True, params=params)
        return [AlertEvent.model_validate(e) for e in data["events"]]

    # -- silences -------------------------------------------------------------------------------
    def create_silence(self, silence: Silence) -> Silence:
        return Silence.model_validate(self._json("POST", "/silences", idempotent=False, body=silence))

    def expire_silence(self, silence_id: str, *, at: int) -> Silence:
        path = "/silences/" + quote(silence_id, safe="") + "/expire"
        return Silence.model_validate(self._json("POST", path, idempotent=True, body=request(SilenceExpire, at=at)))

    def list_silences(self, *, active_at: int | None = None) -> list[Silence]:
        params = {} if active_at is None else {"active_at": active_at}
        data = self._json("GET", "/silences", idempotent=True, params=params)
        return [Silence.model_validate(s) for s in data["silences"]]

    # -- reference profiles ---------------------------------------------------------------------
    def put_reference(self, reference: ReferenceProfile) -> ReferenceProfile:
        data = self._json("PUT", "/reference-profiles", idempotent=True, body=reference)
        return ReferenceProfile.model_validate(data)

    def get_reference(self, model: str, version: int, role: str = "training") -> ReferenceProfile:
        params = {"model": model, "version": int(version), "role": role}
        return ReferenceProfile.model_validate(
            self._json("GET", "/reference-profiles/lookup", idempotent=True, params=params)
        )

    def list_references(self, model: str) -> list[ReferenceProfile]:
        data = self._json("GET", "/reference-profiles", idempotent=True, params={"model": model})
        return [ReferenceProfile.model_validate(r) for r in data["references"]]

    def delete_reference(self, model: str, version: int, role: str) -> bool:
        params = {"model": model, "version": int(version), "role": role}
        return bool(self._json("DELETE", "/reference-profiles/lookup", idempotent=True, params=params)["deleted"])
