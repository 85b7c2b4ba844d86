"""The fluent SDK: ``modelyard.start_run()``, ``modelyard.log_metric()`` and friends.

All process state lives in one ``_Session`` object (configured stores, the stack of active runs,
the metric buffer); it is reset in a forked child so that a child never reuses its parent's
connections or flusher thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from modelyard.core.entities import ArtifactEntry, Metric, Run, RunInput, RunStatus
from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.core.validation import metric_step, metric_value, validate_key
from modelyard.settings import Settings, load_settings, normalize_store_uri
from modelyard.tracking.flusher import MetricBuffer
from modelyard.tracking.service import TrackingService, runs_to_frame

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.artifacts.interfaces import ArtifactStore
    from modelyard.store.bundle import Stores
    from modelyard.store.interfaces import MetadataStore


def _open_stores(settings: Settings, artifacts: ArtifactStore | None = None) -> Stores:
    from modelyard.store.bundle import open_stores

    return open_stores(settings, artifacts=artifacts)


class TrackingClient(TrackingService):
    """The explicit tracking API over the configured stores (or the ones given).

    >>> client = TrackingClient()                  # MODELYARD_STORE_URI, or SQLite under MODELYARD_HOME
    >>> run = client.create_run("churn", name="baseline")
    >>> client.log_batch(run.id, metrics=[Metric("loss", 0.3, 0, now)], params={"lr": 0.1})
    """

    def __init__(
        self,
        store_uri: str | None = None,
        artifact_uri: str | None = None,
        *,
        store: MetadataStore | None = None,
        artifacts: ArtifactStore | None = None,
        stores: Stores | None = None,
    ) -> None:
        #: Every store of the deployment (registry, datasets, ...), when this client opened them
        #: or was given them; None when it was given only a tracking ``store``.
        self.stores = stores
        if stores is not None:
            store, artifacts = stores.tracking, stores.artifacts
        elif store is None:
            settings = _session.settings(store_uri=store_uri, artifact_uri=artifact_uri)
            self.stores = _open_stores(settings, artifacts)
            store, artifacts = self.stores.tracking, self.stores.artifacts
        super().__init__(store, artifacts)

    def search_runs_frame(self, projects: Sequence[str] | None = None, **kwargs: Any) -> pd.DataFrame:
        return super().search_runs_frame(projects, **kwargs)


class ActiveRun:
    """A run started by ``start_run``: a context manager that ends the run on exit (FAILED on error)."""

    def __init__(self, run: Run, session: _Session) -> None:
        self._run = run
        self._session = session
        self.id = run.id

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        status = RunStatus.FINISHED if exc_type is None else RunStatus.FAILED
        if exc_type is KeyboardInterrupt:
            status = RunStatus.KILLED
        if self._session.is_active(self.id):
            self._session.end_run(status, run_id=self.id, suppress_flush_errors=exc_type is not None)

    @property
    def info(self) -> Run:
        """The run as stored now (params, tags, latest metrics), after flushing buffered metrics."""
        self._session.flush()
        return self._session.client().get_run(self.id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run, name)

    def __repr__(self) -> str:
        return f"<ActiveRun id={self.id} name={self._run.name!r}>"


class _Session:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.store_uri: str | None = None
        self.artifact_uri: str | None = None
        self.project: str | None = None
        self.synchronous = False
        self._client: TrackingClient | None = None
        self._buffer: MetricBuffer | None = None
        self._stack: list[ActiveRun] = []
        self._steps: dict[tuple[str, str], int] = {}
        self._valid_keys: set[str] = set()

    def settings(self, store_uri: str | None = None, artifact_uri: str | None = None) -> Settings:
        base = load_settings()
        from dataclasses import replace

        store = store_uri or self.store_uri
        art = artifact_uri or self.artifact_uri
        return replace(
            base,
            store_uri=normalize_store_uri(store) if store else base.store_uri,
            artifact_uri=art or base.artifact_uri,
            project=self.project or base.project,
        )

    def client(self) -> TrackingClient:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = TrackingClient(self.store_uri, self.artifact_uri)
                client = self._client
        return client

    def buffer(self) -> MetricBuffer:
        buffer = self._buffer
        if buffer is None:
            with self._lock:
                if self._buffer is None:
                    store = self.client().store
                    self._buffer = MetricBuffer(store.log_metrics)
                buffer = self._buffer
        return buffer

    def reset(self) -> None:
        """Forget stores and runs (after a fork, or when the URIs change)."""
        with self._lock:
            if self._buffer is not None and os.getpid() == self._pid:
                self._buffer.close()
            self._buffer = None
            if self._client is not None and os.getpid() == self._pid:
                self._client.store.close()
            self._client = None
            self._stack = []
            self._steps = {}
        self._pid = os.getpid()

    _pid = os.getpid()

    # -- runs -------------------------------------------------------------------------------
    def current(self) -> ActiveRun:
        stack = self._stack
        if not stack:
            raise InvalidArgument("no active run: call modelyard.start_run() first")
        return stack[-1]

    def is_active(self, run_id: str) -> bool:
        return any(r.id == run_id for r in self._stack)

    def start_run(
        self,
        name: str | None,
        nested: bool,
        tags: Mapping[str, Any] | None,
        run_id: str | None,
        project: str | None,
        log_system_info: bool,
    ) -> ActiveRun:
        client = self.client()
        with self._lock:
            if self._stack and not nested and run_id is None:
                raise InvalidArgument(f"run {self._stack[-1].id} is already active: end it first or pass nested=True")
            parent = self._stack[-1].id if (nested and self._stack) else None
            settings = self.settings()
            project_name = project or settings.project
            if settings.reproduce_of:  # a training re-run by ``modelyard reproduce``
                tags = {"modelyard.reproduction_of": settings.reproduce_of, **(tags or {})}
            if run_id is not None:
                try:
                    run = client.get_run(run_id)
                    run = client.store.update_run(run_id, status=RunStatus.RUNNING)
                except NotFound:
                    run = client.create_run(
                        project_name,
                        name=name,
                        run_id=run_id,
                        parent_run_id=parent,
                        tags=tags,
                        log_system_info=log_system_info,
                    )
            else:
                run = client.create_run(
                    project_name, name=name, parent_run_id=parent, tags=tags, log_system_info=log_system_info
                )
            active = ActiveRun(run, self)
            self._stack.append(active)
            return active

    def end_run(
        self,
        status: RunStatus | str = RunStatus.FINISHED,
        *,
        run_id: str | None = None,
        suppress_flush_errors: bool = False,
    ) -> None:
        with self._lock:
            if not self._stack:
                return
            target = run_id or self._stack[-1].id
            # ending a parent ends the children started inside it first
            while self._stack:
                active = self._stack[-1]
                try:
                    self.flush()
                except Exception:
                    if not suppress_flush_errors:
                        raise
                self.client().end_run(active.id, status)
                self._stack.pop()
                self._steps = {k: v for k, v in self._steps.items() if k[0] != active.id}
                if active.id == target:
                    break

    def flush(self) -> None:
        if self._buffer is not None:
            self._buffer.flush()

    # -- the hot path -----------------------------------------------------------------------
    def log_metric(self, key: str, value: Any, step: Any, timestamp: int | None, run_id: str | None) -> None:
        rid = run_id or self.current().id
        if key not in self._valid_keys:
            validate_key(key, "metric")
            self._valid_keys.add(key)
        val = value if type(value) is float else metric_value(value, key)
        counter_key = (rid, key)
        if step is None:
            step = self._steps.get(counter_key, -1) + 1
        elif type(step) is not int:
            step = metric_step(step, key)
        self._steps[counter_key] = step
        point = Metric(key, val, step, timestamp if timestamp is not None else time.time_ns() // 1_000_000)
        if self.synchronous:
            self.client().store.log_metrics(rid, [point])
        else:
            self.buffer().add(rid, point)


_session = _Session()
os.register_at_fork(after_in_child=_session.reset)


# -- public functions (re-exported by modelyard/__init__.py) --------------------------------


def set_store_uri(uri: str | None) -> None:
    """Point the SDK at a metadata store: a path, ``sqlite:///...``, ``postgresql://...``."""
    _session.flush()
    _session.reset()
    _session.store_uri = uri


