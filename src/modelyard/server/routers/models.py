"""The model registry over REST: registered models, versions, governed transitions, aliases,
approvals, history, policies, model cards, evaluations and retention.

Every route maps to one method of ``ModelRegistryStore``, so ``HttpRegistryStore`` is a plain store and
the caller's ``RegistryService`` enforces the rules as it does in-process. A remote caller could
skip that service, though, and call the store directly; so the routes that *change governed
state* run the rules again here, on the server, through ``RegistryService`` itself (not a copy
of its rules): transitions (state machine, approvals before production, archiving the version a
promotion replaces, retention of a decommissioned version), approvals (maintainers only, never
the author), aliases (reserved names, no alias on a decommissioned version), model names and card
fields. With auth on, who acts is always the authenticated user and the time is the server's.

Model names may contain '/', so they are path parameters that match several segments; every
route but ``GET /models/{name}`` ends with a fixed suffix, which keeps the routes unambiguous. A
name that would itself end like one of those suffixes (``x/versions``) is refused when the model
is created here, because ``GET /models/{name}`` could never reach it.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query
from fastapi.responses import Response
from fastapi.routing import APIRoute

from modelyard.artifacts.paths import parse_digest, safe_relpath
from modelyard.core.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from modelyard.core.registry import ModelFile, RegistryPolicy
from modelyard.core.tracking import now_millis
from modelyard.core.validation import ENTITY_NAME_PATTERN
from modelyard.features.release import FeaturePinCheck
from modelyard.registry.packaging import check_package_stored
from modelyard.registry.service import MaintainerCheck, RegistryService, allow_everyone, parse_state
from modelyard.server.deps import Principal, auth_enabled, authorize
from modelyard.server.routers._common import Call, WireJSONResponse, get_call
from modelyard.server.routers.features import release_service
from modelyard.server.routers.projects import ERRORS
from modelyard.store.models import ModelRegistryStore
from modelyard.wire import (
    API_PREFIX,
    AliasRemove,
    AliasSet,
    AliasTarget,
    ApprovalCreate,
    ApprovalList,
    CardFieldsUpdate,
    DigestsInUse,
    DigestsInUseQuery,
    EvaluationCreate,
    EvaluationList,
    ModelApprovalBody,
    ModelCardFieldsBody,
    ModelEvaluationBody,
    ModelEventList,
    ModelFileList,
    ModelStateName,
    ModelVersionBody,
    ModelVersionCreate,
    ModelVersionList,
    PurgeMark,
    RegisteredModelBody,
    RegisteredModelCreate,
    RegisteredModelList,
    RegistryPolicyBody,
    RegistryPolicyUpdate,
    TransitionRequest,
)
from modelyard.wire._base import matching
from modelyard.wire.models import ALIAS_PATTERN

router = APIRouter(prefix=API_PREFIX, tags=["models"], responses=ERRORS)
MODELS = f"{API_PREFIX}/models"
_MODEL_PATH = "/models/{name:path}"
_VERSION_PATH = _MODEL_PATH + "/versions/{version}"
Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="The version number.")]
AliasName = Annotated[str, Query(min_length=1, max_length=64, pattern=ALIAS_PATTERN)]  # no look-around
#: Bounded like the stores bound names, which also keeps every URL well under the server's limit.
ModelName = Annotated[
    str,
    matching(ENTITY_NAME_PATTERN, "model name"),
    Path(
        max_length=256,
        json_schema_extra={"pattern": ENTITY_NAME_PATTERN},
        description="The model's name; it may contain '/'.",
    ),
]


# -- what every route needs ---------------------------------------------------------------------
def registry_store(c: Call) -> ModelRegistryStore:
    return c.services.stores.registry


def when(c: Call, at: int | None) -> int:
    """The time of a change: the server's clock with auth on (nobody back-dates the audit
    trail), else the caller's (the single-user flow and tests drive their own clock)."""
    return now_millis() if at is None or auth_enabled(c.request) else at


def who(c: Call, given: str | None) -> str:
    """Who made a change: the authenticated user with auth on, else whom the caller names."""
    return c.principal.user if given is None or auth_enabled(c.request) else given


def allow_model(c: Call, registry: ModelRegistryStore, name: str, role: str) -> None:
    """Authorize on the model's project; the model is only looked up when auth is on."""
    if auth_enabled(c.request):
        c.allow(registry.get_registered_model(name).project_id, role)


