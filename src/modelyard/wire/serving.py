"""v1 request and response bodies of the serving management API: deployments, the
prediction-log index and feedback.

The deployment entities of ``modelyard.core.serving`` (frozen pydantic models that refuse unknown
fields) are the response bodies as they are; requests wrap them with who, when and why. Over the
wire a spec travels already resolved (each variant with its concrete version); the server checks
those versions exist and are not decommissioned before it records anything.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from modelyard.core.serving import (
    MAX_REQUEST_ID_LENGTH,
    Deployment,
    DeploymentEvent,
    DeploymentSpec,
    Feedback,
    PredictionLogPartition,
)
from modelyard.wire._base import Actor, Count, Digest, Millis, WireModel

__all__ = [
    "DeploymentCreate",
    "DeploymentEventList",
    "DeploymentList",
    "DeploymentRollback",
    "DeploymentUpdate",
    "FeedbackCreate",
    "FeedbackItem",
    "FeedbackList",
    "FeedbackLookup",
    "FeedbackRecorded",
    "PredictionLogEndpointList",
    "PredictionLogMaintenance",
    "PredictionPartition",
    "PredictionPartitionCompact",
    "PredictionPartitionCreate",
    "PredictionPartitionList",
]

Reason = Annotated[str, Field(max_length=10_000)]
RequestId = Annotated[str, Field(min_length=1, max_length=MAX_REQUEST_ID_LENGTH)]
#: Bounded so one request stays small; the logger indexes at most a few thousand rows at a time.
MAX_BATCH = 100_000


class DeploymentCreate(WireModel):
    """Revision 1 of the deployment named in the path."""

    spec: DeploymentSpec
    actor: Actor | None = None
    at: Millis | None = None
    reason: Reason | None = None


class DeploymentUpdate(WireModel):
    """The next revision: compare-and-set on ``expected_revision``."""

    spec: DeploymentSpec
    expected_revision: Annotated[int, Field(ge=1, le=2**31 - 1)]
    action: Literal["update", "rollback", "refresh"] = "update"
    restored_from: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    actor: Actor | None = None
    at: Millis | None = None
    reason: Reason | None = None


class DeploymentRollback(WireModel):
    """Restore an earlier revision on the server (the UI's rollback button): the previous state,
    or ``to_revision``; ``expected_revision`` guards against a change made meanwhile."""

    reason: Reason | None = None
    to_revision: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    expected_revision: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    actor: Actor | None = None
    at: Millis | None = None


class DeploymentList(WireModel):
    deployments: list[Deployment]


class DeploymentEventList(WireModel):
    events: list[DeploymentEvent]


class PredictionPartition(WireModel):
    """A ``PredictionLogPartition`` as a request states it: JSON integers bounded like every time
    and size on the wire."""

    id: Annotated[str, Field(min_length=1, max_length=64)]
    endpoint: Annotated[str, Field(min_length=1, max_length=256)]
    start_ms: Millis
    end_ms: Millis
    row_count: Count
    digest: Digest
    size: Count
    created_at: Millis

    def entity(self) -> PredictionLogPartition:
        return PredictionLogPartition(**self.model_dump())


class PredictionPartitionCreate(WireModel):
    partition: PredictionPartition
    request_ids: Annotated[list[RequestId], Field(max_length=MAX_BATCH)]


class PredictionLogMaintenance(WireModel):
    """Ask the server to compact or prune an endpoint's log (``modelyard predictions compact|prune``
    against a server): the partitions whose rows all precede ``before_ms``."""

    action: Literal["compact", "prune"]
    before_ms: Millis
    target_rows: Annotated[int, Field(ge=1, le=100_000_000)] = 500_000


class PredictionPartitionCompact(WireModel):
    """Replace partitions of one endpoint by one (already stored) partition of their rows."""

    endpoint: Annotated[str, Field(min_length=1, max_length=256)]
    replaced: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]], Field(min_length=1, max_length=MAX_BATCH)
    ]
    partition: PredictionPartition


class PredictionPartitionList(WireModel):
    partitions: list[PredictionLogPartition]


class PredictionLogEndpointList(WireModel):
    """Every endpoint with logged partitions, ordered by name."""

    endpoints: list[str]


class FeedbackItem(WireModel):
    """Ground truth for one logged prediction. ``value`` is any JSON value; ``at`` defaults to
    the server's clock."""

    request_id: RequestId
    value: Any
    at: Millis | None = None


class FeedbackCreate(WireModel):
    items: Annotated[list[FeedbackItem], Field(min_length=1, max_length=MAX_BATCH)]


class FeedbackRecorded(WireModel):
    recorded: int


class FeedbackLookup(WireModel):
    request_ids: Annotated[list[RequestId], Field(max_length=MAX_BATCH)]


class FeedbackList(WireModel):
    feedback: list[Feedback]
