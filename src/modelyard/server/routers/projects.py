"""Projects: create, get (by id or name), get-or-create, list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from modelyard.core.errors import NotFound
from modelyard.core.tracking import Project
from modelyard.server.routers._common import Call, WireJSONResponse, get_call
from modelyard.wire import API_PREFIX, ErrorResponse, ProjectBody, ProjectCreate, ProjectList, ProjectName

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 422, 503)
}
router = APIRouter(prefix=f"{API_PREFIX}/projects", tags=["projects"], responses=ERRORS)


def _project(project: Project) -> WireJSONResponse:
    return WireJSONResponse(project.model_dump())


@router.post("", response_model=ProjectBody, status_code=201)
def create_project(body: ProjectCreate, c: Call = Depends(get_call)) -> Any:
    """Create a project; 409 if the name is taken."""
    c.allow(None, "editor")
    project = c.stores.tracking.create_project(body.name, project_id=body.id, description=body.description)
    c.audit("create_project", "project", project.id, name=project.name)
    return WireJSONResponse(project.model_dump(), status_code=201)


@router.post("/get-or-create", response_model=ProjectBody)
def get_or_create_project(body: ProjectName, c: Call = Depends(get_call)) -> Any:
    """The project with this name, created if missing (safe under concurrent callers).

    Finding an existing project needs only "viewer" on it (the SDK calls this before every run
    it starts, and the run itself is checked for "editor"); creating one needs "editor" on no
    single project, like ``POST /projects``."""
    try:
        project = c.stores.tracking.get_project_by_name(body.name)
    except NotFound:
        c.allow(None, "editor")
        project = c.stores.tracking.get_or_create_project(body.name)
        c.audit("get_or_create_project", "project", project.id, name=project.name)
    else:
        c.allow(project.id, "viewer")
    return _project(project)


@router.get("", response_model=ProjectList)
def list_projects(include_deleted: bool = False, c: Call = Depends(get_call)) -> Any:
    """All projects the caller may see, ordered by name."""
    projects = c.stores.tracking.list_projects(include_deleted=include_deleted)
    visible = c.visible_projects()
    return WireJSONResponse({"projects": [p.model_dump() for p in projects if visible is None or p.id in visible]})


@router.get("/by-name/{name:path}", response_model=ProjectBody)
def get_project_by_name(name: str, c: Call = Depends(get_call)) -> Any:
    project = c.stores.tracking.get_project_by_name(name)
    c.allow(project.id, "viewer")
    return _project(project)


@router.get("/{project_id}", response_model=ProjectBody)
def get_project(project_id: str, c: Call = Depends(get_call)) -> Any:
    c.allow(project_id, "viewer")
    return _project(c.stores.tracking.get_project(project_id))


def register(app: FastAPI) -> None:
    app.include_router(router)
