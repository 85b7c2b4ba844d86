"""v1 wire schemas shared by the server and the client (imports core only)."""

from __future__ import annotations

from modelyard.wire._base import NON_FINITE, Int64, Millis, WireFloat, WireModel, encode_float
from modelyard.wire.errors import ERROR_BY_CODE, ErrorDetail, ErrorResponse, error_from_body
from modelyard.wire.tracking import (
    ArtifactEntryBody,
    ArtifactList,
    ArtifactsRecord,
    BlobInfo,
    CheckResult,
    InputsBody,
    LatestMetricBody,
    LifecycleBody,
    LogBatchBody,
    MetricBatch,
    MetricCount,
    MetricHistory,
    MetricPoint,
    ParamsBody,
    ProjectBody,
    ProjectCreate,
    ProjectList,
    ProjectName,
    RunBody,
    RunCreate,
    RunInputBody,
    RunUpdate,
    SearchRuns,
    SearchRunsResult,
    TagsBody,
)

API_PREFIX = "/api/v1"
#: Response header carrying the content address of a downloaded blob or artifact.
DIGEST_HEADER = "X-Modelyard-Digest"

__all__ = [
    "API_PREFIX",
    "DIGEST_HEADER",
    "ERROR_BY_CODE",
    "NON_FINITE",
    "ArtifactEntryBody",
    "ArtifactList",
    "ArtifactsRecord",
    "BlobInfo",
    "CheckResult",
    "ErrorDetail",
    "ErrorResponse",
    "InputsBody",
    "Int64",
    "LatestMetricBody",
    "LifecycleBody",
    "LogBatchBody",
    "MetricBatch",
    "MetricCount",
    "MetricHistory",
    "MetricPoint",
    "Millis",
    "ParamsBody",
    "ProjectBody",
    "ProjectCreate",
    "ProjectList",
    "ProjectName",
    "RunBody",
    "RunCreate",
    "RunInputBody",
    "RunUpdate",
    "SearchRuns",
    "SearchRunsResult",
    "TagsBody",
    "WireFloat",
    "WireModel",
    "encode_float",
    "error_from_body",
]
