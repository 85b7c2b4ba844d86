"""The feature store over REST: definitions and their versions, materialisation runs,
training-set links, and online reads.

Writes run the service's rules on the server (``FeatureStoreService.check_view`` and
``pin_service``) before the store records anything, as the SDK does. Feature definitions belong
to no project, so authorization follows the dataset rule: reading needs the viewer role, writing
the editor role, on at least one project. Names may contain '/': they are path parameters that
match several segments, and every route ends with a fixed suffix.

The online read (``POST /api/v1/features/online``) is the one route whose latency is a target.
With auth off, ``OnlineReadFastPath`` (the innermost middleware) answers it without FastAPI's
routing and dependency machinery, by running the route's own code (``_online_read``: the app's
serving service, its prepared plan, the same response) on the body ``RequestLimits`` already
bounded; a read it cannot answer goes on to the route, so errors and auth are the route's.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from modelyard.core.errors import InvalidArgument
from modelyard.core.features import Materialization, ModelFeaturePin, parse_feature_ref
from modelyard.features.service import FeatureStoreService
from modelyard.server.deps import ANONYMOUS_ADMIN, auth_enabled
from modelyard.server.limits import replay_body
from modelyard.server.routers._common import (
    Call,
    WireJSONResponse,
    built,
    get_call,
    json_body_schema,
    parse_json_body,
)
from modelyard.server.routers.projects import ERRORS
from modelyard.store.features import FeatureStore
from modelyard.wire import API_PREFIX
from modelyard.wire.features import (
    AppliedEntity,
    AppliedService,
    AppliedView,
    EntityVersionList,
    FeatureDriftBody,
    FeatureEntityBody,
    FeatureEntityVersionBody,
    FeatureServiceBody,
    FeatureServiceVersionBody,
    FeatureViewBody,
    FeatureViewVersionBody,
    FreshnessList,
    MaterializationCreate,
    MaterializationList,
    ModelPinCreate,
    ModelPinList,
    OnlineFeaturesRequest,
    OnlineFeaturesResponse,
    ServiceVersionList,
    TrainingSetLinkCreate,
    TrainingSetLinkList,
    ViewProfileBody,
    ViewVersionList,
)

router = APIRouter(prefix=API_PREFIX + "/features", tags=["features"], responses=ERRORS)
#: The online read alone, registered before every other router (``register_serving``): FastAPI
#: tries an app's routes in order, and this one is the hot path of online serving.
serving_router = APIRouter(prefix=API_PREFIX + "/features", tags=["features"], responses=ERRORS)
Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="The version number.")]
Name = Annotated[str, Path(max_length=256, description="The name; it may contain '/'.")]
Target = Annotated[
    str | None, Query(max_length=300, description="The online store whose runs count (default: the server's).")
]
Against = Annotated[
    str | None,
    Query(max_length=300, description="The training set, DATASET@vN (default: the newest saved from the view)."),
]


def feature_store(c: Call) -> FeatureStore:
    return c.stores.features


def feature_service(c: Call) -> FeatureStoreService:
    return FeatureStoreService(c.stores.features)


class _Serving:
    """The app's one service with an online store, built on the first online request (its
    prepared plans are then reused across requests) over the online store the settings name
    (MODELYARD_ONLINE_STORE_URI; default ``<home>/online.db``)."""

    def __init__(self) -> None:
        self._service: FeatureStoreService | None = None
        self._lock = threading.Lock()

    def get(self, c: Call) -> FeatureStoreService:
        if self._service is None:
            with self._lock:
                if self._service is None:
                    from modelyard.features.online import LazyOnlineStore
                    from modelyard.settings import load_settings

                    online = LazyOnlineStore(load_settings().online_uri)
                    self._service = FeatureStoreService(c.stores.features, online=online)
        return self._service


def serving_service(c: Call) -> FeatureStoreService:
    serving: _Serving = c.request.app.state.feature_serving
    return serving.get(c)


def release_service(c: Call) -> FeatureStoreService:
    """The feature store service the registry's release check and the quality routes use on the
    server: the online store the app serves from, and the dataset service for views that read
    dataset versions (and for training sets)."""
    from modelyard.data.service import DatasetService
    from modelyard.settings import load_settings

    datasets = DatasetService(c.stores.datasets, c.services.artifacts, load_settings().home / "cache")
    return FeatureStoreService(c.stores.features, datasets, online=serving_service(c).online)


def _json(model: Any) -> dict[str, Any]:
    return dict(model.model_dump(mode="json"))


def _versions(versions: list[Any]) -> WireJSONResponse:
    return WireJSONResponse({"versions": [_json(v) for v in versions]})


# --- writes ------------------------------------------------------------------------------------


@router.post(
    "/entities",
    response_model=AppliedEntity,
    responses={201: {"model": AppliedEntity, "description": "A new version was created."}},
)
def put_entity(request: FeatureEntityBody, c: Call = Depends(get_call)) -> Any:
    """Record the entity as its next version unless the latest has the same digest (201 when
    created, 200 with the latest version otherwise)."""
    body = built(request.entity)
    store = feature_store(c)
    c.allow_somewhere("editor")
    done = store.put_entity(body)
    if done.created:
        c.audit("put_feature_entity", "feature_entity", body.name, version=done.version.version)
    return WireJSONResponse(
        {"version": _json(done.version), "created": done.created}, status_code=201 if done.created else 200
    )


@router.post(
    "/views",
    response_model=AppliedView,
    responses={201: {"model": AppliedView, "description": "A new version was created."}},
)
def put_view(request: FeatureViewBody, c: Call = Depends(get_call)) -> Any:
    """Record the view as its next version unless the latest has the same digest. Its entities
    must exist (404, naming the closest); their join keys are recorded on the version."""
    body = built(request.entity)
    store = feature_store(c)
    c.allow_somewhere("editor")
    feature_service(c).check_view(body)
    done = store.put_view(body)
    if done.created:
        c.audit("put_feature_view", "feature_view", body.name, version=done.version.version)
    return WireJSONResponse(
        {"version": _json(done.version), "created": done.created}, status_code=201 if done.created else 200
    )


@router.post(
    "/services",
    response_model=AppliedService,
    responses={201: {"model": AppliedService, "description": "A new version was created."}},
)
def put_service(request: FeatureServiceBody, c: Call = Depends(get_call)) -> Any:
    """Record the service as its next version unless the latest has the same digest. Every
    reference must be pinned (``view@vN:feature``, 400 otherwise) and resolve (404 otherwise)."""
    body = built(request.entity)
    store = feature_store(c)
    c.allow_somewhere("editor")
    for text in body.features:
        if parse_feature_ref(text).version is None:
            raise InvalidArgument(f"feature service {body.name!r}: reference {text!r} is not pinned (view@vN:feature)")
    done = store.put_service(feature_service(c).pin_service(body))
    if done.created:
        c.audit("put_feature_service", "feature_service", body.name, version=done.version.version)
    return WireJSONResponse(
        {"version": _json(done.version), "created": done.created}, status_code=201 if done.created else 200
    )


@router.post("/materializations", response_model=Materialization, status_code=201)
def record_materialization(request: MaterializationCreate, c: Call = Depends(get_call)) -> Any:
    """Record one materialisation run of a view version (404 if the version does not exist)."""
    body = request.entity()
    store = feature_store(c)
    c.allow_somewhere("editor")
    store.record_materialization(body)
    c.audit("record_materialization", "feature_view", body.view, version=body.version, target=body.target)
    return WireJSONResponse(_json(body), status_code=201)


@router.post("/training-sets", response_model=TrainingSetLinkList, status_code=201)
def link_training_set(body: TrainingSetLinkCreate, c: Call = Depends(get_call)) -> Any:
    """Record the view versions a training set (a dataset version) was built from."""
    store = feature_store(c)
    c.allow_somewhere("editor")
    store.link_training_set(body.dataset, body.dataset_version, [(n, v) for n, v in body.views], body.profiles)
    c.audit("link_training_set", "dataset", body.dataset, version=body.dataset_version)
    links = store.list_views_of_training_set(body.dataset, body.dataset_version)
    return WireJSONResponse({"links": [vars(link) for link in links]}, status_code=201)


@router.post("/model-pins", response_model=ModelFeaturePin)
def pin_model_version(request: ModelPinCreate, c: Call = Depends(get_call)) -> Any:
    """Record the feature service version a model version was trained on (404 if the service
    version does not exist; 409 if the model version is pinned to another)."""
    body = request.entity()
    store = feature_store(c)
    c.allow_somewhere("editor")
    pin = store.pin_model_version(body)
    c.audit("pin_model_features", "model", body.model, version=body.model_version, service=pin.service_ref)
    return WireJSONResponse(_json(pin))


@router.get("/model-pins", response_model=ModelPinList)
def list_model_pins(service: str | None = None, c: Call = Depends(get_call)) -> Any:
    """Every model version's pin (of ``service`` only, when given)."""
    store = feature_store(c)
    c.allow_somewhere("viewer")
    return WireJSONResponse({"pins": [_json(p) for p in store.list_model_pins(service)]})


