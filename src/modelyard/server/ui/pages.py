"""The HTML pages: projects, a project's runs table, a run, the comparison of runs, and login.
(Datasets and models have their own modules; a run page links to both.)

Pages read through the services on ``app.state`` (the tracking service and, for the cheap
run counts of the projects list, the metadata store), never through the REST API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jinja2
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from modelyard.core.errors import FilterSyntaxError, InvalidArgument, NotFound
from modelyard.core.registry import ModelVersion
from modelyard.core.tracking import Project, Run, RunQuery, now_millis
from modelyard.server.app import Services
from modelyard.server.deps import Principal, get_services
from modelyard.server.ui import catalog, charts, nesting, previews
from modelyard.server.ui._common import SYSTEM_TAG_PREFIX, can_read, page_principal, render, visible_project_ids
from modelyard.server.ui.runs_table import (
    ATTRIBUTE_COLUMNS,
    KIND_ORDER,
    PAGE_SIZES,
    TableState,
    available_columns,
    default_columns,
)
from modelyard.tracking.service import is_stale

#: Counting runs loads their rows without children; past this many the list says "10,000+".
RUN_COUNT_LIMIT = 10_000


@dataclass
class ProjectSummary:
    project: Project
    runs: int
    runs_capped: bool
    last_activity: int | None


def _summarise(services: Services, project: Project) -> ProjectSummary:
    """Run count and last activity with the lightest query the store interface offers: runs
    without params, tags or metrics, newest first, at most ``RUN_COUNT_LIMIT`` of them."""
    result = services.stores.tracking.search_runs(
        RunQuery(
            project_ids=[project.id],
            order_by=("start_time DESC",),
            max_results=RUN_COUNT_LIMIT,
            include_metrics=False,
            include_params=False,
            include_tags=False,
        )
    )
    last: int | None = None
    if result.runs:
        newest = result.runs[0]
        last = max(newest.start_time, newest.end_time or 0)
        ended = [r.end_time for r in result.runs[:100] if r.end_time]
        if ended:
            last = max(last, *ended)
    capped = result.next_page_token is not None
    return ProjectSummary(project, len(result.runs), capped, last)


def _catalog_links(
    services: Services, run: Run, readable: Callable[[str | None], bool]
) -> tuple[dict[int, str], list[ModelVersion]]:
    """Links from a run page to the dataset versions it read (those in this store) and the model
    versions it registered (one indexed lookup by run; a version is listed when the user may read
    its model's project, which need not be the run's)."""
    links: dict[int, str] = {}
    datasets = catalog.dataset_store(services)
    for index, item in enumerate(run.inputs):
        number = catalog.parse_version_number(item.version)
        if number is None:
            continue
        try:
            datasets.get_dataset_version(item.name, number)
        except (NotFound, InvalidArgument):
            continue
        links[index] = catalog.dataset_url(item.name, number)
    registered: list[ModelVersion] = []
    models = catalog.model_store(services)
    projects: dict[str, str | None] = {}
    for version in models.list_model_versions_by_run(run.id):  # by model name, newest first
        if version.model_name not in projects:
            try:
                projects[version.model_name] = models.get_registered_model(version.model_name).project_id
            except NotFound:
                projects[version.model_name] = None
        if readable(projects[version.model_name]):
            registered.append(version)
    return links, registered


def build_router(env: jinja2.Environment, route_class: type[APIRoute] = APIRoute) -> APIRouter:
    router = APIRouter(include_in_schema=False, route_class=route_class)

    @router.get("/", response_class=RedirectResponse)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

    @router.get("/ui", response_class=RedirectResponse)
    def ui_root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

    @router.get("/ui/", response_class=HTMLResponse)
    def projects_page(
        request: Request,
        principal: Principal = Depends(page_principal),
        services: Services = Depends(get_services),
    ) -> HTMLResponse:
        visible = visible_project_ids(request, principal)
        projects = [p for p in services.tracking.list_projects() if visible is None or p.id in visible]
        summaries = [_summarise(services, p) for p in projects]
        summaries.sort(key=lambda s: -(s.last_activity or 0))
        return render(
            env, request, "projects.html", summaries=summaries, principal=principal, count_limit=RUN_COUNT_LIMIT
        )

    @router.get("/ui/projects/{project}", response_class=HTMLResponse)
    def runs_page(
        request: Request,
        project: str,
        filter: str | None = None,
        order: str | None = None,
        cols: list[str] = Query(default=[]),
        cols_set: bool = False,
        size: int | None = None,
        page_token: str | None = None,
        back: list[str] = Query(default=[]),
        principal: Principal = Depends(page_principal),
        services: Services = Depends(get_services),
    ) -> HTMLResponse:
        tracking = services.tracking
        proj = tracking.get_project(project)
        can_read(request, principal, proj.id)
        state = TableState.from_query(
            filter=filter, order=order, cols=cols, cols_set=cols_set, size=size, page_token=page_token, back=back
        )
        runs: list[Run] = []
        rows: list[nesting.Row] = []
        next_token: str | None = None
        error: dict[str, Any] | None = None
        try:
            runs, next_token = tracking.search_runs(
                [proj.id],
                filter=nesting.page_filter(state.filter),
                order_by=[state.order],
                max_results=state.size,
                page_token=state.page_token or None,
            )
            rows = nesting.group_page(services, proj.id, proj.name, runs, user_filter=state.filter, order=state.order)
        except FilterSyntaxError as exc:
            error = {
                "message": str(exc),
                "reason": exc.reason,
                "expression": exc.expression,
                "position": exc.position,
                "in_order": exc.expression == state.order,
            }
        except InvalidArgument as exc:
            error = {"message": str(exc), "reason": str(exc), "expression": None, "position": None, "in_order": False}
        shown = [r.run for r in rows] + [child for r in rows for child in r.children]
        columns = state.columns if state.columns is not None else default_columns(shown)
        columns = sorted(columns, key=lambda c: KIND_ORDER.index(c.kind))  # grouped under one header each
        path = request.url.path
        return render(
            env,
            request,
            "runs.html",
            status_code=400 if error else 200,
            principal=principal,
            project=proj,
            state=state,
            runs=runs,
            rows=rows,
            columns=columns,
            attribute_columns=ATTRIBUTE_COLUMNS,
            chooser=available_columns(shown, columns),
            chosen={c.id for c in columns},
            error=error,
            path=path,
            next_url=state.next_url(path, next_token) if next_token else None,
            prev_url=state.prev_url(path),
            first_url=state.first_url(path) if state.back else None,
            page_sizes=PAGE_SIZES,
        )

    @router.get("/ui/runs/{run_id}", response_class=HTMLResponse)
    def run_page(
        request: Request,
        run_id: str,
        dir: str = "",
        artifact: str | None = None,
        principal: Principal = Depends(page_principal),
        services: Services = Depends(get_services),
    ) -> HTMLResponse:
        tracking = services.tracking
        run = tracking.get_run(run_id)
        can_read(request, principal, run.project_id)
        project = tracking.store.get_project(run.project_id)
        entries = tracking.list_artifacts(run.id)
        preview = None
        if artifact is not None:
            match = [e for e in entries if e.path == artifact]
            if not match:
                raise NotFound(f"artifact {artifact!r} not found in run {run.id!r}")
            preview = previews.build_preview(services.artifacts, match[0])
            if not dir and "/" in artifact:
                dir = artifact.rsplit("/", 1)[0]
        listing = previews.list_directory(entries, dir)
        input_links, registered = _catalog_links(services, run, catalog.project_filter(request, principal))
        parent = nesting.parent_of(services, run)
        children = nesting.run_children(services, run, project.name)
        user_tags = {k: v for k, v in sorted(run.tags.items()) if not k.startswith(SYSTEM_TAG_PREFIX)}
        system_tags = {k: v for k, v in sorted(run.tags.items()) if k.startswith(SYSTEM_TAG_PREFIX)}
        return render(
            env,
            request,
            "run.html",
            principal=principal,
            run=run,
            project=project,
            params=dict(sorted(run.params.items())),
            metrics=dict(sorted(run.metrics.items())),
            user_tags=user_tags,
            system_tags=system_tags,
            listing=listing,
            artifact_count=len(entries),
            preview=preview,
            input_links=input_links,
            registered=registered,
            model_url=catalog.model_url,
            parent=parent,
            children=children,
            stale=is_stale(run, now_millis()),
        )

    @router.get("/ui/compare", response_class=HTMLResponse)
    def compare_page(
        request: Request,
        runs: list[str] = Query(default=[]),
        metric: str | None = None,
        principal: Principal = Depends(page_principal),
        services: Services = Depends(get_services),
    ) -> HTMLResponse:
        tracking = services.tracking
        ids = list(dict.fromkeys(r for r in runs if r))
        error = None
        if not charts.MIN_COMPARE_RUNS <= len(ids) <= charts.MAX_COMPARE_RUNS:
            error = (
                f"select between {charts.MIN_COMPARE_RUNS} and {charts.MAX_COMPARE_RUNS} runs to compare "
                f"({len(ids)} selected)"
            )
            ids = ids[: charts.MAX_COMPARE_RUNS]
        found = [tracking.get_run(i) for i in ids]
        for project_id in {r.project_id for r in found}:
            can_read(request, principal, project_id)
        metric_keys = sorted({k for r in found for k in r.metrics})
        if metric not in metric_keys:
            metric = metric_keys[0] if metric_keys else None
        param_keys = sorted({k for r in found for k in r.params})
        differing = {k for k in param_keys if len({r.params.get(k) for r in found}) > 1}
        projects = {r.project_id: tracking.store.get_project(r.project_id) for r in found}
        return render(
            env,
            request,
            "compare.html",
            status_code=400 if error else 200,
            principal=principal,
            runs=found,
            projects=projects,
            error=error,
            metric=metric,
            metric_keys=metric_keys,
            param_keys=param_keys,
            differing=differing,
            parcoords=charts.parallel_coordinates(found, metric) if found else None,
        )

    @router.get("/ui/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/ui/", error: str | None = None) -> Response:
        if not next.startswith("/") or next.startswith("//") or "\\" in next:
            next = "/ui/"  # never redirect off-site after login
        message = "Wrong user name or password." if error == "invalid" else None
        return render(env, request, "login.html", status_code=401 if message else 200, next_url=next, error=message)

    @router.get("/login", response_class=RedirectResponse)
    def login_alias(request: Request) -> RedirectResponse:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/ui/login{query}", status_code=307)

    return router
