"""The serving management API: deployments (create, update, rollback, delete, history), the
prediction-log index and feedback.

Every route maps to one method of ``ServingStore``, so ``HttpServingStore`` is a plain store and the
caller's ``DeploymentService`` resolves model references as it does in-process. The server does
not rely on that: before it records a spec it checks, through ``DeploymentService.check_spec`` on
its own stores, that every variant's version exists, is not decommissioned and matches a numeric
selector. With auth on, who acts is the authenticated user and the time is the server's.

Authorization. Reading deployments, logs and feedback needs the viewer role on some project;
changing a deployment needs the editor role on the project of every model its variants name,
before and after the change (a rollback button is an update); the prediction-log index and
feedback are written by serving processes and applications, with the editor role on some project.
Every change is audited with the revision it made, its action and reason.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query

from modelyard.core.serving import DEPLOYMENT_NAME_PATTERN, DeploymentSpec, Feedback, validate_deployment_name
from modelyard.core.tracking import now_millis
from modelyard.core.validation import INT64_MAX
from modelyard.registry.service import RegistryService
from modelyard.server.deps import auth_enabled
from modelyard.server.routers._common import Call, WireJSONResponse, get_call
from modelyard.server.routers.models import when, who
from modelyard.server.routers.projects import ERRORS
from modelyard.serving.deployments import DeploymentService
from modelyard.store.serving import ServingStore
from modelyard.wire import (
    API_PREFIX,
    DeploymentCreate,
    DeploymentEventList,
    DeploymentList,
    DeploymentRollback,
    DeploymentUpdate,
    FeedbackCreate,
    FeedbackList,
    FeedbackLookup,
    FeedbackRecorded,
    PredictionLogEndpointList,
    PredictionLogMaintenance,
    PredictionPartitionCompact,
    PredictionPartitionCreate,
    PredictionPartitionList,
)
from modelyard.wire._base import ACTOR_PATTERN, MAX_SAFE_INT, matching

router = APIRouter(prefix=API_PREFIX, tags=["deployments"], responses=ERRORS)
_PATH = "/deployments/{name}"
DeploymentName = Annotated[
    str,
    matching(DEPLOYMENT_NAME_PATTERN, "deployment name"),
    Path(
        min_length=1,
        max_length=256,
        json_schema_extra={"pattern": DEPLOYMENT_NAME_PATTERN},
        description="The deployment's name (one URL segment).",
    ),
]
Revision = Annotated[int, Path(ge=1, le=2**31 - 1, description="A revision number.")]
#: A bound of a search over times (clients pass 2**63 - 1 for "no end").
Millis = Annotated[int, Query(ge=0, le=INT64_MAX)]


def serving_store(c: Call) -> ServingStore:
    return c.stores.serving


def service(c: Call) -> DeploymentService:
    stores = c.stores
    return DeploymentService(stores.serving, RegistryService(stores.registry, stores.tracking, stores.artifacts))


def allow_spec(c: Call, spec: DeploymentSpec | None, role: str) -> None:
    """``role`` on the project of every model the spec's variants name (only looked up with auth on)."""
    if spec is None or not auth_enabled(c.request):
        return
    registry = c.stores.registry
    for model in sorted({v.model for v in spec.variants}):
        c.allow(registry.get_registered_model(model).project_id, role)


def _ok(entity: Any, status_code: int = 200) -> WireJSONResponse:
    return WireJSONResponse(entity.model_dump(mode="json"), status_code=status_code)


def _summary(spec: DeploymentSpec | None) -> list[str]:
    if spec is None:
        return []
    return [f"{v.name}={v.model}@{v.version}:{'shadow' if v.shadow else v.traffic}" for v in spec.variants]


@router.post(_PATH, status_code=201)
def create_deployment(name: DeploymentName, body: DeploymentCreate, c: Call = Depends(get_call)) -> Any:
    """Revision 1 of a new deployment (409 if the name is taken)."""
    name = validate_deployment_name(name)
    allow_spec(c, body.spec, "editor")
    service(c).check_spec(body.spec)
    created = serving_store(c).create_deployment(
        name, body.spec, actor=who(c, body.actor), at=when(c, body.at), reason=body.reason
    )
    c.audit(
        "create_deployment",
        "deployment",
        name,
        revision=created.revision,
        reason=body.reason,
        variants=_summary(created.spec),
    )
    return _ok(created, 201)