@router.get("/model-pins/{model:path}/versions/{version}", response_model=ModelFeaturePin)
def get_model_pin(model: Name, version: Version, c: Call = Depends(get_call)) -> Any:
    store = feature_store(c)
    c.allow_somewhere("viewer")
    return WireJSONResponse(_json(store.get_model_pin(model, version)))


async def online_request(request: Request) -> OnlineFeaturesRequest:
    return await parse_json_body(request, OnlineFeaturesRequest)


@serving_router.post(
    "/online", response_model=OnlineFeaturesResponse, openapi_extra=json_body_schema(OnlineFeaturesRequest)
)
async def get_online_features(
    c: Call = Depends(get_call), body: OnlineFeaturesRequest = Depends(online_request)
) -> Any:
    """The latest values of ``features`` (or of a ``service``'s) for each entity row. An entity
    the online store does not have gets nulls and ``found`` false for that view, never an error
    for the batch; a row without a join key is a 400."""
    # The hot path of online serving: the body is parsed in one pass of pydantic's JSON parser,
    # and with auth off the read runs on the event loop (a prepared plan: one round trip to the
    # online store), with no hop to the threadpool and back; with auth on, authorising may
    # query the store, so the whole read goes to the threadpool like any other route.
    if auth_enabled(c.request):
        return await run_in_threadpool(_online_read, body, c)
    return _online_read(body, c)


