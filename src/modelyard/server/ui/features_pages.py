"""Feature store pages: the entities, views and services with their versions, how fresh each
view is in the server's online store, and which model versions are pinned to which views
(``/ui/features``); a view version's definition, versions, freshness, the statistics profile of
what was materialised (rows, missing share, min/max/mean or distinct/top per feature: the merge of
its runs' profiles), a sample of its newest source rows and the model versions that use it
(``/ui/features/views/NAME?version=N``).

Feature definitions belong to no project: reading needs a role on some project, as the feature
API. The online store is the one the server serves from (``MODELYARD_ONLINE_STORE_URI``); only
its materialisation records are read, so a page never opens it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from modelyard.core.errors import ModelyardError
from modelyard.core.features import FeatureServiceVersion, FeatureViewVersion, ModelFeaturePin, parse_feature_ref
from modelyard.features.online import LazyOnlineStore
from modelyard.features.quality import FeatureSummary, profile_summary
from modelyard.features.service import FeatureStoreService, Freshness
from modelyard.server.app import Services
from modelyard.server.deps import Principal, get_services
from modelyard.server.ui._common import page_principal, read_somewhere, render
from modelyard.server.ui.catalog import dataset_service, model_url
from modelyard.stats.profile import DatasetProfile

__all__ = ["build_router"]

#: Rows of a view's source shown on its page.
SAMPLE_ROWS = 20


@dataclass(frozen=True)
class ModelUse:
    """A model version pinned to a service version, and the view versions that service reads."""

    pin: ModelFeaturePin
    views: tuple[str, ...]  # view@vN


def _service(services: Services) -> FeatureStoreService:
    from modelyard.settings import load_settings

    online = LazyOnlineStore(load_settings().online_uri)  # only its name is read: never opened
    return FeatureStoreService(services.stores.features, dataset_service(services), online=online)


def _views_of(service: FeatureServiceVersion) -> tuple[str, ...]:
    """The view versions a service version reads (its references are pinned to versions)."""
    refs = []
    for text in service.definition.features:
        ref = parse_feature_ref(text, allow_whole_view=True)
        name = ref.view if ref.version is None else f"{ref.view}@v{ref.version}"
        if name not in refs:
            refs.append(name)
    return tuple(refs)


def _model_uses(features: FeatureStoreService) -> list[ModelUse]:
    uses = []
    services: dict[tuple[str, int], tuple[str, ...]] = {}
    for pin in features.store.list_model_pins():
        key = (pin.service, pin.service_version)
        if key not in services:
            try:
                services[key] = _views_of(features.store.get_service(*key))
            except ModelyardError:
                services[key] = ()  # no longer resolves: the pin is shown without its views
        uses.append(ModelUse(pin, services[key]))
    return sorted(uses, key=lambda u: (u.pin.model, -u.pin.model_version))


def _freshness(features: FeatureStoreService, views: list[FeatureViewVersion]) -> dict[str, Freshness]:
    return {f.view: f for f in features.freshness([v.ref for v in views])} if views else {}


@dataclass(frozen=True)
class ProfileView:
    rows: int
    runs: int
    features: list[FeatureSummary]
    failed_checks: tuple[str, ...]  # the view's expectations the newest run's rows failed


def _profile(features: FeatureStoreService, view: FeatureViewVersion) -> tuple[ProfileView | None, str | None]:
    """The view version's materialised profile in the server's online store (None: never
    materialised with a profile), or why it cannot be read."""
    try:
        target = features.online.name if features.online is not None else None
        runs = features.store.list_materializations(view.name, view.version, target)
        profiles = [p for p in (features.run_profile(r) for r in runs) if p is not None]
    except (ModelyardError, OSError) as exc:
        return None, str(exc).splitlines()[0]
    if not profiles:
        return None, None
    merged = DatasetProfile.merge_all(profiles)
    names = [f.name for f in view.definition.features]
    summary = profile_summary(merged, names)
    return ProfileView(merged.rows, len(profiles), summary, runs[-1].failed_checks), None


def build_router(env: jinja2.Environment, route_class: type[APIRoute] = APIRoute) -> APIRouter:
    router = APIRouter(include_in_schema=False, route_class=route_class)

    @router.get("/ui/features", response_class=HTMLResponse)
    def features_page(
        request: Request, principal: Principal = Depends(page_principal), services: Services = Depends(get_services)
    ) -> HTMLResponse:
        read_somewhere(request, principal)
        features = _service(services)
        views = features.store.list_views()
        counts = {v.name: len(features.store.list_view_versions(v.name)) for v in views}
        return render(
            env, request, "features.html", principal=principal, entities=features.store.list_entities(),
            views=views, counts=counts, services=features.store.list_services(),
            freshness=_freshness(features, views), uses=_model_uses(features), model_url=model_url,
        )  # fmt: skip

    @router.get("/ui/features/views/{name:path}", response_class=HTMLResponse)
    def view_page(
        request: Request,
        name: str,
        version: int | None = Query(default=None, ge=1, le=2**31 - 1),
        principal: Principal = Depends(page_principal),
        services: Services = Depends(get_services),
    ) -> HTMLResponse:
        read_somewhere(request, principal)
        features = _service(services)
        view = features.view(name, version)
        versions = features.store.list_view_versions(view.name)
        columns: list[str] = []
        rows: list[tuple[Any, ...]] = []
        sample_error = None
        try:
            from modelyard.features.samples import sample_rows

            columns, rows = sample_rows(view, SAMPLE_ROWS, location=features.source_location(view), duck=features.duck)
        except (ModelyardError, OSError) as exc:
            sample_error = str(exc).splitlines()[0]
        except Exception as exc:  # DuckDB's own errors (a moved file, a broken transformation)
            sample_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        uses = [u for u in _model_uses(features) if view.ref in u.views]
        profile, profile_error = _profile(features, view)
        return render(
            env, request, "feature_view.html", principal=principal, view=view, versions=list(reversed(versions)),
            freshness=_freshness(features, versions), columns=columns, rows=rows, sample_error=sample_error,
            uses=uses, model_url=model_url, sample_size=SAMPLE_ROWS, profile=profile, profile_error=profile_error,
        )  # fmt: skip

    return router