def maintainer_check(c: Call) -> MaintainerCheck:
    """The registry's "is this user a maintainer of the project" question, answered from the
    roles of the auth subsystem (maintainer or better; the global admin flag counts; a disabled
    user's approval does not). With auth off everyone is a maintainer, as in-process."""
    if not auth_enabled(c.request):
        return allow_everyone
    users = c.services.stores.auth

    def is_maintainer(project_id: str, user: str) -> bool:
        if user == c.principal.user:
            return c.can(project_id, "maintainer")
        try:
            found = users.get_user(user)
        except NotFound:
            return False
        if found.disabled:
            return False
        try:
            authorize(c.request, Principal(user=user, is_admin=found.is_admin), project_id, "maintainer")
        except PermissionDenied:
            return False
        return True

    return is_maintainer


def governed(c: Call, registry: ModelRegistryStore, at: int | None) -> RegistryService:
    """The registry service on the server's stores, for the routes that change governed state."""
    moment = when(c, at)

    def clock() -> int:
        return moment  # one instant per request: a change and its audit events share it

    features = functools.cache(lambda: release_service(c))  # built only for a pinned version
    return RegistryService(
        registry,
        c.stores.tracking,
        c.services.artifacts,
        is_maintainer=maintainer_check(c),
        clock=clock,
        release_checks=[FeaturePinCheck(features)],
    )


def _ok(entity: Any, status_code: int = 200) -> WireJSONResponse:
    return WireJSONResponse(entity.model_dump(mode="json"), status_code=status_code)


def _shadowing_route(name: str) -> str | None:
    """The GET route that would answer ``GET /models/{name}`` instead of the model, if any
    (only this module's routes live under /models/)."""
    path = f"{MODELS}/{name}"
    for route in router.routes:
        if (
            isinstance(route, APIRoute)
            and route.path.startswith(MODELS + "/")
            and route.path != MODELS + "/{name:path}"
            and "GET" in (route.methods or ())
            and route.path_regex.match(path)
        ):
            return route.path
    return None


# -- models -------------------------------------------------------------------------------------
@router.post("/models", response_model=RegisteredModelBody, status_code=201)
def create_registered_model(body: RegisteredModelCreate, c: Call = Depends(get_call)) -> Any:
    """Create a registered model in a project; 409 if the name is taken. The registry's naming
    rules apply ('@' and 'models:/' are reserved for references)."""
    registry = registry_store(c)
    c.allow(body.project_id, "editor")
    shadow = _shadowing_route(body.name)
    if shadow is not None:
        raise InvalidArgument(
            f"model name {body.name!r} cannot be served over the API: it ends like the route {shadow}"
        )
    project = c.stores.tracking.get_project(body.project_id)
    model = governed(c, registry, body.at).create_model(
        body.name, project=project.name, actor=who(c, body.created_by), description=body.description
    )
    c.audit("create_model", "model", model.name, project_id=model.project_id)
    return _ok(model, 201)


@router.get("/models", response_model=RegisteredModelList)
def list_registered_models(project_id: str | None = None, c: Call = Depends(get_call)) -> Any:
    """Registered models ordered by name (those of projects the caller may read)."""
    registry = registry_store(c)
    if project_id is not None:
        c.allow(project_id, "viewer")
    visible = None if project_id is not None else c.visible_projects()
    models = [m for m in registry.list_registered_models(project_id) if visible is None or m.project_id in visible]
    return WireJSONResponse({"models": [m.model_dump(mode="json") for m in models]})


# -- versions -----------------------------------------------------------------------------------
@router.post(_MODEL_PATH + "/versions", response_model=ModelVersionBody, status_code=201)
def create_model_version(name: ModelName, body: ModelVersionCreate, c: Call = Depends(get_call)) -> Any:
    """Register the next version (state draft); idempotent on ``version_id``. The package (its
    files and manifest) is uploaded first, as blobs."""
    registry = registry_store(c)
    allow_model(c, registry, name, "editor")
    _check_package(body)
    check_package_stored(c.stores.artifacts, body.manifest_digest, [(f.path, f.digest, f.size) for f in body.files])
    version = registry.create_model_version(
        name,
        manifest_digest=body.manifest_digest,
        flavor=body.flavor,
        files=[ModelFile(**f.model_dump()) for f in body.files],
        created_by=who(c, body.created_by),
        at=when(c, body.at),
        run_id=body.run_id,
        signature=body.signature,
        description=body.description,
        version_id=body.version_id,
        version=body.version,
    )
    c.audit("create_model_version", "model_version", f"{name}@{version.version}", digest=version.manifest_digest)
    return _ok(version, 201)