@router.put(_PATH)
def update_deployment(name: DeploymentName, body: DeploymentUpdate, c: Call = Depends(get_call)) -> Any:
    """The next revision (update, rollback or refresh); 409 unless the deployment is still at
    ``expected_revision``."""
    store = serving_store(c)
    if auth_enabled(c.request):
        allow_spec(c, store.get_deployment(name).spec, "editor")
    allow_spec(c, body.spec, "editor")
    service(c).check_spec(body.spec)
    updated = store.update_deployment(
        name,
        body.spec,
        expected_revision=body.expected_revision,
        actor=who(c, body.actor),
        at=when(c, body.at),
        reason=body.reason,
        action=body.action,
        restored_from=body.restored_from,
    )
    c.audit(
        f"{body.action}_deployment",
        "deployment",
        name,
        revision=updated.revision,
        reason=body.reason,
        restored_from=body.restored_from,
        variants=_summary(updated.spec),
    )
    return _ok(updated)


@router.post(_PATH + "/rollback")
def rollback_deployment(name: DeploymentName, body: DeploymentRollback, c: Call = Depends(get_call)) -> Any:
    """Restore the previous state (or ``to_revision``) as a new revision, run on the server (the
    UI's rollback button); 409 when there is nothing earlier or the deployment changed meanwhile."""
    moment = when(c, body.at)
    deployments = DeploymentService(
        serving_store(c), RegistryService(c.stores.registry, c.stores.tracking, c.stores.artifacts),
        clock=lambda: moment,
    )  # fmt: skip
    current, target = deployments.rollback_target(name, body.to_revision)
    allow_spec(c, current.spec, "editor")
    allow_spec(c, target.after, "editor")
    restored = deployments.rollback(
        name, actor=who(c, body.actor), reason=body.reason, to_revision=body.to_revision,
        expected_revision=body.expected_revision,
    )  # fmt: skip
    c.audit("rollback_deployment", "deployment", name, revision=restored.revision, reason=body.reason,
            restored_from=target.revision, variants=_summary(restored.spec))  # fmt: skip
    return _ok(restored)


@router.get("/deployments", response_model=DeploymentList)
def list_deployments(c: Call = Depends(get_call)) -> Any:
    """Every live deployment, ordered by name."""
    c.allow_somewhere("viewer")
    return WireJSONResponse({"deployments": [d.model_dump(mode="json") for d in serving_store(c).list_deployments()]})


@router.get(_PATH + "/history", response_model=DeploymentEventList)
def list_deployment_events(name: DeploymentName, c: Call = Depends(get_call)) -> Any:
    """Every revision, oldest first, with the state before and after."""
    c.allow_somewhere("viewer")
    events = serving_store(c).list_deployment_events(name)
    return WireJSONResponse({"events": [e.model_dump(mode="json") for e in events]})


@router.get(_PATH + "/revisions/{revision}")
def get_deployment_event(name: DeploymentName, revision: Revision, c: Call = Depends(get_call)) -> Any:
    """The change that made one revision."""
    c.allow_somewhere("viewer")
    return _ok(serving_store(c).get_deployment_event(name, revision))


@router.get(_PATH)
def get_deployment(name: DeploymentName, c: Call = Depends(get_call)) -> Any:
    """The deployment's current revision; 404 if there is no live deployment of that name."""
    c.allow_somewhere("viewer")
    return _ok(serving_store(c).get_deployment(name))


@router.delete(_PATH)
def delete_deployment(
    name: DeploymentName,
    expected_revision: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    actor: Annotated[str | None, Query(min_length=1, max_length=256, pattern=ACTOR_PATTERN)] = None,
    at: Annotated[int | None, Query(ge=0, le=MAX_SAFE_INT)] = None,
    reason: Annotated[str | None, Query(max_length=2000)] = None,
    c: Call = Depends(get_call),
) -> Any:
    """Delete a deployment (its history stays readable)."""
    store = serving_store(c)
    if auth_enabled(c.request):
        allow_spec(c, store.get_deployment(name).spec, "editor")
    event = store.delete_deployment(
        name, expected_revision=expected_revision, actor=who(c, actor), at=when(c, at), reason=reason
    )
    c.audit("delete_deployment", "deployment", name, revision=event.revision, reason=reason)
    return _ok(event)


