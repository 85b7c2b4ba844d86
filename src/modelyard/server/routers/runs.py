"""Runs and everything logged to them: params, tags, inputs, metric batches and history, search,
and the reverse lookups of the lineage graph (the runs that read a dataset version or used a
model version, a run's children).

Every route is a plain ``def``: the store calls block, so FastAPI runs them in its threadpool.
Metric batches are the exception to FastAPI's body handling: they are parsed by pydantic's JSON
parser in one pass (``parse_json_body``), because a 10,000-point batch is the hot path.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import Response

from modelyard.core.errors import NotFound
from modelyard.core.tracking import ArtifactEntry, LifecycleStage, Metric, RunInput, RunLink, RunQuery
from modelyard.server.deps import auth_enabled
from modelyard.server.routers._common import (
    Call,
    WireJSONResponse,
    get_call,
    json_body_schema,
    parse_json_body,
)
from modelyard.server.routers.projects import ERRORS
from modelyard.wire import (
    API_PREFIX,
    ArtifactsRecord,
    CheckResult,
    HeartbeatBody,
    InputsBody,
    KillStaleRuns,
    LifecycleBody,
    LogBatchBody,
    MetricBatch,
    MetricCount,
    MetricHistory,
    ModelUseBody,
    ParamsBody,
    RunBody,
    RunCreate,
    RunLinkList,
    RunList,
    RunUpdate,
    SearchRuns,
    SearchRunsResult,
    TagsBody,
)
from modelyard.wire._base import matching
from modelyard.wire.datasets import DATASET_NAME_PATTERN
from modelyard.wire.tracking import MAX_AGE_MS

router = APIRouter(prefix=API_PREFIX, tags=["runs"], responses=ERRORS)
_LIFECYCLE = {"active": LifecycleStage.ACTIVE, "deleted": LifecycleStage.DELETED, "all": None}
DatasetName = Annotated[
    str,
    matching(DATASET_NAME_PATTERN, "dataset name"),
    Path(
        max_length=200,
        json_schema_extra={"pattern": DATASET_NAME_PATTERN},
        description="The dataset's name; it may contain '/'.",
    ),
]
DatasetVersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="The dataset version number.")]
ModelName = Annotated[str, Path(max_length=256, description="The model's name; it may contain '/'.")]
ModelVersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="The model version number.")]


async def metric_batch(request: Request) -> MetricBatch:
    return await parse_json_body(request, MetricBatch)


async def log_batch_body(request: Request) -> LogBatchBody:
    return await parse_json_body(request, LogBatchBody)


def _points(rows: list[tuple[str, float, int, int]]) -> list[Metric]:
    return list(map(Metric._make, rows))


def _count_points(request: Request, n: int) -> None:
    """Feed the ``points logged`` counter of /metrics (create_app always installs it)."""
    request.app.state.telemetry.points_logged.inc(n)


# -- runs ---------------------------------------------------------------------------------------
@router.post("/runs", response_model=RunBody)
def create_run(body: RunCreate, c: Call = Depends(get_call)) -> Any:
    """Create a run; with a ``run_id`` that already exists in the project, return it (idempotent)."""
    c.allow(body.project_id, "editor")
    run = c.stores.tracking.create_run(
        body.project_id,
        run_id=body.run_id,
        name=body.name,
        start_time=body.start_time,
        parent_run_id=body.parent_run_id,
        tags=body.tags,
        status=body.status,
    )
    c.audit("create_run", "run", run.id, project_id=run.project_id)
    return WireJSONResponse(run.model_dump())


@router.post("/runs/search", response_model=SearchRunsResult)
def search_runs(body: SearchRuns, c: Call = Depends(get_call)) -> Any:
    """Runs matching the filter (the language of ``search_runs``), ordered and paged."""
    project_ids = list(body.project_ids)
    for project_id in project_ids:
        c.allow(project_id, "viewer")
    visible = None if project_ids else c.visible_projects()
    if visible is not None:
        # Without a project list the store searches everything: narrow it to what may be seen.
        project_ids = sorted(visible)
        if not project_ids:
            return WireJSONResponse({"runs": [], "next_page_token": None, "total": 0})
    result = c.stores.tracking.search_runs(
        RunQuery(
            project_ids=project_ids,
            filter=body.filter,
            order_by=tuple(body.order_by),
            max_results=body.max_results,
            page_token=body.page_token,
            lifecycle=_LIFECYCLE[body.lifecycle],
            include_metrics=body.include_metrics,
            include_params=body.include_params,
            include_tags=body.include_tags,
        )
    )
    return WireJSONResponse(
        {
            "runs": [r.model_dump() for r in result.runs],
            "next_page_token": result.next_page_token,
            "total": result.total,
        }
    )


def _links(c: Call, links: list[RunLink]) -> WireJSONResponse:
    """Links to the runs the caller may read, in the store's order (the rest are left out, so a
    listing never reveals a run of a project the caller cannot read)."""
    visible = c.visible_projects()
    return WireJSONResponse(
        {
            "runs": [
                {"run_id": link.run_id, "project_id": link.project_id, "context": link.context}
                for link in links
                if visible is None or link.project_id in visible
            ]
        }
    )


@router.get("/datasets/{name:path}/versions/{version}/readers", response_model=RunLinkList)
def find_runs_by_input(name: DatasetName, version: DatasetVersionNumber, c: Call = Depends(get_call)) -> Any:
    """The runs whose inputs include dataset version ``name@v<version>`` (one entry per input:
    a run that read it in two contexts is listed twice), ordered by project name, start time
    and run id; only runs of projects the caller may read, deleted runs left out. It is a runs
    query under the dataset's URL, so the caller's project roles filter it, not the dataset rule."""
    return _links(c, c.stores.tracking.find_runs_by_input(name, version))


@router.get("/models/{name:path}/versions/{version}/used-by", response_model=RunLinkList)
def find_runs_using_model(name: ModelName, version: ModelVersionNumber, c: Call = Depends(get_call)) -> Any:
    """The runs that recorded using model version ``name@version`` (batch scoring, context
    ``scoring``), one entry per recorded use, ordered by project name, start time and run id;
    only runs of projects the caller may read, deleted runs left out. Like a dataset's readers,
    it is a runs query under the model's URL: the caller's project roles filter it."""
    return _links(c, c.stores.tracking.find_runs_using_model(name, version))


@router.get("/runs/{run_id}/children", response_model=RunLinkList)
def list_child_runs(run_id: str, c: Call = Depends(get_call)) -> Any:
    """The runs whose parent is ``run_id`` (tuning trials, pipeline steps), ordered by project
    name, start time and id; needs read access to the parent's project, and children in projects
    the caller cannot read are left out."""
    c.allow_run(run_id, "viewer")
    return _links(c, c.stores.tracking.list_child_runs(run_id))


@router.get("/runs/{run_id}", response_model=RunBody)
def get_run(run_id: str, c: Call = Depends(get_call)) -> Any:
    run = c.stores.tracking.get_run(run_id)
    c.allow(run.project_id, "viewer")
    return WireJSONResponse(run.model_dump())


@router.patch("/runs/{run_id}", response_model=RunBody)
def update_run(run_id: str, body: RunUpdate, c: Call = Depends(get_call)) -> Any:
    """Change a run's status, end time, name or notes."""
    c.allow_run(run_id, "editor")
    run = c.stores.tracking.update_run(
        run_id, status=body.status, end_time=body.end_time, name=body.name, notes=body.notes
    )
    c.audit("update_run", "run", run_id, **body.model_dump(exclude_none=True, mode="json"))
    return WireJSONResponse(run.model_dump())


