"""``HttpTrackingStore``: the tracking store contract over the REST API v1 of a modelyard server
(the registry's and the datasets' are ``client/models.py`` and ``client/datasets.py``, over the
same ``ApiClient``).

``open_stores`` builds it for ``MODELYARD_STORE_URI=http://host:port``; the contract suite in
``tests/contract`` runs against it like against SQLite and PostgreSQL. Typed errors come back
from the server's JSON error body (``wire.error_from_body``), so callers catch ``NotFound`` or
``Conflict`` exactly as they would in-process.

Retried writes are safe because ids are generated here, before the first attempt (a retried
``create_run`` finds the run it created), and because the server's writes are idempotent.

Request bodies are the ``wire.tracking`` models the server's routes decode, checked here by
``request`` (see ``_transport``), except on the metric hot path: ``log_metrics``/``log_batch``
build ``MetricBatch``/``LogBatchBody`` with ``model_construct`` (no pydantic validation of the
thousands of points; ``encode_metrics`` checks values, steps and times as the SQL stores do, and
the server validates the whole body with the same model) and write it with the model's own
serializer. Measured on 1,000 points: pydantic validation would add about 5 ms per batch (over
4x the encoding itself), the model's serializer costs about what ``orjson.dumps`` of the
equivalent dict did (tens of microseconds either way, well under a request's round trip).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import quote

from modelyard.client._transport import HttpAggregateStore, as_entities, decode, request
from modelyard.client.models import name_path
from modelyard.core.errors import AlreadyExists, InvalidArgument, NotFound
from modelyard.core.ids import new_id
from modelyard.core.tracking import (
    ArtifactEntry,
    LatestMetric,
    LifecycleStage,
    Metric,
    Project,
    Run,
    RunInput,
    RunLink,
    RunQuery,
    RunsResult,
    RunStatus,
)
from modelyard.core.validation import metric_step, metric_value
from modelyard.store.interfaces import TrackingStore
from modelyard.wire.tracking import (
    ArtifactList,
    ArtifactsRecord,
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
    ProjectBody,
    ProjectCreate,
    ProjectList,
    ProjectName,
    RunBody,
    RunCreate,
    RunLinkList,
    RunList,
    RunUpdate,
    SearchRuns,
    SearchRunsResult,
    TagsBody,
)

__all__ = ["HttpTrackingStore"]

_LIFECYCLE_NAMES: dict[LifecycleStage | None, Literal["active", "deleted", "all"]] = {
    LifecycleStage.ACTIVE: "active",
    LifecycleStage.DELETED: "deleted",
    None: "all",
}


def _with_shared_nan(runs: list[Run]) -> list[Run]:
    """Make every NaN latest value the ``math.nan`` object, as the SQL stores return it, so runs
    read through HTTP compare equal to runs read in-process (``nan == nan`` is False, and
    container equality falls back to identity)."""
    for run in runs:
        for key, latest in run.metrics.items():
            if latest.value != latest.value and latest.value is not math.nan:
                run.metrics[key] = LatestMetric.model_construct(
                    key=latest.key, value=math.nan, step=latest.step, timestamp=latest.timestamp
                )
    return runs


def _run(content: bytes) -> Run:
    return _with_shared_nan([decode(content, RunBody, Run)])[0]


def _links(content: bytes) -> list[RunLink]:
    return [RunLink(r.run_id, r.project_id, r.context) for r in RunLinkList.model_validate_json(content).runs]


def _runs(content: bytes) -> list[Run]:
    return _with_shared_nan(as_entities(RunList.model_validate_json(content).runs, Run))


def _float(value: Any) -> float:
    if type(value) is float:
        return value
    result = float(value)
    return math.nan if result != result else result


def _q(segment: str) -> str:
    """One path segment, percent-encoded (ids and keys may hold '/', spaces, '%')."""
    return quote(segment, safe="")


def _strings(values: dict[str, Any] | None) -> dict[str, str]:
    """Params and tags travel as strings, the way the stores keep them (``3`` -> ``"3"``)."""
    return {k: v if isinstance(v, str) else str(v) for k, v in (values or {}).items()}


def encode_metrics(points: Sequence[Metric]) -> list[tuple[str, float, int, int]]:
    """Points as ``(key, value, step, timestamp)`` rows of ``MetricBatch``, values checked and
    converted the way the SQL stores do it (the wire model's serializer spells NaN and infinities
    as JSON strings)."""
    rows: list[tuple[str, float, int, int]] = []
    append = rows.append
    for point in points:
        key, value, step, timestamp = point
        if type(value) is not float:
            value = metric_value(value, key)
        if type(step) is not int:
            step = metric_step(step, key)
        if type(timestamp) is not int:
            raise InvalidArgument(f"metric {key!r} timestamp {timestamp!r} is not a millisecond time")
        append((key, value, step, timestamp))
    return rows


class HttpTrackingStore(HttpAggregateStore, TrackingStore):
    """The tracking store of a modelyard server (``http(s)://host:port[/prefix]``)."""

    def _project(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> Project:
        return decode(self.api.send(method, path, idempotent=idempotent, **kwargs).content, ProjectBody, Project)

    # -- projects -----------------------------------------------------------------------------

    def create_project(self, name: str, *, project_id: str | None = None, description: str | None = None) -> Project:
        pid = project_id or new_id()
        body = request(ProjectCreate, name=name, id=pid, description=description)
        try:
            return self._project("POST", "/projects", idempotent=False, body=body)
        except AlreadyExists:
            if project_id is None:
                # Our own earlier attempt may have created it before the connection dropped.
                existing = self.get_project_by_name(name)
                if existing.id == pid:
                    return existing
            raise

    def get_project(self, project_id: str) -> Project:
        return self._project("GET", f"/projects/{_q(project_id)}", idempotent=True)

    def get_project_by_name(self, name: str) -> Project:
        if not name:
            raise NotFound(f"project {name!r} not found")
        return self._project("GET", f"/projects/by-name/{_q(name)}", idempotent=True)

    def get_or_create_project(self, name: str) -> Project:
        return self._project("POST", "/projects/get-or-create", idempotent=True, body=request(ProjectName, name=name))

    def list_projects(self, *, include_deleted: bool = False) -> list[Project]:
        response = self.api.send(
            "GET", "/projects", idempotent=True, params={"include_deleted": str(include_deleted).lower()}
        )
        return as_entities(ProjectList.model_validate_json(response.content).projects, Project)

    # -- runs ---------------------------------------------------------------------------------

    def create_run(
        self,
        project_id: str,
        *,
        run_id: str | None = None,
        name: str | None = None,
        start_time: int | None = None,
        parent_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        status: RunStatus = RunStatus.RUNNING,
    ) -> Run:
        body = request(
            RunCreate,
            project_id=project_id,
            run_id=run_id or new_id(),
            name=name,
            start_time=start_time,
            parent_run_id=parent_run_id,
            tags=_strings(tags),
            status=status,
        )
        return _run(self.api.send("POST", "/runs", idempotent=True, body=body).content)

    def get_run(self, run_id: str) -> Run:
        return _run(self.api.send("GET", f"/runs/{_q(run_id)}", idempotent=True).content)

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        end_time: int | None = None,
        name: str | None = None,
        notes: str | None = None,
    ) -> Run:
        if status is not None:
            try:
                status = RunStatus(status)
            except ValueError:
                raise InvalidArgument(f"invalid run status {status!r}")
        body = request(RunUpdate, status=status, end_time=end_time, name=name, notes=notes)
        response = self.api.send("PATCH", f"/runs/{_q(run_id)}", idempotent=True, body=body)
        return _run(response.content)

    def set_run_lifecycle(self, run_id: str, stage: LifecycleStage) -> None:
        body = request(LifecycleBody, stage=LifecycleStage(stage))
        self.api.send("PUT", f"/runs/{_q(run_id)}/lifecycle", idempotent=True, body=body)

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        self.api.send(
            "POST", f"/runs/{_q(run_id)}/params", idempotent=True, body=request(ParamsBody, params=_strings(params))
        )

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        body = request(TagsBody, tags=_strings(tags))
        self.api.send("POST", f"/runs/{_q(run_id)}/tags", idempotent=True, body=body)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.api.send("DELETE", f"/runs/{_q(run_id)}/tags/{_q(key)}", idempotent=False)

    def log_inputs(self, run_id: str, inputs: Sequence[RunInput]) -> None:
        body = request(InputsBody.model_validate, {"inputs": [RunInput.model_validate(i).model_dump() for i in inputs]})
        self.api.send("POST", f"/runs/{_q(run_id)}/inputs", idempotent=True, body=body)

    def log_model_use(self, run_id: str, name: str, version: int, context: str) -> None:
        if isinstance(version, bool) or not isinstance(version, int):
            raise InvalidArgument(f"a model version is an integer, got {version!r}")
        body = request(ModelUseBody, name=name, version=version, context=context)
        self.api.send("POST", f"/runs/{_q(run_id)}/model-uses", idempotent=True, body=body)

    def add_artifacts(self, run_id: str, entries: Sequence[ArtifactEntry]) -> None:
        artifacts = [ArtifactEntry.model_validate(e).model_dump() for e in entries]
        body = request(ArtifactsRecord.model_validate, {"artifacts": artifacts})
        self.api.send("POST", f"/runs/{_q(run_id)}/artifacts", idempotent=True, body=body)

    def list_artifacts(self, run_id: str, prefix: str | None = None) -> list[ArtifactEntry]:
        params = {"prefix": prefix} if prefix else None
        response = self.api.send("GET", f"/runs/{_q(run_id)}/artifacts", idempotent=True, params=params)
        return as_entities(ArtifactList.model_validate_json(response.content).artifacts, ArtifactEntry)

    def search_runs(self, query: RunQuery) -> RunsResult:
        body = request(
            SearchRuns,
            project_ids=list(query.project_ids),
            filter=query.filter,
            order_by=list(query.order_by),
            max_results=query.max_results,
            page_token=query.page_token,
            lifecycle=_LIFECYCLE_NAMES[LifecycleStage(query.lifecycle) if query.lifecycle else None],
            include_metrics=query.include_metrics,
            include_params=query.include_params,
            include_tags=query.include_tags,
        )
        content = self.api.send("POST", "/runs/search", idempotent=True, body=body).content
        page = SearchRunsResult.model_validate_json(content)
        runs = _with_shared_nan(as_entities(page.runs, Run))
        return RunsResult(runs=runs, next_page_token=page.next_page_token, total=page.total)

    def find_runs_by_input(self, name: str, version: int) -> list[RunLink]:
        """The server leaves out the runs of projects the caller may not read."""
        if isinstance(version, bool) or not isinstance(version, int):
            raise InvalidArgument(f"a dataset version is an integer, got {version!r}")
        if version < 1 or not name:
            return []  # no dataset has such a version (and the route accepts none)
        path = f"/datasets/{name_path(name)}/versions/{version}/readers"
        return _links(self.api.send("GET", path, idempotent=True).content)

    def find_runs_using_model(self, name: str, version: int) -> list[RunLink]:
        """The server leaves out the runs of projects the caller may not read."""
        if isinstance(version, bool) or not isinstance(version, int):
            raise InvalidArgument(f"a model version is an integer, got {version!r}")
        if not 1 <= version <= 2**31 - 1 or not name:
            return []  # no model has such a version (and the route accepts none)
        path = f"/models/{name_path(name)}/versions/{version}/used-by"
        return _links(self.api.send("GET", path, idempotent=True).content)

    def list_child_runs(self, parent_run_id: str) -> list[RunLink]:
        """The server leaves out children in projects the caller may not read."""
        if not parent_run_id:
            return []  # no run has an empty id (and no route takes one)
        response = self.api.send("GET", f"/runs/{_q(parent_run_id)}/children", idempotent=True)
        return _links(response.content)

    # -- liveness -----------------------------------------------------------------------------

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        if run_ids:
            self.api.send("POST", "/heartbeats", idempotent=True, body=request(HeartbeatBody, run_ids=list(run_ids)))

    def list_stale_runs(self, older_than_ms: int) -> list[Run]:
        """Only runs in projects the caller may read."""
        response = self.api.send("GET", "/stale-runs", idempotent=True, params={"older_than_ms": older_than_ms})
        return _runs(response.content)

    def kill_stale_runs(self, run_ids: Sequence[str], older_than_ms: int) -> list[Run]:
        if not run_ids:
            return []
        body = request(KillStaleRuns, run_ids=list(run_ids), older_than_ms=older_than_ms)
        return _runs(self.api.send("POST", "/stale-runs/kill", idempotent=True, body=body).content)

    # -- metrics ------------------------------------------------------------------------------

    def log_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        """One request per batch (the SDK's flusher sends each flushed batch through here)."""
        body = MetricBatch.model_construct(metrics=encode_metrics(metrics))  # unchecked: the hot path
        self.api.send("POST", f"/runs/{_q(run_id)}/metrics", idempotent=True, body=body)

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """One request, one transaction on the server: a param conflict writes nothing."""
        body = LogBatchBody.model_construct(  # unchecked: the hot path (see the module docstring)
            metrics=encode_metrics(metrics), params=_strings(params), tags=_strings(tags)
        )
        self.api.send("POST", f"/runs/{_q(run_id)}/batch", idempotent=True, body=body)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        response = self.api.send("GET", f"/runs/{_q(run_id)}/metric-history", idempotent=True, params={"key": key})
        return [
            Metric(key, _float(value), step, timestamp)
            for value, step, timestamp in MetricHistory.model_validate_json(response.content).points
        ]

    def count_metric_points(self, run_id: str | None = None) -> int:
        params = {"run_id": run_id} if run_id is not None else None
        response = self.api.send("GET", "/metric-points/count", idempotent=True, params=params)
        return MetricCount.model_validate_json(response.content).count
