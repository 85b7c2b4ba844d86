"""Entities of the tracking aggregate: projects, runs, their facts, and what a run search asks and returns.

Runs, projects and their facts are pydantic models (``core.base.Entity``). Metric points are a NamedTuple because
they are the hot path: millions of them travel through the flusher and the stores.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from typing import NamedTuple

from pydantic import Field

from modelyard.core.base import Entity


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


class Project(Entity):
    id: str
    name: str
    created_at: int
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE
    description: str | None = None


class RunInput(Entity):
    """A dataset version that a run read. ``digest`` is the content hash of that version."""

    name: str
    version: str | None = None
    digest: str | None = None
    source: str | None = None
    context: str | None = None  # training, validation, test, ...


class ArtifactEntry(Entity):
    """A file logged to a run: its path inside the run and the content address of its bytes."""

    path: str
    digest: str
    size: int


class LatestMetric(Entity):
    key: str
    value: float
    step: int
    timestamp: int


class Run(Entity):
    id: str
    project_id: str
    name: str | None = None
    status: RunStatus = RunStatus.RUNNING
    start_time: int
    end_time: int | None = None
    parent_run_id: str | None = None
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE
    notes: str | None = None
    #: When the process running it last said it is alive (epoch ms; the SDK refreshes it while the
    #: run is active). A RUNNING run whose heartbeat is older than a threshold is stale.
    heartbeat_at: int | None = None
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, LatestMetric] = Field(default_factory=dict)
    inputs: list[RunInput] = Field(default_factory=list)

    def metric_values(self) -> dict[str, float]:
        return {key: m.value for key, m in self.metrics.items()}


class RunQuery(Entity):
    """What ``search_runs`` asks for. ``filter`` and ``order_by`` use the language in core.filters."""

    project_ids: Sequence[str]
    filter: str | None = None
    order_by: Sequence[str] = ()
    max_results: int = 1000
    page_token: str | None = None
    lifecycle: LifecycleStage | None = LifecycleStage.ACTIVE  # None: active and deleted
    include_metrics: bool = True
    include_params: bool = True
    include_tags: bool = True


class RunsResult(Entity):
    runs: list[Run]
    next_page_token: str | None = None
    total: int | None = None


class RunLink(Entity):
    """A run found by a reverse lineage query (``find_runs_by_input``, ``list_child_runs``).

    It carries the run's project so that a server can drop the runs a caller may not read
    without loading each run, and, for a reader of a dataset version, the input's context."""

    run_id: str
    project_id: str
    context: str | None = None

    def __init__(self, run_id: str, project_id: str, context: str | None = None) -> None:
        """Positional too: the SQL stores build thousands of links from result rows."""
        super().__init__(run_id=run_id, project_id=project_id, context=context)  # type: ignore[call-arg]


def now_millis() -> int:
    import time

    return int(time.time() * 1000)
