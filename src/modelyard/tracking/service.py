"""The tracking service: projects, runs, params, metrics, artifacts, inputs and search.

It receives its stores in its constructor and never knows which implementation they are
(SQLite, PostgreSQL, the HTTP client). The SDK face and the CLI build it; the server will too.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.core.tracking import (
    ArtifactEntry,
    LifecycleStage,
    Metric,
    Project,
    Run,
    RunInput,
    RunQuery,
    RunStatus,
    now_millis,
)
from modelyard.core.validation import (
    metric_step,
    metric_value,
    param_value_to_str,
    tag_value_to_str,
    validate_key,
    validate_name,
)
from modelyard.store.interfaces import TrackingStore
from modelyard.tracking import sysinfo

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.artifacts.interfaces import ArtifactStore


#: A RUNNING run with no heartbeat for this long is stale (the SDK beats every 30 s by default).
STALE_AFTER_MS = 10 * 60_000
_KILL_BATCH = 1000


def is_stale(run: Run, now_ms: int, older_than_ms: int = STALE_AFTER_MS) -> bool:
    """Whether ``run`` is RUNNING with no sign of life (heartbeat, else start) for ``older_than_ms``."""
    last = run.heartbeat_at if run.heartbeat_at is not None else run.start_time
    return run.status == RunStatus.RUNNING and now_ms - last > older_than_ms


class TrackingService:
    """Explicit (non-fluent) tracking API over a metadata store and an artifact store."""

    def __init__(self, store: TrackingStore, artifacts: ArtifactStore | None = None) -> None:
        self.store = store
        self._artifacts = artifacts

    @property
    def artifacts(self) -> ArtifactStore:
        if self._artifacts is None:
            raise InvalidArgument("no artifact store is configured")
        return self._artifacts

    # -- projects ---------------------------------------------------------------------------
    def get_or_create_project(self, name: str) -> Project:
        return self.store.get_or_create_project(validate_name(name, "project name"))

    def get_project(self, name_or_id: str) -> Project:
        try:
            return self.store.get_project_by_name(name_or_id)
        except NotFound:
            try:
                return self.store.get_project(name_or_id)
            except NotFound:
                raise NotFound(f"project {name_or_id!r} not found")

    def list_projects(self) -> list[Project]:
        return self.store.list_projects()

    # -- runs -------------------------------------------------------------------------------
    def create_run(
        self,
        project: str,
        *,
        name: str | None = None,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        start_time: int | None = None,
        log_system_info: bool = False,
    ) -> Run:
        proj = self.get_or_create_project(project)
        clean_tags = self._clean_tags(tags or {})
        if parent_run_id is not None:
            parent = self.store.get_run(parent_run_id)  # NotFound for an unknown parent
            if parent.project_id != proj.id:
                raise InvalidArgument(f"parent run {parent_run_id!r} belongs to another project")
        if log_system_info:
            clean_tags = {**sysinfo.system_tags(), **clean_tags}
            env_digest = self._store_environment()
            if env_digest:
                clean_tags[sysinfo.TAG_ENVIRONMENT] = env_digest
        if name is not None:
            validate_name(name, "run name")
        return self.store.create_run(
            proj.id,
            run_id=run_id,
            name=name,
            start_time=start_time,
            parent_run_id=parent_run_id,
            tags=clean_tags,
        )

    def _store_environment(self) -> str | None:
        if self._artifacts is None:
            return None
        return self._artifacts.put_bytes(sysinfo.environment_document()).digest

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(run_id)

    def end_run(self, run_id: str, status: RunStatus | str = RunStatus.FINISHED, end_time: int | None = None) -> Run:
        try:
            status = RunStatus(status.upper() if isinstance(status, str) else status)
        except ValueError:
            names = ", ".join(s.value for s in RunStatus if s.is_terminal)
            raise InvalidArgument(f"invalid run status {status!r}; expected one of {names}")
        if not status.is_terminal:
            raise InvalidArgument(f"end_run needs a terminal status, not {status.value}")
        return self.store.update_run(run_id, status=status, end_time=end_time or now_millis())

    # -- liveness -------------------------------------------------------------------------------
    def stale_runs(self, older_than_ms: int = STALE_AFTER_MS) -> list[Run]:
        """RUNNING runs with no heartbeat (nor start) for ``older_than_ms``: their process most
        likely died (killed, out of memory, a lost machine)."""
        return self.store.list_stale_runs(older_than_ms)

    def mark_dead(self, older_than_ms: int = STALE_AFTER_MS) -> list[Run]:
        """Mark KILLED every run stale by ``older_than_ms`` (a run that sends a heartbeat in the
        meantime is left alone); returns the runs marked."""
        ids = [run.id for run in self.stale_runs(older_than_ms)]
        killed: list[Run] = []
        for start in range(0, len(ids), _KILL_BATCH):
            killed.extend(self.store.kill_stale_runs(ids[start : start + _KILL_BATCH], older_than_ms))
        return killed

    def set_notes(self, run_id: str, notes: str) -> Run:
        return self.store.update_run(run_id, notes=notes)

    def delete_run(self, run_id: str) -> None:
        self.store.get_run(run_id)
        self.store.set_run_lifecycle(run_id, LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        self.store.set_run_lifecycle(run_id, LifecycleStage.ACTIVE)

    # -- params, tags, metrics ------------------------------------------------------------
    @staticmethod
    def _clean_params(params: Mapping[str, Any]) -> dict[str, str]:
        return {validate_key(k, "param"): param_value_to_str(v) for k, v in params.items()}

    @staticmethod
    def _clean_tags(tags: Mapping[str, Any]) -> dict[str, str]:
        return {validate_key(k, "tag"): tag_value_to_str(v) for k, v in tags.items()}

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        if params:
            self.store.log_params(run_id, self._clean_params(params))

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        if tags:
            self.store.set_tags(run_id, self._clean_tags(tags))

    def delete_tag(self, run_id: str, key: str) -> None:
        self.store.delete_tag(run_id, key)

    @staticmethod
    def make_metric(key: str, value: Any, step: Any = 0, timestamp: int | None = None) -> Metric:
        validate_key(key, "metric")
        return Metric(key, metric_value(value, key), metric_step(step, key), timestamp or now_millis())

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric | tuple[str, float, int, int]] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Synchronous batch write, validated up front: a bad item rejects the batch, nothing is written."""
        clean: list[Metric] = []
        seen: set[str] = set()
        for item in metrics:
            key, value, step, ts = item
            if key not in seen:
                validate_key(key, "metric")
                seen.add(key)
            clean.append(Metric(key, metric_value(value, key), metric_step(step, key), int(ts)))
        self.store.log_batch(
            run_id,
            metrics=clean,
            params=self._clean_params(params or {}),
            tags=self._clean_tags(tags or {}),
        )

    def log_metric(self, run_id: str, key: str, value: Any, step: int = 0, timestamp: int | None = None) -> None:
        self.store.log_metrics(run_id, [self.make_metric(key, value, step, timestamp)])

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        self.store.get_run(run_id)
        return self.store.get_metric_history(run_id, key)

    def log_inputs(self, run_id: str, inputs: Iterable[RunInput]) -> None:
        self.store.log_inputs(run_id, list(inputs))

    def log_model_use(self, run_id: str, name: str, version: int, context: str) -> None:
        """Record that the run used model version ``name@version`` (the lineage graph's
        ``used_by`` edge, found from the model version by an index lookup)."""
        self.store.log_model_use(run_id, name, version, context)

    # -- artifacts --------------------------------------------------------------------------
    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> ArtifactEntry:
        from modelyard.artifacts.paths import safe_relpath

        path = Path(local_path)
        if not path.is_file():
            raise InvalidArgument(f"cannot log artifact {str(path)!r}: not a readable file")
        self.store.get_run(run_id)
        name = posixpath.join(artifact_path, path.name) if artifact_path else path.name
        name = safe_relpath(name)
        ref = self.artifacts.put_file(path)
        entry = ArtifactEntry(path=name, digest=ref.digest, size=ref.size)
        self.store.add_artifacts(run_id, [entry])
        return entry

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactEntry]:
        from modelyard.artifacts.paths import safe_relpath

        path = Path(local_dir)
        if not path.is_dir():
            raise InvalidArgument(f"cannot log artifacts from {str(path)!r}: not a directory")
        self.store.get_run(run_id)
        manifest = self.artifacts.put_directory(path)
        entries = [
            ArtifactEntry(
                path=safe_relpath(posixpath.join(artifact_path, e.path) if artifact_path else e.path),
                digest=e.digest,
                size=e.size,
            )
            for e in manifest.entries
        ]
        self.store.add_artifacts(run_id, entries)
        return entries

    def log_bytes(self, run_id: str, data: bytes, artifact_path: str) -> ArtifactEntry:
        from modelyard.artifacts.paths import safe_relpath

        name = safe_relpath(artifact_path)
        ref = self.artifacts.put_bytes(data)
        entry = ArtifactEntry(path=name, digest=ref.digest, size=ref.size)
        self.store.add_artifacts(run_id, [entry])
        return entry

    def list_artifacts(self, run_id: str, prefix: str | None = None) -> list[ArtifactEntry]:
        return self.store.list_artifacts(run_id, prefix)

    def download_artifacts(self, run_id: str, path: str, dest: str | os.PathLike[str]) -> Path:
        """Copy one artifact or a whole artifact directory of a run to ``dest`` (hash-verified)."""
        from modelyard.artifacts.paths import safe_relpath

        name = safe_relpath(path)
        dest_path = Path(dest)
        entries = self.store.list_artifacts(run_id)
        exact = [e for e in entries if e.path == name]
        if exact:
            target = dest_path / posixpath.basename(name)
            self.artifacts.get_file(exact[0].digest, target)
            return target
        under = [e for e in entries if e.path.startswith(name.rstrip("/") + "/")]
        if not under:
            raise NotFound(f"artifact {name!r} not found in run {run_id!r}")
        root = dest_path / posixpath.basename(name.rstrip("/"))
        for entry in under:
            rel = entry.path[len(name.rstrip("/")) + 1 :]
            self.artifacts.get_file(entry.digest, root / rel)
        return root

    def read_artifact(self, run_id: str, path: str) -> bytes:
        from modelyard.artifacts.paths import safe_relpath

        name = safe_relpath(path)
        for entry in self.store.list_artifacts(run_id, None):
            if entry.path == name:
                return self.artifacts.get_bytes(entry.digest)
        raise NotFound(f"artifact {name!r} not found in run {run_id!r}")

    # -- search -----------------------------------------------------------------------------
    def search_runs(
        self,
        projects: Sequence[str] | None = None,
        *,
        filter: str | None = None,
        order_by: Sequence[str] | str | None = None,
        max_results: int = 1000,
        include_deleted: bool = False,
        deleted_only: bool = False,
        page_token: str | None = None,
    ) -> tuple[list[Run], str | None]:
        if max_results < 1:
            raise InvalidArgument(f"max_results must be at least 1, not {max_results}")
        project_ids = [self.get_project(p).id for p in projects] if projects else [p.id for p in self.list_projects()]
        if isinstance(order_by, str):
            order_by = [order_by]
        lifecycle: LifecycleStage | None = LifecycleStage.ACTIVE
        if include_deleted:
            lifecycle = None
        if deleted_only:
            lifecycle = LifecycleStage.DELETED
        result = self.store.search_runs(
            RunQuery(
                project_ids=project_ids,
                filter=filter,
                order_by=tuple(order_by or ()),
                max_results=max_results,
                page_token=page_token,
                lifecycle=lifecycle,
            )
        )
        return result.runs, result.next_page_token

    def search_runs_frame(self, projects: Sequence[str] | None = None, **kwargs: Any) -> pd.DataFrame:
        runs, _ = self.search_runs(projects, **kwargs)
        return runs_to_frame(runs)


