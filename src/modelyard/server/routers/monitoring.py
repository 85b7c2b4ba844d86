"""The monitoring API: monitors (create, update, delete, list), window claims and results,
alerts and their history, silences, reference profiles of model versions.

Every route maps to one method of ``MonitoringStore``, so ``HttpMonitoringStore`` is a plain store
and the caller's ``MonitoringService`` (the CLI's ``monitor run``, the SDK) evaluates windows as it
does in-process: the claims are made here, in the server's database, so evaluators on any number of
machines never evaluate the same window twice. With auth on, who acts is the authenticated user
and the time of monitor changes is the server's.

Authorization. Reading needs the viewer role on some project; creating, changing or deleting a
monitor, a silence or a reference needs the editor role on some project; evaluators (claims,
results, alerts and their events) need the editor role too. Monitor, silence and reference
changes are audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Response

from modelyard.core.errors import InvalidArgument, NotFound, PermissionDenied
from modelyard.core.monitoring import MONITOR_NAME_PATTERN, Monitor, ReferenceProfile, Silence, WindowResult
from modelyard.core.tracking import now_millis
from modelyard.monitoring.notifiers import redact
from modelyard.server.deps import auth_enabled
from modelyard.server.routers._common import Call, WireJSONResponse, get_call
from modelyard.server.routers.models import when, who
from modelyard.server.routers.projects import ERRORS
from modelyard.store.monitoring import MonitoringStore
from modelyard.wire import API_PREFIX
from modelyard.wire._base import MAX_SAFE_INT, matching
from modelyard.wire.monitoring import (
    AlertEventList,
    AlertEventsAdd,
    AlertList,
    AlertSave,
    MonitorCreate,
    MonitorList,
    MonitorUpdate,
    ReferenceDeleted,
    ReferenceList,
    SilenceExpire,
    SilenceList,
    WindowClaimed,
    WindowClaimRequest,
    WindowResultList,
)

router = APIRouter(prefix=API_PREFIX, tags=["monitoring"], responses=ERRORS)
_PATH = "/monitors/{name}"
MonitorName = Annotated[
    str,
    matching(MONITOR_NAME_PATTERN, "monitor name"),
    Path(min_length=1, max_length=256, json_schema_extra={"pattern": MONITOR_NAME_PATTERN},
         description="The monitor's name (one URL segment)."),
]  # fmt: skip
Fingerprint = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]{1,64}$")]
SilenceId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
Limit = Annotated[int, Query(ge=1, le=10_000)]
Name = Annotated[str, Query(min_length=1, max_length=256)]


def store(c: Call) -> MonitoringStore:
    return c.stores.monitoring


def _ok(entity: Any, status_code: int = 200) -> WireJSONResponse:
    return WireJSONResponse(entity.model_dump(mode="json"), status_code=status_code)


#: What a reader without the editor role sees instead of a notifier's settings.
HIDDEN = "<hidden: needs the editor role>"


def _visible(c: Call, monitors: list[Monitor]) -> list[dict[str, Any]]:
    """Monitors as JSON; with auth on, a caller without the editor role somewhere sees each
    notifier's type and its references to environment variables only (webhook URLs and SMTP
    passwords are secrets; evaluators, which need the editor role to claim windows, see them)."""
    out = [m.model_dump(mode="json") for m in monitors]
    if not auth_enabled(c.request):
        return out
    try:
        c.allow_somewhere("editor")
        return out
    except PermissionDenied:
        pass
    for monitor in out:
        for rule in monitor["spec"]["rules"]:
            rule["notifiers"] = [redact(n, hidden=HIDDEN, everything=True) for n in rule["notifiers"]]
    return out


def _evaluator_time(c: Call, at: int | None) -> int:
    return now_millis() if at is None or auth_enabled(c.request) else at


# -- monitors ----------------------------------------------------------------------------------
@router.post(_PATH, status_code=201)
def create_monitor(name: MonitorName, body: MonitorCreate, c: Call = Depends(get_call)) -> Any:
    """A new monitor of a deployment (409 if the name is taken)."""
    c.allow_somewhere("editor")
    created = store(c).create_monitor(name, body.deployment, body.spec, actor=who(c, body.actor), at=when(c, body.at))
    c.audit("create_monitor", "monitor", name, deployment=body.deployment, rules=[r.name for r in body.spec.rules])
    return _ok(created, 201)


@router.put(_PATH)
def update_monitor(name: MonitorName, body: MonitorUpdate, c: Call = Depends(get_call)) -> Any:
    """Replace a monitor's spec."""
    c.allow_somewhere("editor")
    updated = store(c).update_monitor(name, body.spec, actor=who(c, body.actor), at=when(c, body.at))
    c.audit("update_monitor", "monitor", name, rules=[r.name for r in body.spec.rules])
    return _ok(updated)