ONLINE_PATH = API_PREFIX + "/features/online"
_ONLINE_ROUTE = next(r for r in serving_router.routes if isinstance(r, APIRoute) and r.path == ONLINE_PATH)


class OnlineReadFastPath:
    """Pure ASGI, innermost of the app's middleware: answers ``POST /api/v1/features/online``
    with auth off as the route would, minus FastAPI's per-request routing, dependency solving and
    exception plumbing (a third of the read's CPU on the server). The body is validated by the
    route's wire model and read by the route's ``_online_read``; the response carries the route's
    template for ``/metrics``. Anything else (another path, auth on, a body that is not JSON) goes
    to the app untouched, and so does a read that raises: the route then runs it again and
    answers with the app's error handlers, so an error response is exactly the route's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != ONLINE_PATH
            or scope["method"] != "POST"
            or scope["app"].state.authenticator is not None
            or not _json_content(scope)
        ):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        try:
            body = OnlineFeaturesRequest.model_validate_json(raw)
            c = Call(Request(scope, receive), ANONYMOUS_ADMIN, scope["app"].state.services)
            response = _online_read(body, c)
        except Exception:  # the route answers it (see the class docstring)
            await self.app(scope, replay_body(raw, receive), send)
            return
        scope["route"] = _ONLINE_ROUTE  # as the router sets it: /metrics labels by its path
        await response(scope, receive, send)


def _json_content(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value.split(b";", 1)[0].strip().lower() == b"application/json")
    return False


def _online_read(body: OnlineFeaturesRequest, c: Call) -> WireJSONResponse:
    service = serving_service(c)
    c.allow_somewhere("viewer")
    if (body.features is None) == (body.service is None):
        raise InvalidArgument("give either 'features' or 'service'")
    wanted: Any = body.service if body.service is not None else body.features
    result = service.get_online_features(body.entities, wanted, full_feature_names=body.full_feature_names)
    return WireJSONResponse(
        {"features": result.features, "views": result.views, "values": result.values, "found": result.found}
    )


@router.get("/freshness", response_model=FreshnessList)
def get_freshness(c: Call = Depends(get_call)) -> Any:
    """Per view (latest versions): how far it is materialised into the server's online store."""
    service = serving_service(c)
    c.allow_somewhere("viewer")
    return WireJSONResponse({"views": [vars(f) for f in service.freshness()]})


