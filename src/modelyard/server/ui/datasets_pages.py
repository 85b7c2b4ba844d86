"""Dataset pages: the list of datasets, a dataset (its versions, the diff of two of them, size over
versions) and a version (overview with lineage, files, profile, validation reports).

URLs follow the reference syntax users already type: ``/ui/datasets/NAME`` and
``/ui/datasets/NAME@v3``; ``NAME@latest`` and ``NAME@<hash prefix>`` redirect to the numbered
version, so a bookmark always names immutable content. Names may contain ``/``, hence one path
route that splits on the ``@`` (names cannot contain one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from modelyard.core.datasets import DatasetVersion
from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.core.tracking import Run
from modelyard.data.changes import DatasetDiff
from modelyard.data.service import DatasetService
from modelyard.data.validation import records
from modelyard.server.app import Services
from modelyard.server.deps import Principal, get_services
from modelyard.server.ui import dataset_profile, lineage_view
from modelyard.server.ui._common import page_principal, render, url_with
from modelyard.server.ui.catalog import (
    can_read_datasets,
    dataset_service,
    dataset_url,
    project_filter,
    readable_project_ids,
    split_ref,
)

FILES_PAGE_SIZE = 100
DIFF_LIST_LIMIT = 500  # changed files listed per kind; the counts are always complete
TABS = ("overview", "files", "profile", "validation")


@dataclass
class ValidationRow:
    run: Run
    project: str
    success: bool | None
    expectations: int | None
    failed: int | None
    rows: int | None
    suite: str


def _metric(run: Run, key: str) -> int | None:
    metric = run.metrics.get(key)
    return None if metric is None else int(metric.value)


def _validation_rows(services: Services, runs: list[Run]) -> list[ValidationRow]:
    names = {p.id: p.name for p in services.stores.tracking.list_projects()}
    out = []
    for run in runs:
        verdict = run.tags.get(records.TAG_SUCCESS)
        out.append(
            ValidationRow(
                run,
                names.get(run.project_id, run.project_id),
                None if verdict is None else verdict == "true",
                _metric(run, "validation.expectations"),
                _metric(run, "validation.failed"),
                _metric(run, "validation.rows"),
                run.tags.get(records.TAG_SUITE, ""),
            )
        )
    return out


def _files_page(entries: dict[str, tuple[str, int]], query: str, page: int) -> dict[str, Any]:
    """One page of the file list (sorted by path, optionally filtered by a substring)."""
    paths = sorted(p for p in entries if query.lower() in p.lower()) if query else sorted(entries)
    pages = max(1, -(-len(paths) // FILES_PAGE_SIZE))
    page = min(max(page, 1), pages)
    start = (page - 1) * FILES_PAGE_SIZE
    shown = [(p, entries[p][0], entries[p][1]) for p in paths[start : start + FILES_PAGE_SIZE]]
    return {
        "rows": shown,
        "page": page,
        "pages": pages,
        "matching": len(paths),
        "first": start + 1,
        "last": start + len(shown),
    }


def _size_figure(versions: list[DatasetVersion]) -> dict[str, Any] | None:
    """Bytes and files of every version: growth, and the version where something dropped out."""
    live = [v for v in versions if v.removed_at is None]
    if len(live) < 2:
        return None
    labels = [f"v{v.version}" for v in live]
    return {
        "data": [
            {
                "type": "bar",
                "name": "bytes",
                "x": labels,
                "y": [v.total_size for v in live],
                "marker": {"color": "#2563eb"},
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "files",
                "x": labels,
                "y": [v.file_count for v in live],
                "yaxis": "y2",
                "line": {"color": "#d97706"},
            },
        ],
        "layout": {
            "title": {"text": "Size over versions"},
            "xaxis": {"type": "category"},
            "margin": {"r": 56},
            "yaxis": {"title": {"text": "bytes"}, "rangemode": "tozero"},
            "yaxis2": {"title": {"text": "files"}, "overlaying": "y", "side": "right", "rangemode": "tozero"},
            "showlegend": True,
            "legend": {"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
        },
    }


def _diff_context(
    service: DatasetService, cache: dataset_profile.ProfileCache, name: str, old: int, new: int
) -> dict[str, Any]:
    old_v = service.store.get_dataset_version(name, old)
    new_v = service.store.get_dataset_version(name, new)
    old_files, new_files = service.files(old_v), service.files(new_v)
    diff: DatasetDiff = service.diff(old_v.ref, new_v.ref)
    schema: dict[str, Any] | None = None
    old_p = cache.get(service.artifacts, old_v, old_files)
    new_p = cache.get(service.artifacts, new_v, new_files)
    if old_p.arrow_schema is not None and new_p.arrow_schema is not None:
        from modelyard.data.ingest.schema import schema_diff

        changes = schema_diff(old_p.arrow_schema, new_p.arrow_schema)
        schema = {
            "diff": changes,
            "partial": old_p.files_read < old_p.tabular_files
            or new_p.files_read < new_p.tabular_files
            or old_p.head_only
            or new_p.head_only,
        }
    return {
        "old": old_v,
        "new": new_v,
        "diff": diff,
        "schema": schema,
        "limit": DIFF_LIST_LIMIT,
        "bytes_delta": new_v.total_size - old_v.total_size,
    }


def build_router(env: jinja2.Environment, route_class: type[APIRoute] = APIRoute) -> APIRouter:
    router = APIRouter(include_in_schema=False, route_class=route_class)
    profiles = dataset_profile.ProfileCache()

    @router.get("/ui/datasets", response_class=HTMLResponse)
    def datasets_page(
        request: Request,
        principal: Principal = Depends(page_principal),
        services: Services = Depends(get_services),
    ) -> HTMLResponse:
        can_read_datasets(request, principal)
        summaries = dataset_service(services).list_datasets()
        return render(env, request, "datasets.html", principal=principal, summaries=summaries, dataset_url=dataset_url)

    @router.get("/ui/datasets/{ref:path}", response_class=HTMLResponse)
    def dataset_or_version_page(
        request: Request,
        ref: str,
        tab: str = "overview",
        q: str = "",
        page: int = 1,
        report: str | None = None,
        depth: int = lineage_view.UI_DEPTH,
        principal: Principal = Depends(page_principal),
        services: Services = Depends(get_services),
    ) -> Response:
        if not ref.strip("/"):
            return RedirectResponse("/ui/datasets", status_code=307)
        can_read_datasets(request, principal)
        service = dataset_service(services)
        name, selector = split_ref(ref)
        if selector is None:
            return _dataset_page(request, principal, service, name)
        version = service.resolve(ref)
        if selector != f"v{version.version}":  # latest, a bare number or a hash: go to the number
            target = dataset_url(version.name, version.version)
            return RedirectResponse(url_with(target, dict(request.query_params)), status_code=307)
        if tab not in TABS:
            raise InvalidArgument(f"unknown tab {tab!r}; expected one of {', '.join(TABS)}")
        context: dict[str, Any] = {"tab": tab}
        if tab == "overview":
            context.update(_overview(request, principal, services, version, depth))
        elif tab == "files":
            context["files"] = _files_page(service.files(version), q, page)
            context["q"] = q
        elif tab == "profile":
            result = profiles.get(services.artifacts, version, service.files(version))
            context["profile"] = result
            if result.profile is not None:
                figures = {
                    f"col-{i}": dataset_profile.column_figure(c) for i, c in enumerate(result.profile.columns.values())
                }
                nulls = dataset_profile.nulls_figure(result.profile)
                context["figures"] = {k: v for k, v in {"nulls": nulls, **figures}.items() if v is not None}
                context["rows"] = dataset_profile.profile_rows(result.profile)
        else:
            context.update(_validation(request, principal, services, version, report))
        return render(
            env, request, "dataset_version.html", principal=principal, dv=version, dataset_url=dataset_url, **context
        )

    def _dataset_page(request: Request, principal: Principal, service: DatasetService, name: str) -> HTMLResponse:
        versions = service.versions(name, include_removed=True)
        live = [v.version for v in versions if v.removed_at is None]
        params = request.query_params
        diff = None
        old, new = params.get("from"), params.get("to")
        if old or new:
            try:
                old_n, new_n = int(str(old).lstrip("v")), int(str(new).lstrip("v"))
            except ValueError:
                raise InvalidArgument("choose two versions to compare (from=N&to=M)") from None
            diff = _diff_context(service, profiles, name, old_n, new_n)
        default_old = live[-2] if len(live) > 1 else (live[0] if live else None)
        default_new = live[-1] if live else None
        figure = _size_figure(versions)
        return render(
            env,
            request,
            "dataset.html",
            principal=principal,
            name=name,
            versions=list(reversed(versions)),
            live=live,
            diff=diff,
            default_old=default_old,
            default_new=default_new,
            figures={"size": figure} if figure else {},
            dataset_url=dataset_url,
        )

    return router


def _overview(
    request: Request, principal: Principal, services: Services, version: DatasetVersion, depth: int
) -> dict[str, Any]:
    graph, view = lineage_view.build_lineage(
        services, version.ref, "dataset", project_filter(request, principal), depth=depth
    )
    readers = lineage_view.neighbours_of(graph, graph.root, "run", downstream=True, edge_kind="read_by")
    models = []
    for run, _context in readers:
        models += [
            m
            for m, _ in lineage_view.neighbours_of(
                graph, run.id, "model_version", downstream=True, edge_kind="produced"
            )
        ]
    derived = lineage_view.neighbours_of(
        graph, graph.root, "dataset_version", downstream=True, edge_kind="derived_from"
    )
    producer = lineage_view.neighbours_of(graph, graph.root, "run", downstream=False, edge_kind="produced")
    return {
        "lineage": view,
        "readers": readers,
        "models": models,
        "derived": [d for d, _ in derived],
        "producer": producer[0][0] if producer else None,
        "depth": depth,
        "node_href": lineage_view.node_href,
    }


def _validation(
    request: Request, principal: Principal, services: Services, version: DatasetVersion, selected: str | None
) -> dict[str, Any]:
    readable = readable_project_ids(request, principal, services)
    runs = records.find_validation_runs(services.stores.tracking, version, readable)
    rows = _validation_rows(services, runs)
    chosen = next((r for r in rows if r.run.id == selected), None) if selected else (rows[0] if rows else None)
    if selected and chosen is None:
        raise NotFound(f"run {selected!r} recorded no validation of {version.ref} that you can read")
    document = None
    if chosen is not None:
        try:
            document = records.load_report_document(services.stores.tracking, services.artifacts, chosen.run.id)
        except (InvalidArgument, NotFound) as exc:
            document = {"error": str(exc)}
    return {"validations": rows, "chosen": chosen, "document": document}