@router.delete(_PATH, status_code=204, response_class=Response)
def delete_monitor(name: MonitorName, c: Call = Depends(get_call)) -> Response:
    """Delete a monitor with its windows (alerts and their history stay)."""
    c.allow_somewhere("editor")
    store(c).delete_monitor(name)
    c.audit("delete_monitor", "monitor", name)
    return Response(status_code=204)


@router.get(_PATH)
def get_monitor(name: MonitorName, c: Call = Depends(get_call)) -> Any:
    c.allow_somewhere("viewer")
    return WireJSONResponse(_visible(c, [store(c).get_monitor(name)])[0])


@router.get("/monitors", response_model=MonitorList)
def list_monitors(deployment: Name | None = None, c: Call = Depends(get_call)) -> Any:
    """Every monitor (of ``deployment``), by name."""
    c.allow_somewhere("viewer")
    found = store(c).list_monitors(deployment)
    return WireJSONResponse({"monitors": _visible(c, found)})


# -- windows -----------------------------------------------------------------------------------
@router.post(_PATH + "/claims", response_model=WindowClaimed)
def claim_window(name: MonitorName, body: WindowClaimRequest, c: Call = Depends(get_call)) -> Any:
    """Claim a window for an evaluator: the claim, or null when it is taken or done."""
    c.allow_somewhere("editor")
    claim = store(c).claim_window(
        name, body.window_start, body.window_end, owner=body.owner, at=_evaluator_time(c, body.at),
        lease_ms=body.lease_ms, revise=body.revise,
    )  # fmt: skip
    return WireJSONResponse({"claim": None if claim is None else claim.model_dump(mode="json")})


@router.post(_PATH + "/results", status_code=201)
def complete_window(name: MonitorName, body: WindowResult, c: Call = Depends(get_call)) -> Any:
    """Store the result of a claimed window (409 unless the evaluator holds the claim)."""
    c.allow_somewhere("editor")
    if body.monitor != name:
        raise InvalidArgument("the result names another monitor than the path")
    return _ok(store(c).complete_window(body), 201)


@router.put(_PATH + "/results")
def revise_window(name: MonitorName, body: WindowResult, c: Call = Depends(get_call)) -> Any:
    """Replace the result of a done window under a revision lease (409 unless the evaluator holds it)."""
    c.allow_somewhere("editor")
    if body.monitor != name:
        raise InvalidArgument("the result names another monitor than the path")
    return _ok(store(c).complete_window(body, revise=True))


@router.get(_PATH + "/last-claim", response_model=WindowClaimed)
def last_claim(name: MonitorName, c: Call = Depends(get_call)) -> Any:
    c.allow_somewhere("viewer")
    claim = store(c).last_claim(name)
    return WireJSONResponse({"claim": None if claim is None else claim.model_dump(mode="json")})


@router.get(_PATH + "/results", response_model=WindowResultList)
def list_window_results(name: MonitorName, limit: Limit = 100, c: Call = Depends(get_call)) -> Any:
    """The newest results, newest first."""
    c.allow_somewhere("viewer")
    found = store(c).list_window_results(name, limit=limit)
    return WireJSONResponse({"results": [r.model_dump(mode="json") for r in found]})


# -- alerts ------------------------------------------------------------------------------------
@router.put("/alerts", response_model=AlertEventList)
def save_alert(body: AlertSave, c: Call = Depends(get_call)) -> Any:
    """Insert or replace an alert's state (by its fingerprint) and append its events."""
    c.allow_somewhere("editor")
    saved = store(c).save_alert(body.alert, body.events, expected_state=body.expected_state)
    return WireJSONResponse({"events": [e.model_dump(mode="json") for e in saved]})


@router.post("/alert-events", response_model=AlertEventList)
def add_alert_events(body: AlertEventsAdd, c: Call = Depends(get_call)) -> Any:
    c.allow_somewhere("editor")
    saved = store(c).add_alert_events(body.events)
    return WireJSONResponse({"events": [e.model_dump(mode="json") for e in saved]})