@router.put("/runs/{run_id}/lifecycle", status_code=204, response_class=Response)
def set_run_lifecycle(run_id: str, body: LifecycleBody, c: Call = Depends(get_call)) -> Response:
    """Soft-delete (``deleted``) or restore (``active``) a run."""
    c.allow_run(run_id, "editor")
    c.stores.tracking.set_run_lifecycle(run_id, body.stage)
    c.audit("delete_run" if body.stage == LifecycleStage.DELETED else "restore_run", "run", run_id)
    return Response(status_code=204)


# -- params, tags, inputs -----------------------------------------------------------------------
@router.post("/runs/{run_id}/params", status_code=204, response_class=Response)
def log_params(run_id: str, body: ParamsBody, c: Call = Depends(get_call)) -> Response:
    """Params are immutable: the same value again is a no-op, another value 409 (nothing written)."""
    c.allow_run(run_id, "editor")
    c.stores.tracking.log_params(run_id, body.params)
    c.audit("log_params", "run", run_id, keys=sorted(body.params))
    return Response(status_code=204)


@router.post("/runs/{run_id}/tags", status_code=204, response_class=Response)
def set_tags(run_id: str, body: TagsBody, c: Call = Depends(get_call)) -> Response:
    c.allow_run(run_id, "editor")
    c.stores.tracking.set_tags(run_id, body.tags)
    c.audit("set_tags", "run", run_id, keys=sorted(body.tags))
    return Response(status_code=204)