# --- reads -------------------------------------------------------------------------------------


@router.get("/entities", response_model=EntityVersionList)
def list_entities(c: Call = Depends(get_call)) -> Any:
    """The latest version of every entity, by name."""
    store = feature_store(c)
    c.allow_somewhere("viewer")
    return _versions(store.list_entities())


@router.get("/views", response_model=ViewVersionList)
def list_views(c: Call = Depends(get_call)) -> Any:
    """The latest version of every feature view, by name."""
    store = feature_store(c)
    c.allow_somewhere("viewer")
    return _versions(store.list_views())


@router.get("/services", response_model=ServiceVersionList)
def list_services(c: Call = Depends(get_call)) -> Any:
    """The latest version of every feature service, by name."""
    store = feature_store(c)
    c.allow_somewhere("viewer")
    return _versions(store.list_services())


@router.get("/entities/{name:path}/versions", response_model=EntityVersionList)
def list_entity_versions(name: Name, c: Call = Depends(get_call)) -> Any:
    store = feature_store(c)
    c.allow_somewhere("viewer")
    return _versions(store.list_entity_versions(name))


@router.get("/views/{name:path}/versions", response_model=ViewVersionList)
def list_view_versions(name: Name, c: Call = Depends(get_call)) -> Any:
    store = feature_store(c)
    c.allow_somewhere("viewer")
    return _versions(store.list_view_versions(name))


@router.get("/services/{name:path}/versions", response_model=ServiceVersionList)
def list_service_versions(name: Name, c: Call = Depends(get_call)) -> Any:
    store = feature_store(c)
    c.allow_somewhere("viewer")
    return _versions(store.list_service_versions(name))


@router.get("/entities/{name:path}/latest", response_model=FeatureEntityVersionBody)
def get_latest_entity(name: Name, c: Call = Depends(get_call)) -> Any:
    store = feature_store(c)
    c.allow_somewhere("viewer")
    return WireJSONResponse(_json(store.get_entity(name)))


@router.get("/views/{name:path}/latest", response_model=FeatureViewVersionBody)
def get_latest_view(name: Name, c: Call = Depends(get_call)) -> Any:
    store = feature_store(c)
    c.allow_somewhere("viewer")
    return WireJSONResponse(_json(store.get_view(name)))


@router.get("/services/{name:path}/latest", response_model=FeatureServiceVersionBody)
def get_latest_service(name: Name, c: Call = Depends(get_call)) -> Any:
    store = feature_store(c)
    c.allow_somewhere("viewer")
    return WireJSONResponse(_json(store.get_service(name)))


@router.get("/views/{name:path}/versions/{version}/materializations", response_model=MaterializationList)
def list_materializations(name: Name, version: Version, target: str | None = None, c: Call = Depends(get_call)) -> Any:
    """The materialisation runs of a view version (into ``target`` only, when given), oldest first."""
    store = feature_store(c)
    c.allow_somewhere("viewer")
    return WireJSONResponse({"runs": [_json(r) for r in store.list_materializations(name, version, target)]})


