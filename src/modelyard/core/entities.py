"""Entities of the tracking domain.

Runs, projects and their facts are pydantic models. Metric points are a NamedTuple because
they are the hot path: millions of them travel through the flusher and the stores.
"""

from __future__ import annotations

import enum
import math
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field


class RunStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


class LifecycleStage(enum.StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


class Metric(NamedTuple):
    """One point of a metric's history. ``value`` may be NaN or +-inf; ``timestamp`` is ms since epoch."""

    key: str
    value: float
    step: int
    timestamp: int

    def same_as(self, other: Metric) -> bool:
        """Equality that treats NaN as equal to NaN (the default tuple equality does not)."""
        if (self.key, self.step, self.timestamp) != (other.key, other.step, other.timestamp):
            return False
        if math.isnan(self.value):
            return math.isnan(other.value)
        return self.value == other.value


class _Entity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Project(_Entity):
    id: str
    name: str
    created_at: int
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE
    description: str | None = None


class RunInput(_Entity):
    """A dataset version that a run read. ``digest`` is the content hash of that version."""

    name: str
    version: str | None = None
    digest: str | None = None
    source: str | None = None
    context: str | None = None  # training, validation, test, ...


class ArtifactEntry(_Entity):
    """A file logged to a run: its path inside the run and the content address of its bytes."""

    path: str
    digest: str
    size: int


class LatestMetric(_Entity):
    key: str
    value: float
    step: int
    timestamp: int


class Run(_Entity):
    id: str
    project_id: str
    name: str | None = None
    status: RunStatus = RunStatus.RUNNING
    start_time: int
    end_time: int | None = None
    parent_run_id: str | None = None
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE
    notes: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, LatestMetric] = Field(default_factory=dict)
    inputs: list[RunInput] = Field(default_factory=list)

    def metric_values(self) -> dict[str, float]:
        return {key: m.value for key, m in self.metrics.items()}


def now_millis() -> int:
    import time

    return int(time.time() * 1000)