@router.delete("/runs/{run_id}/tags/{key:path}", status_code=204, response_class=Response)
def delete_tag(run_id: str, key: str, c: Call = Depends(get_call)) -> Response:
    c.allow_run(run_id, "editor")
    c.stores.tracking.delete_tag(run_id, key)
    c.audit("delete_tag", "run", run_id, key=key)
    return Response(status_code=204)


@router.post("/runs/{run_id}/inputs", status_code=204, response_class=Response)
def log_inputs(run_id: str, body: InputsBody, c: Call = Depends(get_call)) -> Response:
    """Record dataset versions the run read (idempotent on name + version + context)."""
    c.allow_run(run_id, "editor")
    c.stores.tracking.log_inputs(run_id, [RunInput(**item.model_dump()) for item in body.inputs])
    c.audit("log_inputs", "run", run_id, inputs=[i.name for i in body.inputs])
    return Response(status_code=204)


@router.post("/runs/{run_id}/model-uses", status_code=204, response_class=Response)
def log_model_use(run_id: str, body: ModelUseBody, c: Call = Depends(get_call)) -> Response:
    """Record that the run used a model version (idempotent on name + version + context)."""
    c.allow_run(run_id, "editor")
    c.stores.tracking.log_model_use(run_id, body.name, body.version, body.context)
    c.audit("log_model_use", "run", run_id, model=f"{body.name}@{body.version}", context=body.context)
    return Response(status_code=204)


@router.post("/runs/{run_id}/artifacts", status_code=204, response_class=Response)
def record_artifacts(run_id: str, body: ArtifactsRecord, c: Call = Depends(get_call)) -> Response:
    """Record files whose blobs are already stored (``PUT /blobs/{digest}``) on the run."""
    c.allow_run(run_id, "editor")
    entries = [ArtifactEntry(**e.model_dump()) for e in body.artifacts]
    c.stores.tracking.add_artifacts(run_id, entries)
    c.audit("log_artifacts", "run", run_id, paths=[e.path for e in entries])
    return Response(status_code=204)