@router.get("/views/{name:path}/versions/{version}/profile", response_model=ViewProfileBody)
def get_view_profile(name: Name, version: Version, target: Target = None, c: Call = Depends(get_call)) -> Any:
    """The statistics of what was materialised: the profiles of the view version's runs into
    ``target`` merged (400 when no run recorded one)."""
    from modelyard.features.quality import profile_summary

    c.allow_somewhere("viewer")
    service = release_service(c)
    found, profile, runs = service.view_profile(f"{name}@v{version}", target)
    features = [vars(s) for s in profile_summary(profile, [f.name for f in found.definition.features])]
    return WireJSONResponse(
        {
            "view": found.ref,
            "target": target if target is not None or service.online is None else service.online.name,
            "runs": runs,
            "rows": profile.rows,
            "features": features,
            "profile": profile.to_dict(),
        }
    )


@router.get("/views/{name:path}/versions/{version}/drift", response_model=FeatureDriftBody)
def get_view_drift(
    name: Name, version: Version, against: Against = None, target: Target = None, c: Call = Depends(get_call)
) -> Any:
    """Served features against training: the drift of the view version's materialised profile
    from its features' profile in the training set ``against`` (400 without a profile, or
    without a training set saved from the view when ``against`` is not given)."""
    from dataclasses import asdict

    from modelyard.monitoring.features import feature_drift

    c.allow_somewhere("viewer")
    done = feature_drift(release_service(c), f"{name}@v{version}", against, target)
    result = done.result
    return WireJSONResponse(
        {
            "view": done.view,
            "against": done.against,
            "target": done.target,
            "dataset_drift": result.dataset_drift,
            "share_drifted": result.share_drifted,
            "drift_share": result.drift_share,
            "reference_rows": result.reference_rows,
            "current_rows": result.current_rows,
            "columns": [{**asdict(col), "score": col.score} for col in result.columns],
            "skipped": dict(result.skipped),
        }
    )


@router.get("/views/{name:path}/versions/{version}/training-sets", response_model=TrainingSetLinkList)
def list_training_sets_of_view(name: Name, version: Version, c: Call = Depends(get_call)) -> Any:
    store = feature_store(c)
    c.allow_somewhere("viewer")
    return WireJSONResponse({"links": [vars(link) for link in store.list_training_sets_of_view(name, version)]})


@router.get("/training-sets/{dataset:path}/versions/{version}/views", response_model=TrainingSetLinkList)
def list_views_of_training_set(dataset: Name, version: Version, c: Call = Depends(get_call)) -> Any:
    store = feature_store(c)
    c.allow_somewhere("viewer")
    return WireJSONResponse({"links": [vars(link) for link in store.list_views_of_training_set(dataset, version)]})


@router.get("/entities/{name:path}/versions/{version}", response_model=FeatureEntityVersionBody)
def get_entity(name: Name, version: Version, c: Call = Depends(get_call)) -> Any:
    store = feature_store(c)
    c.allow_somewhere("viewer")
    return WireJSONResponse(_json(store.get_entity(name, version)))


@router.get("/views/{name:path}/versions/{version}", response_model=FeatureViewVersionBody)
def get_view(name: Name, version: Version, c: Call = Depends(get_call)) -> Any:
    store = feature_store(c)
    c.allow_somewhere("viewer")
    return WireJSONResponse(_json(store.get_view(name, version)))


@router.get("/services/{name:path}/versions/{version}", response_model=FeatureServiceVersionBody)
def get_service(name: Name, version: Version, c: Call = Depends(get_call)) -> Any:
    store = feature_store(c)
    c.allow_somewhere("viewer")
    return WireJSONResponse(_json(store.get_service(name, version)))


def register_serving(app: FastAPI) -> None:
    """The online read, and the holder of the app's serving service (built on first use)."""
    app.state.feature_serving = _Serving()
    app.include_router(serving_router)
    # Appended, not added: innermost, inside the auth guard and RequestLimits (see the class).
    app.user_middleware.append(Middleware(OnlineReadFastPath))


def register(app: FastAPI) -> None:
    """The other routes (``register_serving`` comes first)."""
    app.include_router(router)