@router.get("/alerts/{fingerprint}")
def get_alert(fingerprint: Fingerprint, c: Call = Depends(get_call)) -> Any:
    c.allow_somewhere("viewer")
    return _ok(store(c).get_alert(fingerprint))


@router.get("/alerts", response_model=AlertList)
def list_alerts(
    monitor: Name | None = None,
    state: Annotated[str | None, Query(pattern=r"^(firing|resolved)$")] = None,
    c: Call = Depends(get_call),
) -> Any:
    c.allow_somewhere("viewer")
    found = store(c).list_alerts(monitor=monitor, state=state)
    return WireJSONResponse({"alerts": [a.model_dump(mode="json") for a in found]})


@router.get("/alert-events", response_model=AlertEventList)
def list_alert_events(
    fingerprint: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    monitor: Name | None = None,
    limit: Limit = 1000,
    c: Call = Depends(get_call),
) -> Any:
    c.allow_somewhere("viewer")
    found = store(c).list_alert_events(fingerprint=fingerprint, monitor=monitor, limit=limit)
    return WireJSONResponse({"events": [e.model_dump(mode="json") for e in found]})


# -- silences ----------------------------------------------------------------------------------
@router.post("/silences", status_code=201)
def create_silence(body: Silence, c: Call = Depends(get_call)) -> Any:
    c.allow_somewhere("editor")
    if auth_enabled(c.request):
        body = body.model_copy(update={"created_by": c.principal.user, "created_at": now_millis()})
    created = store(c).create_silence(body)
    c.audit("create_silence", "silence", body.id, matchers=body.matchers, start=body.start, end=body.end)
    return _ok(created, 201)


@router.post("/silences/{silence_id}/expire")
def expire_silence(silence_id: SilenceId, body: SilenceExpire, c: Call = Depends(get_call)) -> Any:
    c.allow_somewhere("editor")
    expired = store(c).expire_silence(silence_id, at=_evaluator_time(c, body.at))
    c.audit("expire_silence", "silence", silence_id)
    return _ok(expired)


@router.get("/silences", response_model=SilenceList)
def list_silences(
    active_at: Annotated[int | None, Query(ge=0, le=MAX_SAFE_INT)] = None, c: Call = Depends(get_call)
) -> Any:
    c.allow_somewhere("viewer")
    found = store(c).list_silences(active_at=active_at)
    return WireJSONResponse({"silences": [s.model_dump(mode="json") for s in found]})


# -- reference profiles ------------------------------------------------------------------------
@router.put("/reference-profiles")
def put_reference(body: ReferenceProfile, c: Call = Depends(get_call)) -> Any:
    """Record the reference profile of a model version (its blob stored first)."""
    c.allow_somewhere("editor")
    if not c.stores.artifacts.exists(body.digest):
        raise NotFound(f"blob {body.digest} is not in the artifact store (store the profile first)")
    saved = store(c).put_reference(body)
    c.audit("put_reference_profile", "model_version", f"{body.model}/{body.version}", role=body.role,
            digest=body.digest)  # fmt: skip
    return _ok(saved)


@router.get("/reference-profiles", response_model=ReferenceList)
def list_references(model: Name, c: Call = Depends(get_call)) -> Any:
    c.allow_somewhere("viewer")
    found = store(c).list_references(model)
    return WireJSONResponse({"references": [r.model_dump(mode="json") for r in found]})


@router.get("/reference-profiles/lookup")
def get_reference(
    model: Name,
    version: Annotated[int, Query(ge=1, le=2**31 - 1)],
    role: Annotated[str, Query(pattern=r"^(training|evaluation|outputs|estimator)$")] = "training",
    c: Call = Depends(get_call),
) -> Any:
    c.allow_somewhere("viewer")
    return _ok(store(c).get_reference(model, version, role))


@router.delete("/reference-profiles/lookup", response_model=ReferenceDeleted)
def delete_reference(
    model: Name,
    version: Annotated[int, Query(ge=1, le=2**31 - 1)],
    role: Annotated[str, Query(pattern=r"^(training|evaluation|outputs|estimator)$")],
    c: Call = Depends(get_call),
) -> Any:
    """Forget the reference of a model version's role (its blob stays); whether there was one."""
    c.allow_somewhere("editor")
    deleted = store(c).delete_reference(model, version, role)
    if deleted:
        c.audit("delete_reference_profile", "model_version", f"{model}/{version}", role=role)
    return WireJSONResponse({"deleted": deleted})


def register(app: FastAPI) -> None:
    app.include_router(router)