def runs_to_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """Runs to a DataFrame: attributes, then ``params.*``, ``metrics.*`` (latest) and ``tags.*`` columns."""
    import pandas as pd

    n = len(runs)
    columns: dict[str, list[Any]] = {
        "run_id": [r.id for r in runs],
        "project_id": [r.project_id for r in runs],
        "name": [r.name for r in runs],
        "status": [r.status.value if isinstance(r.status, RunStatus) else r.status for r in runs],
        "start_time": [r.start_time for r in runs],
        "end_time": [r.end_time for r in runs],
        "parent_run_id": [r.parent_run_id for r in runs],
    }
    extra: dict[str, list[Any]] = {}
    for i, run in enumerate(runs):
        for prefix, values in (
            ("params.", run.params),
            ("metrics.", {k: m.value for k, m in run.metrics.items()}),
            ("tags.", run.tags),
        ):
            for key, value in values.items():
                col = extra.get(prefix + key)
                if col is None:
                    col = extra[prefix + key] = [None] * n
                col[i] = value
    frame = pd.DataFrame(columns)
    frame["start_time"] = pd.to_datetime(frame["start_time"], unit="ms", utc=True)
    frame["end_time"] = pd.to_datetime(frame["end_time"], unit="ms", utc=True)
    ordered = sorted(extra, key=lambda c: ({"params.": 0, "metrics.": 1, "tags.": 2}[c[: c.index(".") + 1]], c))
    if ordered:
        data: dict[str, Any] = {}
        for name in ordered:
            column = extra[name]
            if name.startswith("metrics."):
                data[name] = pd.array([float("nan") if v is None else v for v in column], dtype="float64")
            else:
                data[name] = pd.array(column, dtype="object")
        frame = pd.concat([frame, pd.DataFrame(data)], axis=1)
    return frame
