"""v1 request and response bodies of the tracking API (projects, runs, metrics, artifacts, search).

Responses mirror the entities of ``modelyard.core.tracking`` field for field, so the client reads
them straight back into those entities; they exist as separate models because the wire spells
non-finite floats as strings (see ``_base``) and because the OpenAPI schema is generated from them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema

from modelyard.core.tracking import LifecycleStage, RunStatus
from modelyard.wire._base import (
    JSON_INTEGER,
    ArtifactPath,
    Bool,
    Count,
    EntityName,
    Int64,
    Key,
    Millis,
    Params,
    Tags,
    WireFloat,
    WireModel,
)

__all__ = [
    "ArtifactEntryBody",
    "ArtifactList",
    "ArtifactsRecord",
    "BlobInfo",
    "CheckResult",
    "HeartbeatBody",
    "InputsBody",
    "KillStaleRuns",
    "LatestMetricBody",
    "LifecycleBody",
    "LogBatchBody",
    "MetricBatch",
    "MetricCount",
    "MetricHistory",
    "MetricPoint",
    "ModelUseBody",
    "ParamsBody",
    "ProjectBody",
    "ProjectCreate",
    "ProjectList",
    "ProjectName",
    "RunBody",
    "RunCreate",
    "RunInputBody",
    "RunLinkBody",
    "RunLinkList",
    "RunList",
    "RunUpdate",
    "SearchRuns",
    "SearchRunsResult",
    "TagsBody",
]

#: ``core.validation.validate_name``: not blank.
Name = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^(?!\s*$)")]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^(?![^\n]*\n)[A-Za-z0-9_\-]+$")]
_NUMBER_OR_NON_FINITE = [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]
#: One metric point: ``[key, value, step, timestamp]`` (an array, not an object: batches hold
#: thousands of points and the keys would triple their size). Documented as a plain array
#: rather than with ``prefixItems``, which some OpenAPI tools still mistranslate.
MetricPoint = Annotated[tuple[Key, WireFloat, Int64, Millis], Field(description="[key, value, step, timestamp]")]
#: One point of a history: ``[value, step, timestamp]``.
HistoryPoint = Annotated[
    tuple[WireFloat, int, int],
    WithJsonSchema(
        {
            "type": "array",
            "minItems": 3,
            "maxItems": 3,
            "items": {"anyOf": _NUMBER_OR_NON_FINITE},
            "description": "[value, step, timestamp]",
        }
    ),
]


# -- projects -----------------------------------------------------------------------------------
class ProjectCreate(WireModel):
    name: EntityName
    id: Id | None = None
    description: Annotated[str, Field(max_length=10_000)] | None = None


class ProjectName(WireModel):
    name: EntityName


class ProjectBody(WireModel):
    id: str
    name: str
    created_at: int
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE
    description: str | None = None


class ProjectList(WireModel):
    projects: list[ProjectBody]


# -- runs ---------------------------------------------------------------------------------------
class RunCreate(WireModel):
    project_id: Id
    run_id: Id | None = None
    name: Name | None = None
    start_time: Millis | None = None
    parent_run_id: Id | None = None
    tags: Tags | None = None
    status: RunStatus = RunStatus.RUNNING


class RunUpdate(WireModel):
    status: RunStatus | None = None
    end_time: Millis | None = None
    name: Name | None = None
    notes: Annotated[str, Field(max_length=100_000)] | None = None


class LifecycleBody(WireModel):
    stage: LifecycleStage


class LatestMetricBody(WireModel):
    key: str
    value: WireFloat
    step: int
    timestamp: int


class RunInputBody(WireModel):
    name: Name
    version: str | None = None
    digest: str | None = None
    source: str | None = None
    context: str | None = None


class ModelUseBody(WireModel):
    """A model version a run used (``log_model_use``): batch scoring records the version it
    predicted with, context ``scoring``."""

    name: EntityName
    version: Annotated[int, Field(ge=1, le=2**31 - 1), JSON_INTEGER]
    context: Key


class RunBody(WireModel):
    id: str
    project_id: str
    name: str | None = None
    status: RunStatus = RunStatus.RUNNING
    start_time: int
    end_time: int | None = None
    parent_run_id: str | None = None
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE
    notes: str | None = None
    heartbeat_at: int | None = None
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, LatestMetricBody] = Field(default_factory=dict)
    inputs: list[RunInputBody] = Field(default_factory=list)


class RunLinkBody(WireModel):
    """A run found by a reverse lineage query: its id, its project and (for a reader of a
    dataset version) the input's context."""

    run_id: str
    project_id: str
    context: str | None = None


class RunLinkList(WireModel):
    runs: list[RunLinkBody]


class ParamsBody(WireModel):
    params: Params


class TagsBody(WireModel):
    tags: Tags


class InputsBody(WireModel):
    inputs: list[RunInputBody]


# -- metrics ------------------------------------------------------------------------------------
class MetricBatch(WireModel):
    """One flushed batch of the SDK: one request, one transaction."""

    metrics: list[MetricPoint]


class LogBatchBody(WireModel):
    metrics: list[MetricPoint] = Field(default_factory=list)
    params: Params = Field(default_factory=dict)
    tags: Tags = Field(default_factory=dict)


class MetricHistory(WireModel):
    """Every point of one metric, ordered by step then timestamp: ``[value, step, timestamp]``."""

    key: str
    points: list[HistoryPoint]


class MetricCount(WireModel):
    count: int


# -- artifacts ----------------------------------------------------------------------------------
class ArtifactEntryBody(WireModel):
    path: ArtifactPath
    digest: Annotated[str, Field(min_length=1, max_length=256)]  # the tracking store records it as given
    size: Count


class ArtifactsRecord(WireModel):
    """Record files already uploaded as blobs (``PUT /blobs/{digest}``) on a run."""

    artifacts: list[ArtifactEntryBody]


class ArtifactList(WireModel):
    artifacts: list[ArtifactEntryBody]


class BlobInfo(WireModel):
    digest: str
    size: int


# -- search and maintenance ---------------------------------------------------------------------
class SearchRuns(WireModel):
    project_ids: list[Id] = Field(default_factory=list, description="Empty: every project.")
    filter: Annotated[str, Field(max_length=100_000)] | None = None
    order_by: list[str] = Field(default_factory=list)
    max_results: Annotated[int, Field(ge=1, le=50_000), JSON_INTEGER] = 1000
    page_token: Annotated[str, Field(max_length=1000)] | None = None
    lifecycle: Literal["active", "deleted", "all"] = "active"
    include_metrics: Bool = True
    include_params: Bool = True
    include_tags: Bool = True


class SearchRunsResult(WireModel):
    runs: list[RunBody]
    next_page_token: str | None = None
    total: int | None = None


class CheckResult(WireModel):
    problems: list[str]


#: The longest age a stale-run query takes (100 years, in milliseconds).
MAX_AGE_MS = 100 * 365 * 86_400_000


class HeartbeatBody(WireModel):
    """The runs the caller is running: each RUNNING one gets the server's time as its heartbeat."""

    run_ids: Annotated[list[Id], Field(max_length=1000)]


class KillStaleRuns(WireModel):
    """Mark KILLED those of ``run_ids`` still RUNNING with no sign of life for ``older_than_ms``."""

    run_ids: Annotated[list[Id], Field(max_length=1000)]
    older_than_ms: Annotated[int, Field(ge=0, le=MAX_AGE_MS), JSON_INTEGER]


class RunList(WireModel):
    runs: list[RunBody]