def _check_package(body: ModelVersionCreate) -> None:
    """A version must point at a well-formed package: digests the artifact store can address
    and file paths that are safe, normal and distinct (a client that skips the SDK could send
    anything; a bad one is a 400 and nothing is recorded)."""
    parse_digest(body.manifest_digest)
    seen: set[str] = set()
    for item in body.files:
        parse_digest(item.digest)
        if safe_relpath(item.path) != item.path:
            raise InvalidArgument(f"model file path {item.path!r} is not in normal form")
        if item.path in seen:
            raise InvalidArgument(f"model file {item.path!r} is listed twice")
        seen.add(item.path)


@router.get(_MODEL_PATH + "/versions", response_model=ModelVersionList)
def list_model_versions(
    name: ModelName, state: Annotated[list[ModelStateName] | None, Query()] = None, c: Call = Depends(get_call)
) -> Any:
    """Versions newest first, optionally only those in the given states (``?state=a&state=b``)."""
    registry = registry_store(c)
    allow_model(c, registry, name, "viewer")
    states = None if state is None else [parse_state(s) for s in state]
    versions = registry.list_model_versions(name, states)
    return WireJSONResponse({"versions": [v.model_dump(mode="json") for v in versions]})


@router.get("/runs/{run_id}/model-versions", response_model=ModelVersionList)
def list_model_versions_by_run(run_id: str, c: Call = Depends(get_call)) -> Any:
    """The versions registered from run ``run_id``, ordered by model name then newest first. Needs
    read access to the run's project; versions of models in projects the caller cannot read are
    left out (a run may register a model that lives in another project)."""
    registry = registry_store(c)
    c.allow_run(run_id, "viewer")
    versions = registry.list_model_versions_by_run(run_id)
    visible = c.visible_projects()
    if visible is not None:
        projects = {name: registry.get_registered_model(name).project_id for name in {v.model_name for v in versions}}
        versions = [v for v in versions if projects[v.model_name] in visible]
    return WireJSONResponse({"versions": [v.model_dump(mode="json") for v in versions]})


@router.get(_VERSION_PATH, response_model=ModelVersionBody)
def get_model_version(name: ModelName, version: Version, c: Call = Depends(get_call)) -> Any:
    registry = registry_store(c)
    allow_model(c, registry, name, "viewer")
    return _ok(registry.get_model_version(name, version))


@router.get(_VERSION_PATH + "/files", response_model=ModelFileList)
def list_model_files(name: ModelName, version: Version, c: Call = Depends(get_call)) -> Any:
    """The files of a version (path, digest, size), ordered by path."""
    registry = registry_store(c)
    allow_model(c, registry, name, "viewer")
    files = registry.list_model_files(name, version)
    return WireJSONResponse({"files": [f.model_dump() for f in files]})


@router.post(_VERSION_PATH + "/transitions", response_model=ModelVersionBody)
def transition_model_version(
    name: ModelName, version: Version, body: TransitionRequest, c: Call = Depends(get_call)
) -> Any:
    """Move a version through the lifecycle under the registry's rules, run here: 400 for a move
    the state machine forbids, 403 when production lacks the approvals the project's policy
    requires, 409 when ``from_state`` is stale. Promoting archives the version it replaces;
    decommissioning removes its aliases and schedules its artifacts for deletion after the
    project's retention period. A refused transition changes nothing."""
    registry = registry_store(c)
    allow_model(c, registry, name, "editor")
    if body.from_state is not None:
        current = registry.get_model_version(name, version)
        if current.state.value != body.from_state:
            raise Conflict(
                f"version {version} of model {name!r} is {current.state.value}, not {body.from_state}: reload and retry"
            )
    moved = governed(c, registry, body.at).transition(
        name, version, body.to_state, actor=who(c, body.actor), reason=body.reason
    )
    c.audit("transition_model_version", "model_version", f"{name}@{version}", to_state=body.to_state)
    return _ok(moved)


@router.get(_MODEL_PATH + "/versions-in-state", response_model=ModelVersionList)
def versions_in_state_at(
    name: ModelName,
    state: ModelStateName,
    at: Annotated[int, Query(ge=0, lt=2**63, description="Milliseconds since the epoch.")],
    c: Call = Depends(get_call),
) -> Any:
    """The versions that were in ``state`` at time ``at``: "what was in production on date D"."""
    registry = registry_store(c)
    allow_model(c, registry, name, "viewer")
    found = registry.versions_in_state_at(name, parse_state(state), at)
    return WireJSONResponse({"versions": [v.model_dump(mode="json") for v in found]})