# -- metrics ------------------------------------------------------------------------------------
@router.post(
    "/runs/{run_id}/metrics", openapi_extra=json_body_schema(MetricBatch), status_code=204, response_class=Response
)
def log_metrics(
    run_id: str, request: Request, c: Call = Depends(get_call), body: MetricBatch = Depends(metric_batch)
) -> Response:
    """Append one batch of ``[key, value, step, timestamp]`` points in one transaction; a retried
    batch adds nothing. NaN and infinities are the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
    c.allow_run(run_id, "editor")
    c.stores.tracking.log_metrics(run_id, _points(body.metrics))
    _count_points(request, len(body.metrics))
    c.audit("log_metrics", "run", run_id, points=len(body.metrics))
    return Response(status_code=204)


@router.post(
    "/runs/{run_id}/batch", openapi_extra=json_body_schema(LogBatchBody), status_code=204, response_class=Response
)
def log_batch(
    run_id: str, request: Request, c: Call = Depends(get_call), body: LogBatchBody = Depends(log_batch_body)
) -> Response:
    """Params, tags and metrics in one transaction: a param conflict writes nothing at all."""
    c.allow_run(run_id, "editor")
    c.stores.tracking.log_batch(run_id, metrics=_points(body.metrics), params=body.params, tags=body.tags)
    _count_points(request, len(body.metrics))
    c.audit("log_batch", "run", run_id, points=len(body.metrics), params=sorted(body.params), tags=sorted(body.tags))
    return Response(status_code=204)


@router.get("/runs/{run_id}/metric-history", response_model=MetricHistory)
def get_metric_history(run_id: str, key: Annotated[str, Query(min_length=1)], c: Call = Depends(get_call)) -> Any:
    """Every point of one metric as ``[value, step, timestamp]``, ordered by step then timestamp."""
    c.allow_run(run_id, "viewer")
    history = c.stores.tracking.get_metric_history(run_id, key)
    return WireJSONResponse({"key": key, "points": [(m.value, m.step, m.timestamp) for m in history]})


@router.get("/metric-points/count", response_model=MetricCount)
def count_metric_points(run_id: str | None = None, c: Call = Depends(get_call)) -> Any:
    """How many metric points are stored, for one run or in total."""
    if run_id is None:
        c.allow(None, "viewer")
    else:
        c.allow_run(run_id, "viewer")
    return WireJSONResponse({"count": c.stores.tracking.count_metric_points(run_id)})


@router.get("/store/check", response_model=CheckResult, tags=["maintenance"])
def check_store(c: Call = Depends(get_call)) -> Any:
    """Integrity check of the metadata store (admin)."""
    c.allow(None, "admin")
    return WireJSONResponse({"problems": c.stores.tracking.check()})


# -- liveness -----------------------------------------------------------------------------------
def _writable(c: Call, run_ids: list[str]) -> list[str]:
    """The ids among ``run_ids`` of runs that exist, each checked for the editor role (when auth
    is on); unknown ids are dropped, a run the caller may not write is 403."""
    if not auth_enabled(c.request):
        return run_ids
    allowed = []
    for run_id in dict.fromkeys(run_ids):
        try:
            project_id = c.stores.tracking.get_run(run_id).project_id
        except NotFound:
            continue
        c.allow(project_id, "editor")
        allowed.append(run_id)
    return allowed


@router.post("/heartbeats", status_code=204, response_class=Response)
def heartbeat(body: HeartbeatBody, c: Call = Depends(get_call)) -> Response:
    """The caller's runs are alive: each RUNNING one gets the server's time as its heartbeat
    (the SDK sends this periodically while runs are active; unknown ids are ignored)."""
    c.stores.tracking.heartbeat(_writable(c, list(body.run_ids)))
    return Response(status_code=204)


@router.get("/stale-runs", response_model=RunList)
def list_stale_runs(older_than_ms: Annotated[int, Query(ge=0, le=MAX_AGE_MS)], c: Call = Depends(get_call)) -> Any:
    """RUNNING runs with no sign of life (heartbeat, else start) for ``older_than_ms``, in the
    projects the caller may read."""
    visible = c.visible_projects()
    stale = c.stores.tracking.list_stale_runs(older_than_ms)
    return WireJSONResponse({"runs": [r.model_dump() for r in stale if visible is None or r.project_id in visible]})


@router.post("/stale-runs/kill", response_model=RunList)
def kill_stale_runs(body: KillStaleRuns, c: Call = Depends(get_call)) -> Any:
    """Mark KILLED those of ``run_ids`` still stale (editor on each run's project); each is audited."""
    killed = c.stores.tracking.kill_stale_runs(_writable(c, list(body.run_ids)), body.older_than_ms)
    for run in killed:
        c.audit("kill_stale_run", "run", run.id, project_id=run.project_id, older_than_ms=body.older_than_ms)
    return WireJSONResponse({"runs": [r.model_dump() for r in killed]})


def register(app: FastAPI) -> None:
    app.include_router(router)
