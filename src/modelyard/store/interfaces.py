"""Metadata store interfaces, one per aggregate.

Every implementation (SQLite, PostgreSQL, the HTTP client) passes the same contract suite in
``tests/contract``. Writes are idempotent where a client may retry them: runs carry
client-generated ids, params and tags are upserts (a param may be re-logged with the same value),
metric points are keyed by (run, key, step, timestamp, value) and a retried batch adds nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.core.tracking import (
    ArtifactEntry,
    LifecycleStage,
    Metric,
    Project,
    Run,
    RunInput,
    RunLink,
    RunQuery,
    RunsResult,
    RunStatus,
)


class ProjectStore(ABC):
    @abstractmethod
    def create_project(self, name: str, *, project_id: str | None = None, description: str | None = None) -> Project:
        """Create a project; AlreadyExists if the name is taken."""

    @abstractmethod
    def get_project(self, project_id: str) -> Project:
        """NotFound if there is no such id."""

    @abstractmethod
    def get_project_by_name(self, name: str) -> Project:
        """NotFound if there is no such name."""

    @abstractmethod
    def get_or_create_project(self, name: str) -> Project:
        """The project with this name, created if missing; safe under concurrent callers."""

    @abstractmethod
    def list_projects(self, *, include_deleted: bool = False) -> list[Project]:
        """All projects, ordered by name."""


class RunStore(ABC):
    @abstractmethod
    def create_run(
        self,
        project_id: str,
        *,
        run_id: str | None = None,
        name: str | None = None,
        start_time: int | None = None,
        parent_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        status: RunStatus = RunStatus.RUNNING,
    ) -> Run:
        """Create a run. With a ``run_id`` that already exists in the same project, return it (idempotent)."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """The run with its params, tags, latest metrics and inputs; NotFound if missing."""

    @abstractmethod
    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        end_time: int | None = None,
        name: str | None = None,
        notes: str | None = None,
    ) -> Run:
        """Change a run's status, end time, name or notes."""

    @abstractmethod
    def set_run_lifecycle(self, run_id: str, stage: LifecycleStage) -> None:
        """Soft-delete (DELETED) or restore (ACTIVE) a run."""

    @abstractmethod
    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        """Params are immutable: re-logging the same value is a no-op, a different value is Conflict
        and nothing of the batch is written."""

    @abstractmethod
    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Upsert tags."""

    @abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None:
        """NotFound if the tag is missing."""

    @abstractmethod
    def log_inputs(self, run_id: str, inputs: Sequence[RunInput]) -> None:
        """Record dataset versions read by the run (idempotent on name+version+context)."""

    @abstractmethod
    def log_model_use(self, run_id: str, name: str, version: int, context: str) -> None:
        """Record that the run used model version ``name@version`` in ``context`` (batch scoring:
        ``scoring``); idempotent on run + name + version + context. NotFound if the run is
        missing, InvalidArgument for a bad name, version (an integer >= 1) or context. The model
        version is not checked here (the registry is another store): the use is what was recorded."""

    @abstractmethod
    def add_artifacts(self, run_id: str, entries: Sequence[ArtifactEntry]) -> None:
        """Record files logged to the run (path -> content address); a path logged again is replaced."""

    @abstractmethod
    def list_artifacts(self, run_id: str, prefix: str | None = None) -> list[ArtifactEntry]:
        """Artifacts of a run, ordered by path, optionally under a directory prefix."""

    @abstractmethod
    def search_runs(self, query: RunQuery) -> RunsResult:
        """Runs matching the filter, ordered, paged. Malformed filter: FilterSyntaxError."""

    # -- reverse lookups for the lineage graph's downstream walk ------------------------------
    # Without them "which runs read churn@v3?" means loading every run of every project; each is
    # one indexed query instead. Like ``search_runs`` by default, they leave out deleted runs
    # and the runs of deleted projects, and they answer an unknown key with an empty list.

    @abstractmethod
    def find_runs_by_input(self, name: str, version: int) -> list[RunLink]:
        """Runs whose inputs include dataset ``name`` at ``version`` (an input's version recorded
        as ``vN`` or ``N``), one link per matching input (a run that read it in two contexts
        appears twice), ordered by project name, start time and run id, then by the input's
        recorded version and context."""

    @abstractmethod
    def find_runs_using_model(self, name: str, version: int) -> list[RunLink]:
        """Runs that recorded using model version ``name@version`` (``log_model_use``), one link
        per recorded use (its context in the link), ordered by project name, start time and run
        id, then context."""

    @abstractmethod
    def list_child_runs(self, parent_run_id: str) -> list[RunLink]:
        """Runs whose parent is ``parent_run_id`` (tuning trials, pipeline steps), ordered by
        project name, start time and run id."""

    # -- liveness: a run whose process died stays RUNNING unless something notices ------------
    # A run's last sign of life is its heartbeat, else its start time. Times are the store's
    # clock (a server's, over HTTP), so clients with skewed clocks agree.

    @abstractmethod
    def heartbeat(self, run_ids: Sequence[str]) -> None:
        """Record that the runs are alive now: ``heartbeat_at`` of each RUNNING run among
        ``run_ids`` becomes the store's current time. Other and unknown ids are ignored (a
        heartbeat never fails)."""

    @abstractmethod
    def list_stale_runs(self, older_than_ms: int) -> list[Run]:
        """RUNNING runs (not deleted) whose last sign of life is more than ``older_than_ms``
        milliseconds old, oldest sign of life first; with their attributes only (no params,
        tags, metrics or inputs)."""

    @abstractmethod
    def kill_stale_runs(self, run_ids: Sequence[str], older_than_ms: int) -> list[Run]:
        """Mark KILLED, with the current time as end time, each of ``run_ids`` that is still
        RUNNING and still stale by ``older_than_ms``, in one transaction; returns the runs
        changed (a run that has sent a heartbeat since it was listed is left alone)."""


class MetricStore(ABC):
    @abstractmethod
    def log_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        """Append points in one transaction and keep the latest value per key up to date.
        Latest = highest step, then latest timestamp. A retried batch adds no duplicate points."""

    @abstractmethod
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of the metric, ordered by step then timestamp."""

    @abstractmethod
    def count_metric_points(self, run_id: str | None = None) -> int:
        """How many points are stored (for one run, or in total)."""