# -- aliases ------------------------------------------------------------------------------------
@router.put(_MODEL_PATH + "/aliases", response_model=ModelVersionBody)
def set_model_alias(name: ModelName, alias: AliasName, body: AliasSet, c: Call = Depends(get_call)) -> Any:
    """Point (or move) ``?alias=`` at a version; the move is recorded with where it pointed before.
    State names and 'latest' are reserved; a decommissioned version gets no alias."""
    registry = registry_store(c)
    allow_model(c, registry, name, "editor")
    target = governed(c, registry, body.at).set_alias(
        name, alias, body.version, actor=who(c, body.actor), reason=body.reason
    )
    c.audit("set_model_alias", "model", name, alias=alias, version=body.version)
    return _ok(target)


@router.get(_MODEL_PATH + "/aliases", response_model=AliasTarget)
def get_model_alias(name: ModelName, alias: AliasName, c: Call = Depends(get_call)) -> Any:
    """The version ``?alias=`` points to; 404 if there is no such alias."""
    registry = registry_store(c)
    allow_model(c, registry, name, "viewer")
    return WireJSONResponse({"alias": alias, "version": registry.get_model_alias(name, alias)})


@router.delete(_MODEL_PATH + "/aliases", status_code=204, response_class=Response)
def delete_model_alias(
    name: ModelName, alias: AliasName, body: AliasRemove | None = None, c: Call = Depends(get_call)
) -> Response:
    """Remove an alias (recorded; who, why and when go in the optional JSON body); 404 if it
    does not exist."""
    registry = registry_store(c)
    allow_model(c, registry, name, "editor")
    body = body or AliasRemove()
    governed(c, registry, body.at).delete_alias(name, alias, actor=who(c, body.actor), reason=body.reason)
    c.audit("delete_model_alias", "model", name, alias=alias)
    return Response(status_code=204)


# -- approvals and history ----------------------------------------------------------------------
@router.post(_VERSION_PATH + "/approvals", response_model=ModelApprovalBody)
def add_model_approval(name: ModelName, version: Version, body: ApprovalCreate, c: Call = Depends(get_call)) -> Any:
    """Approve a version for production: maintainers of the model's project only, never the
    version's author; approving twice keeps the first approval."""
    registry = registry_store(c)
    allow_model(c, registry, name, "maintainer")
    approval = governed(c, registry, body.at).approve(
        name, version, approver=who(c, body.approver), comment=body.comment
    )
    c.audit("approve_model_version", "model_version", f"{name}@{version}")
    return _ok(approval)


@router.get(_VERSION_PATH + "/approvals", response_model=ApprovalList)
def list_model_approvals(name: ModelName, version: Version, c: Call = Depends(get_call)) -> Any:
    registry = registry_store(c)
    allow_model(c, registry, name, "viewer")
    approvals = registry.list_model_approvals(name, version)
    return WireJSONResponse({"approvals": [a.model_dump(mode="json") for a in approvals]})


@router.get(_MODEL_PATH + "/events", response_model=ModelEventList)
def list_model_events(
    name: ModelName, version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None, c: Call = Depends(get_call)
) -> Any:
    """The audit trail of a model (or of one ``?version=``), oldest first."""
    registry = registry_store(c)
    allow_model(c, registry, name, "viewer")
    events = registry.list_model_events(name, version)
    return WireJSONResponse({"events": [e.model_dump(mode="json") for e in events]})


# -- model cards and evaluations ----------------------------------------------------------------
@router.get(_VERSION_PATH + "/card", response_model=ModelCardFieldsBody)
def get_model_card_fields(name: ModelName, version: Version, c: Call = Depends(get_call)) -> Any:
    """The hand-written fields of the version's model card (empty when never edited)."""
    registry = registry_store(c)
    allow_model(c, registry, name, "viewer")
    return _ok(registry.get_model_card_fields(name, version))


@router.patch(_VERSION_PATH + "/card", response_model=ModelCardFieldsBody)
def update_model_card_fields(
    name: ModelName, version: Version, body: CardFieldsUpdate, c: Call = Depends(get_call)
) -> Any:
    """Merge edits into the card (null removes a field); only the registry's editable fields."""
    from modelyard.registry.card_fields import validate_fields

    registry = registry_store(c)
    allow_model(c, registry, name, "editor")
    changes = validate_fields({str(key): value for key, value in body.changes.items()})
    fields = registry.update_model_card_fields(name, version, changes, actor=who(c, body.actor), at=when(c, body.at))
    c.audit("update_model_card", "model_version", f"{name}@{version}", fields=sorted(changes))
    return _ok(fields)


