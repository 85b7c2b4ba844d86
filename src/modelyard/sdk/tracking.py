"""The fluent SDK: ``modelyard.start_run()``, ``modelyard.log_metric()`` and friends.

All process state lives in the one session (``modelyard.sdk.session``: configured stores, the
active runs of each thread and asyncio task, the metric buffer), reset in a forked child so that
a child never reuses its parent's connections or flusher thread. This module is the behaviour
over it: the fluent functions, ``ActiveRun`` and ``TrackingClient`` (the explicit API over the
configured stores).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.core.tracking import ArtifactEntry, Metric, Run, RunInput, RunStatus
from modelyard.sdk.session import Session, _open_stores, _session, caller
from modelyard.tracking.service import TrackingService, runs_to_frame

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.artifacts.interfaces import ArtifactStore
    from modelyard.store.bundle import Stores
    from modelyard.store.interfaces import TrackingStore


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
        store: TrackingStore | None = None,
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

    def __init__(self, run: Run, session: Session) -> None:
        self._run = run
        self._session = session
        self.id = run.id
        self.owner = caller()  # the thread or asyncio task that started it: only it ends it

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        status = RunStatus.FINISHED if exc_type is None else RunStatus.FAILED
        if exc_type is KeyboardInterrupt:
            status = RunStatus.KILLED
        if self in self._session.own_runs():
            _end_runs(status, run_id=self.id, suppress_flush_errors=exc_type is not None)

    @property
    def info(self) -> Run:
        """The run as stored now (params, tags, latest metrics), after flushing buffered metrics."""
        self._session.flush()
        return self._session.client().get_run(self.id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run, name)

    def __repr__(self) -> str:
        return f"<ActiveRun id={self.id} name={self._run.name!r}>"


def _start_run(
    name: str | None,
    nested: bool,
    tags: Mapping[str, Any] | None,
    run_id: str | None,
    project: str | None,
    log_system_info: bool,
) -> ActiveRun:
    client = _session.client()
    runs = _session.runs()
    own = _session.own_runs()
    if own and not nested and run_id is None:
        raise InvalidArgument(f"run {own[-1].id} is already active: end it first or pass nested=True")
    # A run inherited from another thread or task is the parent of the caller's first own run.
    parent = runs[-1].id if runs and (nested or not own) else None
    settings = _session.settings()
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
    active = ActiveRun(run, _session)
    _session.push(active)
    return active


def _end_runs(
    status: RunStatus | str = RunStatus.FINISHED, *, run_id: str | None = None, suppress_flush_errors: bool = False
) -> None:
    """End the caller's innermost own run, or its own run ``run_id`` and the runs started inside it."""
    own = _session.own_runs()
    if not own:
        return
    target = run_id or own[-1].id
    if all(active.id != target for active in own):
        return
    for active in reversed(own):  # ending a parent ends the children started inside it first
        try:
            _session.flush()
        except Exception:
            if not suppress_flush_errors:
                raise
        _session.client().end_run(active.id, status)
        _session.pop(active)
        if active.id == target:
            break


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
    return _start_run(name, nested, tags, run_id, project, log_system_info)


def active_run() -> ActiveRun | None:
    """The caller's active run: the innermost run this thread or task started, else the one it inherited."""
    runs = _session.runs()
    return runs[-1] if runs else None


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the innermost run this thread or task started, flushing its buffered metrics first."""
    _end_runs(status)


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
