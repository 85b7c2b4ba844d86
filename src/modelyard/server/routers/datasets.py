"""The dataset catalogue over REST: versions of datasets and their lineage.

Every route maps to one method of ``DatasetStore``. The files of a version and its manifest are
blobs (``PUT /api/v1/blobs/{digest}``), uploaded before the version is recorded, so only small
facts travel here. Dataset names may contain '/': they are path parameters matching several
segments, and every route ends with a fixed suffix that no other route ends with, so a name can
never be mistaken for a route.

Datasets belong to no project (yet), so authorization treats them like blobs: reading needs the
viewer role, and recording or removing a version the editor role, on at least one project.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query

from modelyard.core.datasets import DatasetVersion, DatasetVersionKey, NewDatasetVersion
from modelyard.data.references import record_version
from modelyard.server.routers._common import Call, WireJSONResponse, get_call
from modelyard.server.routers.projects import ERRORS
from modelyard.store.datasets import DatasetStore
from modelyard.wire import (
    API_PREFIX,
    DatasetList,
    DatasetVersionBody,
    DatasetVersionCreate,
    DatasetVersionList,
    ManifestDigests,
)
from modelyard.wire._base import matching
from modelyard.wire.datasets import DATASET_NAME_PATTERN

router = APIRouter(prefix=API_PREFIX, tags=["datasets"], responses=ERRORS)
_DATASET_PATH = "/datasets/{name:path}"
Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="The version number.")]
#: Bounded like the stores bound names, which also keeps every URL well under the server's limit.
DatasetName = Annotated[
    str,
    matching(DATASET_NAME_PATTERN, "dataset name"),
    Path(
        max_length=200,
        json_schema_extra={"pattern": DATASET_NAME_PATTERN},
        description="The dataset's name; it may contain '/'.",
    ),
]


def dataset_store(c: Call) -> DatasetStore:
    return c.services.stores.datasets


def version_json(version: DatasetVersion) -> dict[str, Any]:
    return {
        "name": version.name,
        "version": version.version,
        "manifest_digest": version.manifest_digest,
        "kind": version.kind,
        "file_count": version.file_count,
        "total_size": version.total_size,
        "created_at": version.created_at,
        "message": version.message,
        "source": version.source,
        "code": version.code,
        "params": dict(version.params),
        "parents": [{"name": p.name, "version": p.version} for p in version.parents],
        "removed_at": version.removed_at,
    }


def _versions(versions: list[DatasetVersion]) -> WireJSONResponse:
    return WireJSONResponse({"versions": [version_json(v) for v in versions]})


@router.post(_DATASET_PATH + "/versions", response_model=DatasetVersionBody, status_code=201)
def create_dataset_version(name: DatasetName, body: DatasetVersionCreate, c: Call = Depends(get_call)) -> Any:
    """Record the next version of the dataset (created with its first version); 404 if a parent
    is missing, 400 if its manifest or a blob the manifest lists is not stored (upload blobs
    first), or if the file count or total size is not the manifest's. Each concurrent adder gets
    its own number."""
    store = dataset_store(c)
    c.allow_somewhere("editor")
    version = record_version(
        store,
        c.stores.artifacts,
        NewDatasetVersion(
            name=name,
            manifest_digest=body.manifest_digest,
            kind=body.kind,
            file_count=body.file_count,
            total_size=body.total_size,
            message=body.message,
            source=body.source,
            code=body.code,
            params=body.params,
            parents=[DatasetVersionKey(p.name, p.version) for p in body.parents],
        ),
    )
    c.audit("create_dataset_version", "dataset", name, version=version.version, digest=version.manifest_digest)
    return WireJSONResponse(version_json(version), status_code=201)


@router.get(_DATASET_PATH + "/versions", response_model=DatasetVersionList)
def list_dataset_versions(name: DatasetName, include_removed: bool = False, c: Call = Depends(get_call)) -> Any:
    """Every version, oldest first; 404 if the dataset does not exist."""
    store = dataset_store(c)
    c.allow_somewhere("viewer")
    return _versions(store.list_dataset_versions(name, include_removed=include_removed))


@router.get(_DATASET_PATH + "/versions/latest", response_model=DatasetVersionBody)
def get_latest_dataset_version(name: DatasetName, c: Call = Depends(get_call)) -> Any:
    """The newest version not removed."""
    store = dataset_store(c)
    c.allow_somewhere("viewer")
    return WireJSONResponse(version_json(store.get_latest_dataset_version(name)))


@router.get(_DATASET_PATH + "/versions/by-digest", response_model=DatasetVersionList)
def find_dataset_versions(
    name: DatasetName,
    prefix: Annotated[
        str,
        Query(
            min_length=4,
            max_length=200,
            pattern=r"^(?:(?:sha256|blake2b|sha512):)?[0-9a-f]{4,128}$",
            description="'sha256:ab12...' or a hex prefix (at least 4 lowercase hex digits).",
        ),
    ],
    c: Call = Depends(get_call),
) -> Any:
    """Versions (not removed) whose manifest digest starts with ``prefix``, oldest first."""
    store = dataset_store(c)
    c.allow_somewhere("viewer")
    return _versions(store.find_dataset_versions(name, prefix))


@router.get(_DATASET_PATH + "/versions/{version}/derived", response_model=DatasetVersionList)
def list_dataset_versions_derived_from(name: DatasetName, version: Version, c: Call = Depends(get_call)) -> Any:
    """The versions derived from this one (it is among their parents), removed ones included,
    ordered by dataset name then version; empty when nothing derives from it."""
    store = dataset_store(c)
    c.allow_somewhere("viewer")
    return _versions(store.list_dataset_versions_derived_from(name, version))


@router.get("/runs/{run_id}/dataset-versions", response_model=DatasetVersionList)
def list_dataset_versions_by_run(run_id: str, c: Call = Depends(get_call)) -> Any:
    """The dataset versions added inside run ``run_id`` (``code`` ``run:<run_id>``), removed
    ones included, ordered by dataset name then version. Datasets follow the dataset rule
    (viewer on some project), not the run's project: every version, with its ``code``, is
    readable under that rule already, and the run need not exist on this server."""
    store = dataset_store(c)
    c.allow_somewhere("viewer")
    return _versions(store.list_dataset_versions_by_run(run_id))


@router.get(_DATASET_PATH + "/versions/{version}", response_model=DatasetVersionBody)
def get_dataset_version(name: DatasetName, version: Version, c: Call = Depends(get_call)) -> Any:
    """One version; 404 if it does not exist or was removed."""
    store = dataset_store(c)
    c.allow_somewhere("viewer")
    return WireJSONResponse(version_json(store.get_dataset_version(name, version)))


@router.delete(_DATASET_PATH + "/versions/{version}", response_model=DatasetVersionBody)
def remove_dataset_version(name: DatasetName, version: Version, c: Call = Depends(get_call)) -> Any:
    """Hide a version: its number is never reused and lineage keeps pointing at it; 404 if it
    is missing or already removed."""
    store = dataset_store(c)
    c.allow_somewhere("editor")
    removed = store.remove_dataset_version(name, version)
    c.audit("remove_dataset_version", "dataset", name, version=version)
    return WireJSONResponse(version_json(removed))


@router.get("/datasets", response_model=DatasetList)
def list_datasets(c: Call = Depends(get_call)) -> Any:
    """Every dataset, ordered by name, with its version count and newest version."""
    store = dataset_store(c)
    c.allow_somewhere("viewer")
    return WireJSONResponse(
        {
            "datasets": [
                {
                    "name": s.name,
                    "created_at": s.created_at,
                    "version_count": s.version_count,
                    "latest": None if s.latest is None else version_json(s.latest),
                }
                for s in store.list_datasets()
            ]
        }
    )


@router.get("/dataset-manifests", response_model=ManifestDigests)
def list_dataset_manifest_digests(include_removed: bool = False, c: Call = Depends(get_call)) -> Any:
    """The manifest digests of every version (what push, pull and garbage collection walk)."""
    store = dataset_store(c)
    c.allow_somewhere("viewer")
    return WireJSONResponse({"digests": store.list_dataset_manifest_digests(include_removed=include_removed)})


def register(app: FastAPI) -> None:
    app.include_router(router)