# -- prediction logs and feedback ---------------------------------------------------------------
@router.post("/prediction-partitions", status_code=201)
def add_prediction_partition(body: PredictionPartitionCreate, c: Call = Depends(get_call)) -> Any:
    """Index a stored Parquet partition of logged predictions (idempotent on its id)."""
    c.allow_somewhere("editor")
    added = serving_store(c).add_prediction_partition(body.partition.entity(), body.request_ids)
    return _ok(added, 201)


@router.post("/prediction-partitions/compact")
def compact_prediction_partitions(body: PredictionPartitionCompact, c: Call = Depends(get_call)) -> Any:
    """Replace partitions of an endpoint by one partition of their rows (stored first); 409 if
    some are gone (compacted meanwhile). Maintenance of the logs: the admin role."""
    c.allow(None, "admin")
    done = serving_store(c).compact_prediction_partitions(body.endpoint, body.replaced, body.partition.entity())
    c.audit("compact_prediction_partitions", "endpoint", body.endpoint, partitions=len(body.replaced),
            rows=done.row_count)  # fmt: skip
    return _ok(done)


@router.post("/prediction-logs/{endpoint}/maintenance")
def maintain_prediction_log(
    body: PredictionLogMaintenance, endpoint: DeploymentName, c: Call = Depends(get_call)
) -> Any:
    """Compact or prune ``endpoint``'s log here, where blobs can be deleted (``serving/logmaint.py``,
    under the endpoint's maintenance claim: ``busy`` when another maintainer holds it). The editor
    role on the deployment's models (admin for a log of no deployment); audited."""
    from modelyard.core.errors import NotFound
    from modelyard.serving.logmaint import LogMaintainer

    if auth_enabled(c.request):
        try:
            allow_spec(c, serving_store(c).get_deployment(endpoint).spec, "editor")
        except NotFound:
            c.allow(None, "admin")
    maintainer = LogMaintainer(c.stores)
    if body.action == "compact":
        result = maintainer.compact(endpoint, before_ms=body.before_ms, target_rows=body.target_rows)
    else:
        result = maintainer.prune(endpoint, before_ms=body.before_ms)
    c.audit(f"{body.action}_prediction_log", "endpoint", endpoint, before_ms=body.before_ms, **result.as_dict())
    return WireJSONResponse(result.as_dict())


@router.get("/prediction-partitions", response_model=PredictionPartitionList)
def list_prediction_partitions(
    endpoint: Annotated[str, Query(min_length=1, max_length=256)],
    start_ms: Millis = 0,
    end_ms: Millis = INT64_MAX,
    c: Call = Depends(get_call),
) -> Any:
    """The partitions of ``endpoint`` with rows in ``[start_ms, end_ms)``."""
    c.allow_somewhere("viewer")
    found = serving_store(c).list_prediction_partitions(endpoint, start_ms, end_ms)
    return WireJSONResponse({"partitions": [p.model_dump(mode="json") for p in found]})


@router.get("/prediction-partitions/endpoints", response_model=PredictionLogEndpointList)
def list_prediction_log_endpoints(c: Call = Depends(get_call)) -> Any:
    """Every endpoint with logged partitions (``modelyard db check --blobs`` walks their blobs)."""
    c.allow_somewhere("viewer")
    return WireJSONResponse({"endpoints": serving_store(c).list_prediction_log_endpoints()})


@router.post("/feedback", response_model=FeedbackRecorded)
def record_feedback(body: FeedbackCreate, c: Call = Depends(get_call)) -> Any:
    """Ground truth by request id; 404 naming the ids no logged prediction has (nothing recorded)."""
    c.allow_somewhere("editor")
    now = now_millis()
    items = [
        Feedback(request_id=i.request_id, value=i.value, at=now if i.at is None or auth_enabled(c.request) else i.at)
        for i in body.items
    ]
    recorded = serving_store(c).record_feedback(items)
    c.audit("record_feedback", "feedback", None, count=recorded)
    return WireJSONResponse({"recorded": recorded})


@router.post("/feedback/lookup", response_model=FeedbackList)
def get_feedback(body: FeedbackLookup, c: Call = Depends(get_call)) -> Any:
    """The feedback recorded for these request ids (ids without feedback are absent)."""
    c.allow_somewhere("viewer")
    found = serving_store(c).get_feedback(body.request_ids)
    return WireJSONResponse({"feedback": [f.model_dump(mode="json") for f in found.values()]})


def register(app: FastAPI) -> None:
    app.include_router(router)