class TrackingStore(ProjectStore, RunStore, MetricStore, ABC):
    """The tracking aggregate: everything the tracking service needs, plus maintenance."""

    uri: str

    @abstractmethod
    def check(self) -> list[str]:
        """Integrity check; returns the problems found (empty list: healthy)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def upgrade(self) -> None:
        """Apply pending schema migrations (``modelyard db upgrade``). A store with no schema of
        its own (a server's, over HTTP: the server upgrades its database) refuses."""
        raise InvalidArgument(f"the store at {self.uri} has no schema to upgrade")

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Params, tags and metrics in one call. Implementations may override to use one transaction."""
        if params:
            self.log_params(run_id, params)
        if tags:
            self.set_tags(run_id, tags)
        if metrics:
            self.log_metrics(run_id, metrics)

    def import_runs(self, records: Sequence[tuple[Run, Sequence[Metric]]]) -> None:
        """Write complete runs (attributes, params, tags, metric history) at once: tuning trials,
        imports from other trackers. Idempotent: a run whose id already exists is left as it is.
        Implementations may override to write the whole batch in one transaction."""
        for run, history in records:
            try:
                self.get_run(run.id)
                continue
            except NotFound:
                pass
            self.create_run(
                run.project_id,
                run_id=run.id,
                name=run.name,
                start_time=run.start_time,
                parent_run_id=run.parent_run_id,
                tags=dict(run.tags),
                status=run.status,
            )
            self.log_batch(run.id, metrics=history, params=dict(run.params))
            if run.end_time is not None or run.status.is_terminal:
                self.update_run(run.id, status=run.status, end_time=run.end_time)
