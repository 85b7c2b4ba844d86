"""v1 request and response bodies of the dataset catalogue API (dataset versions and lineage).

Responses mirror ``modelyard.core.datasets.DatasetVersion`` and ``DatasetSummary`` field for
field. Only small facts travel here: a version's files and its manifest are blobs, uploaded
through ``PUT /api/v1/blobs/{digest}`` before the version is recorded.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from modelyard.wire._base import JSON_INTEGER, Count, Digest, WireModel

__all__ = [
    "DATASET_NAME_PATTERN",
    "DatasetList",
    "DatasetSummaryBody",
    "DatasetVersionBody",
    "DatasetVersionCreate",
    "DatasetVersionKeyBody",
    "DatasetVersionList",
    "ManifestDigests",
]

#: ``data.refs.validate_dataset_name``: letters, digits and ``_ . - /``, starting with a letter
#: or digit; parts separated by '/' are never empty, '.' or '..' (and the entity-name rule).
DATASET_NAME_PATTERN = r"^(?![^\n]*\n)[A-Za-z0-9][A-Za-z0-9_.\-]*(?:/(?!\.\.?(?:/|$))[A-Za-z0-9_.\-]+)*$"
DatasetName = Annotated[str, Field(min_length=1, max_length=200, pattern=DATASET_NAME_PATTERN)]
Text = Annotated[str, Field(max_length=100_000)]


class DatasetVersionKeyBody(WireModel):
    """``NAME@vN``: a lineage parent."""

    name: DatasetName
    version: Annotated[int, Field(ge=1, le=2**31 - 1), JSON_INTEGER]


class DatasetVersionCreate(WireModel):
    """The next version of the dataset named in the path (created with its first version). Its
    manifest must already be stored; parents must exist."""

    manifest_digest: Digest
    kind: Literal["file", "directory"]
    file_count: Count
    total_size: Count
    message: Text | None = None
    source: Text | None = None
    code: Text | None = None
    params: dict[str, str] = Field(default_factory=dict)
    parents: list[DatasetVersionKeyBody] = Field(default_factory=list)


class DatasetVersionBody(WireModel):
    name: str
    version: int
    manifest_digest: str
    kind: Literal["file", "directory"]
    file_count: int
    total_size: int
    created_at: int
    message: str | None = None
    source: str | None = None
    code: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    parents: list[DatasetVersionKeyBody] = Field(default_factory=list)
    removed_at: int | None = None


class DatasetVersionList(WireModel):
    versions: list[DatasetVersionBody]


class DatasetSummaryBody(WireModel):
    name: str
    created_at: int
    version_count: int
    latest: DatasetVersionBody | None = None


class DatasetList(WireModel):
    datasets: list[DatasetSummaryBody]


class ManifestDigests(WireModel):
    digests: list[str]