def get_store_uri() -> str:
    return _session.settings().store_uri


def set_artifact_uri(uri: str | None) -> None:
    _session.flush()
    _session.reset()
    _session.artifact_uri = uri


def set_project(name: str) -> None:
    """Runs started from now on go to this project (created on first use)."""
    from modelyard.core.validation import validate_name

    _session.project = validate_name(name, "project name")


def set_synchronous(enabled: bool = True) -> None:
    """Write every metric before ``log_metric`` returns instead of buffering (slower, simpler)."""
    _session.flush()
    _session.synchronous = enabled


def start_run(
    name: str | None = None,
    nested: bool = False,
    tags: Mapping[str, Any] | None = None,
    *,
    run_id: str | None = None,
    project: str | None = None,
    log_system_info: bool = True,
    synchronous: bool | None = None,
) -> ActiveRun:
    """Start (or resume, with ``run_id``) a run and make it the active one."""
    if synchronous is not None:
        set_synchronous(synchronous)
    return _session.start_run(name, nested, tags, run_id, project, log_system_info)


def active_run() -> ActiveRun | None:
    return _session._stack[-1] if _session._stack else None


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the active run, flushing its buffered metrics first."""
    _session.end_run(status)


def log_metric(
    key: str, value: float, step: int | None = None, *, timestamp: int | None = None, run_id: str | None = None
) -> None:
    """Log one point. Without ``step`` the key's previous step + 1 is used (0 for the first point)."""
    _session.log_metric(key, value, step, timestamp, run_id)


