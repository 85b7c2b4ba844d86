"""Model registry pages: the list of registered models, a model (versions, a timeline of states,
the transition history, approvals) and a version (model card, evaluations with their plots,
signature, files with hashes, lineage).

URLs follow the model reference syntax: ``/ui/models/NAME`` and ``/ui/models/NAME@3``;
``NAME@champion``, ``NAME@production`` and ``NAME@latest`` redirect to the numbered version they
name now (the registry resolves them), so a bookmark of a version never changes meaning.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from modelyard.core.errors import NotFound
from modelyard.core.registry import EventKind, ModelEvent, ModelState, ModelVersion, RegisteredModel
from modelyard.core.tracking import now_millis
from modelyard.evaluation import EvaluationResult
from modelyard.evaluation import plots as evaluation_plots
from modelyard.registry.service import RegistryService
from modelyard.reports.cards import EDITABLE_FIELDS, build_card
from modelyard.server.app import Services
from modelyard.server.deps import Principal, get_services
from modelyard.server.ui import lineage_view
from modelyard.server.ui._common import can_read, json_safe, page_principal, render, url_with, visible_project_ids
from modelyard.server.ui.catalog import (
    dataset_store,
    dataset_url,
    model_url,
    parse_version_number,
    project_filter,
    registry_service,
    split_ref,
)

_STATE_COLORS = {
    "draft": "#94a3b8",
    "staging": "#2563eb",
    "production": "#16a34a",
    "archived": "#d97706",
    "decommissioned": "#7f1d1d",
}


@dataclass
class ModelSummary:
    model: RegisteredModel
    project: str
    versions: int
    latest: ModelVersion | None
    states: dict[str, int] = field(default_factory=dict)
    production: int | None = None
    staging: int | None = None
    aliases: list[tuple[str, int]] = field(default_factory=list)


def _summary(registry: RegistryService, model: RegisteredModel, project: str) -> ModelSummary:
    versions = registry.list_versions(model.name)  # newest first
    summary = ModelSummary(model, project, len(versions), versions[0] if versions else None)
    summary.states = dict(Counter(v.state.value for v in versions))
    for v in versions:
        if v.state is ModelState.PRODUCTION:
            summary.production = v.version
        elif v.state is ModelState.STAGING:
            summary.staging = v.version
        summary.aliases += [(a, v.version) for a in v.aliases]
    summary.aliases.sort()
    return summary


def _iso(millis: int) -> str:
    return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC).isoformat()


def state_timeline(versions: list[ModelVersion], events: list[ModelEvent], now: int) -> dict[str, Any] | None:
    """Which state each version was in, when: one horizontal bar per (version, state) period.

    "What was in production on date D" is a question people answer with their eyes on this
    chart; the same facts are in the history table below it."""
    if not versions:
        return None
    periods: dict[int, list[tuple[str, int]]] = {v.version: [("draft", v.created_at)] for v in versions}
    for event in events:
        if event.kind is EventKind.TRANSITION and event.version in periods and event.to_state is not None:
            periods[event.version].append((event.to_state.value, event.at))
    traces: dict[str, dict[str, Any]] = {}
    for number, changes in sorted(periods.items()):
        for i, (state, start) in enumerate(changes):
            end = changes[i + 1][1] if i + 1 < len(changes) else now
            if state == "decommissioned" and i + 1 == len(changes):
                end = start + max(1, (now - start) // 50)  # a final state: a short mark, not a bar to now
            trace = traces.setdefault(
                state,
                {
                    "type": "bar",
                    "orientation": "h",
                    "name": state,
                    "x": [],
                    "base": [],
                    "y": [],
                    "marker": {"color": _STATE_COLORS.get(state, "#64748b")},
                    "hovertemplate": f"v%{{y}} {state} from %{{base|%Y-%m-%d %H:%M}}<extra></extra>",
                },
            )
            trace["x"].append(max(end - start, 1))
            trace["base"].append(_iso(start))
            trace["y"].append(f"v{number}")
    order = [s.value for s in ModelState]
    data = [traces[s] for s in order if s in traces]
    return {
        "data": data,
        "layout": {
            "title": {"text": "States over time"},
            "barmode": "overlay",
            "showlegend": True,
            "xaxis": {"type": "date"},
            "yaxis": {"type": "category", "autorange": "reversed"},
            "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
            "margin": {"t": 64},
            "height": max(200, 60 + 26 * len(versions)),
        },
    }


def evaluation_figures(result: EvaluationResult) -> dict[str, Any]:
    """The registry's evaluation figures (``evaluation_plots.figures``) as plotly JSON, sized by
    the page rather than the fixed width the standalone card uses."""
    out: dict[str, Any] = {}
    for name, fig in evaluation_plots.figures(result).items():
        spec = json.loads(fig.to_json())
        spec.get("layout", {}).pop("width", None)
        out[f"eval-{name}"] = spec
    return out


def _signature(version: ModelVersion) -> dict[str, Any] | None:
    if not version.signature:
        return None
    try:
        data = json.loads(version.signature)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _known_inputs(services: Services, inputs: list[dict[str, Any]]) -> dict[int, str]:
    """Row index -> dataset page URL, for the training inputs that exist in this store."""
    links: dict[int, str] = {}
    store = dataset_store(services)
    for i, item in enumerate(inputs):
        number = parse_version_number(item.get("version"))
        if number is None:
            continue
        try:
            store.get_dataset_version(str(item["name"]), number)
        except NotFound:
            continue
        links[i] = dataset_url(str(item["name"]), number)
    return links


def build_router(env: jinja2.Environment, route_class: type[APIRoute] = APIRoute) -> APIRouter:
    router = APIRouter(include_in_schema=False, route_class=route_class)

    @router.get("/ui/models", response_class=HTMLResponse)
    def models_page(
        request: Request,
        principal: Principal = Depends(page_principal),
        services: Services = Depends(get_services),
    ) -> HTMLResponse:
        registry = registry_service(services)
        visible = visible_project_ids(request, principal)
        names = {p.id: p.name for p in services.stores.tracking.list_projects()}
        summaries = [
            _summary(registry, m, names.get(m.project_id, m.project_id))
            for m in registry.list_models()
            if visible is None or m.project_id in visible
        ]
        return render(env, request, "models.html", principal=principal, summaries=summaries, model_url=model_url)

    @router.get("/ui/models/{ref:path}", response_class=HTMLResponse)
    def model_or_version_page(
        request: Request,
        ref: str,
        evaluation: str | None = None,
        depth: int = lineage_view.UI_DEPTH,
        principal: Principal = Depends(page_principal),
        services: Services = Depends(get_services),
    ) -> Response:
        if not ref.strip("/"):
            return RedirectResponse("/ui/models", status_code=307)
        registry = registry_service(services)
        name, selector = split_ref(ref)
        model = registry.get_model(name)
        can_read(request, principal, model.project_id)
        project = services.stores.tracking.get_project(model.project_id)
        if selector is None:
            return _model_page(request, principal, registry, model, project.name)
        version = registry.resolve(ref)
        if selector != str(version.version):
            target = model_url(version.model_name, version.version)
            return RedirectResponse(url_with(target, dict(request.query_params)), status_code=307)
        return _version_page(request, principal, services, registry, version, project.name, evaluation, depth)

    def _model_page(
        request: Request, principal: Principal, registry: RegistryService, model: RegisteredModel, project: str
    ) -> HTMLResponse:
        versions = registry.list_versions(model.name)
        events = registry.history(model.name)
        approvals = {
            v.version: registry.approvals(model.name, v.version)
            for v in versions
            if v.state is not ModelState.DECOMMISSIONED
        }
        policy = registry.store.get_registry_policy(model.project_id)
        timeline = state_timeline(versions, events, now_millis())
        return render(
            env,
            request,
            "model.html",
            principal=principal,
            model=model,
            project=project,
            versions=versions,
            events=list(reversed(events)),
            approvals=approvals,
            policy=policy,
            figures={"timeline": timeline} if timeline else {},
            model_url=model_url,
        )

    def _version_page(
        request: Request,
        principal: Principal,
        services: Services,
        registry: RegistryService,
        version: ModelVersion,
        project: str,
        evaluation: str | None,
        depth: int,
    ) -> HTMLResponse:
        name, number = version.model_name, version.version
        card = build_card(registry, name, number)
        records = registry.store.list_model_evaluations(name, number)  # newest first
        chosen = (
            records[0] if records and evaluation is None else next((r for r in records if r.id == evaluation), None)
        )
        if evaluation is not None and chosen is None:
            raise NotFound(f"version {number} of model {name!r} has no evaluation {evaluation!r}")
        result: EvaluationResult | None = None
        if chosen is not None:
            if card.evaluation is not None and card.evaluation.get("evaluation_id") == chosen.id:
                result = EvaluationResult.from_dict(card.evaluation)
            else:
                try:
                    result = EvaluationResult.from_dict(json.loads(registry.artifacts.get_bytes(chosen.digest)))
                except NotFound:  # purged with a decommissioned version
                    result = None
        figures = json_safe(evaluation_figures(result)) if result is not None else {}
        _graph, lineage = lineage_view.build_lineage(
            services, f"{name}@{number}", "model", project_filter(request, principal), depth=depth
        )
        inputs = card.run["inputs"] if card.run else []
        slice_keys = list(
            dict.fromkeys(k for values in (result.slices if result else {}).values() for k in values if k != "n")
        )
        return render(
            env,
            request,
            "model_version.html",
            principal=principal,
            mv=version,
            project=project,
            card=card,
            card_fields=EDITABLE_FIELDS,
            evaluations=records,
            chosen=chosen,
            result=result,
            ev=json_safe(result.to_dict()) if result is not None else None,
            figures=figures,
            signature=_signature(version),
            files=registry.store.list_model_files(name, number),
            events=list(reversed(registry.history(name, number))),
            approvals=registry.approvals(name, number),
            lineage=lineage,
            depth=depth,
            slice_keys=slice_keys,
            input_links=_known_inputs(services, inputs),
            model_url=model_url,
            dataset_url=dataset_url,
        )

    return router