@router.post(_VERSION_PATH + "/evaluations", response_model=ModelEvaluationBody)
def add_model_evaluation(name: ModelName, version: Version, body: EvaluationCreate, c: Call = Depends(get_call)) -> Any:
    """Record an evaluation (its result already stored as the blob ``digest``); idempotent on
    ``evaluation_id``."""
    registry = registry_store(c)
    allow_model(c, registry, name, "editor")
    record = registry.add_model_evaluation(
        name,
        version,
        evaluation_id=body.evaluation_id,
        digest=body.digest,
        summary=body.summary,
        run_id=body.run_id,
        actor=who(c, body.actor),
        at=when(c, body.at),
    )
    c.audit("add_model_evaluation", "model_version", f"{name}@{version}", evaluation_id=record.id)
    return _ok(record)


@router.get(_VERSION_PATH + "/evaluations", response_model=EvaluationList)
def list_model_evaluations(name: ModelName, version: Version, c: Call = Depends(get_call)) -> Any:
    registry = registry_store(c)
    allow_model(c, registry, name, "viewer")
    records = registry.list_model_evaluations(name, version)
    return WireJSONResponse({"evaluations": [r.model_dump(mode="json") for r in records]})


# -- policy and retention -----------------------------------------------------------------------
@router.get("/registry/policies/{project_id}", response_model=RegistryPolicyBody, tags=["registry"])
def get_registry_policy(project_id: str, c: Call = Depends(get_call)) -> Any:
    """The project's registry policy, or the defaults when none was set."""
    registry = registry_store(c)
    c.allow(project_id, "viewer")
    return _ok(registry.get_registry_policy(project_id))


@router.put("/registry/policies/{project_id}", response_model=RegistryPolicyBody, tags=["registry"])
def set_registry_policy(project_id: str, body: RegistryPolicyUpdate, c: Call = Depends(get_call)) -> Any:
    """Replace the project's policy (maintainers of the project)."""
    registry = registry_store(c)
    c.allow(project_id, "maintainer")
    policy = registry.set_registry_policy(RegistryPolicy(project_id=project_id, **body.model_dump()))
    c.audit("set_registry_policy", "project", project_id, **body.model_dump())
    return _ok(policy)


@router.get("/registry/purge-candidates", response_model=ModelVersionList, tags=["registry"])
def list_versions_to_purge(
    now: Annotated[int, Query(ge=0, lt=2**63, description="Milliseconds since the epoch.")],
    c: Call = Depends(get_call),
) -> Any:
    """Decommissioned versions whose retention ended by ``now`` (administrators)."""
    registry = registry_store(c)
    c.allow(None, "admin")
    return WireJSONResponse({"versions": [v.model_dump(mode="json") for v in registry.list_versions_to_purge(now)]})


@router.post("/registry/digests-in-use", response_model=DigestsInUse, tags=["registry"])
def digests_in_use(body: DigestsInUseQuery, c: Call = Depends(get_call)) -> Any:
    """Which of ``digests`` another unpurged version or a run still uses (administrators)."""
    registry = registry_store(c)
    c.allow(None, "admin")
    used = registry.digests_in_use(body.digests, excluding_version_id=body.excluding_version_id)
    return WireJSONResponse({"digests": sorted(used)})


@router.post(_VERSION_PATH + "/purged", response_model=ModelVersionBody)
def mark_model_version_purged(name: ModelName, version: Version, body: PurgeMark, c: Call = Depends(get_call)) -> Any:
    """Record that a decommissioned version's artifacts were deleted (administrators)."""
    registry = registry_store(c)
    c.allow(None, "admin")
    done = registry.mark_model_version_purged(name, version, actor=who(c, body.actor), at=when(c, body.at))
    c.audit("purge_model_version", "model_version", f"{name}@{version}")
    return _ok(done)


# Last: it matches any path under /models/, so every route with a suffix must come first.
@router.get(_MODEL_PATH, response_model=RegisteredModelBody)
def get_registered_model(name: ModelName, c: Call = Depends(get_call)) -> Any:
    registry = registry_store(c)
    model = registry.get_registered_model(name)
    c.allow(model.project_id, "viewer")
    return _ok(model)


def register(app: FastAPI) -> None:
    app.include_router(router)
