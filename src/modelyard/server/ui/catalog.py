"""What the dataset and model pages share: the subsystem services built over ``app.state``'s
stores, the access rules, and the URLs of datasets, runs and model versions.

The services are built per request from the stores the app already holds (they are thin objects
over them; nothing is opened or written), exactly as the CLI and SDK build them, so the pages
read what every other client reads.

Access: a registered model belongs to a project, and its pages need the viewer role there, like a
run's. A dataset belongs to no project in the metadata store (versions are store-wide, shared by
every project's runs), so its pages need read access to at least one project (the rule the REST
API applies to blobs, which are equally project-less); what a dataset page shows *about* projects
(the runs that read it, the models trained on it, its validation reports) is filtered to the
projects the user may read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from fastapi import Request

from modelyard.core.errors import PermissionDenied
from modelyard.data.service import DatasetService
from modelyard.registry.service import RegistryService
from modelyard.server.app import Services
from modelyard.server.deps import Principal
from modelyard.server.ui._common import visible_project_ids
from modelyard.store.datasets import DatasetStore
from modelyard.store.models import ModelRegistryStore


def dataset_store(services: Services) -> DatasetStore:
    return services.stores.datasets


def model_store(services: Services) -> ModelRegistryStore:
    return services.stores.registry


def _cache_dir() -> Path:
    from modelyard.settings import load_settings

    return load_settings().home / "cache"


def dataset_service(services: Services) -> DatasetService:
    """The dataset service over the app's stores. Pages only resolve, list and read manifests:
    the stat cache under ``cache_dir`` is opened lazily and never touched by them."""
    return DatasetService(dataset_store(services), services.artifacts, _cache_dir())


def registry_service(services: Services) -> RegistryService:
    """The registry service over the app's stores (pages only read: no maintainer check needed)."""
    return RegistryService(model_store(services), services.stores.tracking, services.artifacts)


# --- access ------------------------------------------------------------------------------------


def readable_project_ids(request: Request, principal: Principal, services: Services) -> list[str]:
    """Ids of the projects ``principal`` may read (every project with auth off)."""
    visible = visible_project_ids(request, principal)
    projects = services.stores.tracking.list_projects()
    return [p.id for p in projects if visible is None or p.id in visible]


def project_filter(request: Request, principal: Principal) -> Callable[[str | None], bool]:
    """``readable(project_id)``: whether a project's objects may be shown on a page."""
    visible = visible_project_ids(request, principal)
    if visible is None:
        return lambda project_id: True
    return lambda project_id: project_id is not None and project_id in visible


def can_read_datasets(request: Request, principal: Principal) -> None:
    """PermissionDenied unless the principal may read at least one project (see the module doc)."""
    visible = visible_project_ids(request, principal)
    if visible is not None and not visible:
        raise PermissionDenied(f"user {principal.user!r} has no role on any project, so no dataset is readable")


# --- references and URLs -----------------------------------------------------------------------


def split_ref(ref: str) -> tuple[str, str | None]:
    """``NAME@SELECTOR`` -> (NAME, SELECTOR); ``NAME`` -> (NAME, None). Names contain no ``@``."""
    name, sep, selector = ref.rpartition("@")
    if not sep:
        return ref, None
    return name, selector


def _quoted(name: str) -> str:
    return quote(name, safe="/")


def dataset_url(name: str, version: int | None = None) -> str:
    return f"/ui/datasets/{_quoted(name)}" + ("" if version is None else f"@v{version}")


def model_url(name: str, version: int | None = None) -> str:
    return f"/ui/models/{_quoted(name)}" + ("" if version is None else f"@{version}")


def run_url(run_id: str) -> str:
    return f"/ui/runs/{quote(run_id, safe='')}"


def parse_version_number(text: str | None) -> int | None:
    """``3`` or ``v3`` -> 3; anything else -> None (a run input may record no number)."""
    if not text:
        return None
    digits = text[1:] if text[:1] in ("v", "V") else text
    return int(digits) if digits.isdigit() and int(digits) > 0 else None