def log_metrics(
    metrics: Mapping[str, float], step: int | None = None, *, timestamp: int | None = None, run_id: str | None = None
) -> None:
    ts = timestamp if timestamp is not None else time.time_ns() // 1_000_000
    for key, value in metrics.items():
        _session.log_metric(key, value, step, ts, run_id)


def log_param(key: str, value: Any) -> None:
    log_params({key: value})


def log_params(params: Mapping[str, Any]) -> None:
    _session.client().log_params(_session.current().id, params)


def set_tag(key: str, value: Any) -> None:
    set_tags({key: value})


def set_tags(tags: Mapping[str, Any]) -> None:
    _session.client().set_tags(_session.current().id, tags)


def log_batch(
    metrics: Sequence[Metric | tuple[str, float, int, int]] = (),
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    *,
    run_id: str | None = None,
) -> None:
    """Write metrics, params and tags synchronously in one call (validated first; all or nothing)."""
    _session.client().log_batch(run_id or _session.current().id, metrics=metrics, params=params, tags=tags)


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> ArtifactEntry:
    return _session.client().log_artifact(_session.current().id, local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> list[ArtifactEntry]:
    return _session.client().log_artifacts(_session.current().id, local_dir, artifact_path)


def log_text(text: str, artifact_path: str) -> ArtifactEntry:
    return _session.client().log_bytes(_session.current().id, text.encode(), artifact_path)


def log_input(
    name: str,
    version: str | None = None,
    *,
    digest: str | None = None,
    source: str | None = None,
    context: str | None = None,
) -> None:
    """Record a dataset version this run read (issue 4 makes ``datasets.get`` call it for you)."""
    _session.client().log_inputs(
        _session.current().id, [RunInput(name=name, version=version, digest=digest, source=source, context=context)]
    )


def set_notes(notes: str) -> None:
    _session.client().set_notes(_session.current().id, notes)


def flush() -> None:
    """Write every buffered metric point now."""
    _session.flush()


def get_run(run_id: str) -> Run:
    _session.flush()
    return _session.client().get_run(run_id)


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    _session.flush()
    return _session.client().get_metric_history(run_id, key)


def list_artifacts(run_id: str, path: str | None = None) -> list[ArtifactEntry]:
    return _session.client().list_artifacts(run_id, path)


def download_artifacts(run_id: str, path: str, dest: str | os.PathLike[str] = ".") -> Path:
    return _session.client().download_artifacts(run_id, path, dest)


def search_runs(
    project: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | str | None = None,
    max_results: int = 1000,
    *,
    include_deleted: bool = False,
) -> pd.DataFrame:
    """Runs as a DataFrame with ``run_id``, attribute, ``params.*``, ``metrics.*`` and ``tags.*`` columns.

    ``project`` defaults to the current project (``set_project``); pass a list for several.
    """
    _session.flush()
    if project is None:
        projects: list[str] = [_session.settings().project]
    elif isinstance(project, str):
        projects = [project]
    else:
        projects = list(project)
    runs, _ = _session.client().search_runs(
        projects, filter=filter, order_by=order_by, max_results=max_results, include_deleted=include_deleted
    )
    return runs_to_frame(runs)
