"""``SqlTrackingStore``: projects, runs, params, tags, inputs, artifacts and metrics over SQL.

The same queries serve SQLite and PostgreSQL, so both backends behave identically under the
contract suite; the engine, transactions and migrations are the shared ``SqlDatabase``'s
(database.py). The hot paths — ``log_batch`` and the bulk child loads of ``search_runs`` — run
straight on the DBAPI cursor.

The run half of the lineage graph's downstream walk (which runs read a dataset version, are
children of a run, used a model version) is in run_links.py; heartbeats in run_liveness.py.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.core.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from modelyard.core.filters import parse_filter, parse_order_by
from modelyard.core.ids import new_id
from modelyard.core.tracking import (
    ArtifactEntry,
    LatestMetric,
    LifecycleStage,
    Metric,
    Project,
    Run,
    RunInput,
    RunQuery,
    RunsResult,
    RunStatus,
    now_millis,
)
from modelyard.core.validation import validate_entity_name, validate_name
from modelyard.store.interfaces import TrackingStore
from modelyard.store.sql.database import (
    SqlAggregateStore,
    SqlDatabase,
    describe,
    gc_paused,
    validated,
)
from modelyard.store.sql.filters import compile_filter, compile_order_by, decode_page_token, encode_page_token
from modelyard.store.sql.run_links import SqlRunLinks
from modelyard.store.sql.run_liveness import SqlRunLiveness
from modelyard.store.sql.schema import (
    LATEST_UPSERT_SQL,
    METRICS_INSERT_POSTGRESQL,
    METRICS_INSERT_SQLITE,
    artifact_from_row,
    integrity_problems,
    latest_metric_from_row,
    metrics_table,
    metrics_to_rows,
    params_table,
    params_to_rows,
    project_from_row,
    projects,
    run_artifacts,
    run_from_row,
    run_input_from_row,
    run_inputs,
    runs,
    tags_table,
    tags_to_rows,
    validate_run_id,
)

_MAX_RESULTS = 50_000
_ACTIVE = LifecycleStage.ACTIVE.value


class SqlTrackingStore(SqlRunLinks, SqlRunLiveness, SqlAggregateStore, TrackingStore):
    """The tracking aggregate over SQLAlchemy Core (the raw DBAPI cursor on the hot paths)."""

    def __init__(self, db: SqlDatabase) -> None:
        super().__init__(db)
        self._ph = db.ph
        db.register_check("tracking", integrity_problems)

    def upgrade(self) -> None:
        """Apply pending schema migrations (``modelyard db upgrade``)."""
        self.db.upgrade()

    # --- projects ----------------------------------------------------------------------------

    def create_project(self, name: str, *, project_id: str | None = None, description: str | None = None) -> Project:
        validate_entity_name(name, "project name")
        pid = validate_run_id(project_id) if project_id is not None else new_id()
        project = Project(id=pid, name=name, created_at=now_millis(), description=description)

        def tx(conn: Connection) -> Project:
            taken = conn.execute(
                select(projects.c.id).where((projects.c.name == name) | (projects.c.id == pid))
            ).first()
            if taken is not None:
                raise AlreadyExists(f"project {name!r} already exists")
            values = project.model_dump(mode="json")
            conn.execute(projects.insert().values(**values))
            return project

        try:
            return self._write(tx)
        except IntegrityError:
            raise AlreadyExists(f"project {name!r} already exists") from None

    def get_project(self, project_id: str) -> Project:
        return self._project_where(projects.c.id == project_id, f"project {project_id!r} not found")

    def get_project_by_name(self, name: str) -> Project:
        return self._project_where(projects.c.name == name, f"project named {name!r} not found")

    def _project_where(self, condition: Any, message: str) -> Project:
        row = self._read(lambda conn: conn.execute(select(projects).where(condition)).mappings().first())
        if row is None:
            raise NotFound(message)
        return project_from_row(row)

    def get_or_create_project(self, name: str) -> Project:
        try:
            return self.get_project_by_name(name)
        except NotFound:
            pass
        try:
            return self.create_project(name)
        except AlreadyExists:  # a concurrent caller created it first
            return self.get_project_by_name(name)

    def list_projects(self, *, include_deleted: bool = False) -> list[Project]:
        stmt = select(projects).order_by(projects.c.name)
        if not include_deleted:
            stmt = stmt.where(projects.c.lifecycle_stage == LifecycleStage.ACTIVE.value)
        rows = self._read(lambda conn: conn.execute(stmt).mappings().all())
        return [project_from_row(row) for row in rows]

    # --- runs --------------------------------------------------------------------------------

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
        rid = validate_run_id(run_id) if run_id is not None else new_id()
        if name is not None:
            validate_name(name, "run name")
        tag_rows = tags_to_rows(rid, tags or {})
        started = now_millis() if start_time is None else start_time
        try:
            run = Run(
                id=rid,
                project_id=project_id,
                name=name,
                status=RunStatus(status),
                start_time=started,
                heartbeat_at=started if RunStatus(status) == RunStatus.RUNNING else None,
                parent_run_id=parent_run_id,
                tags={row["key"]: row["value"] for row in tag_rows},
            )
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise InvalidArgument(f"invalid run: {describe(exc)}") from None

        def tx(conn: Connection) -> Run | None:
            if conn.execute(select(projects.c.id).where(projects.c.id == project_id)).first() is None:
                raise NotFound(f"project {project_id!r} not found")
            existing = conn.execute(select(runs.c.project_id).where(runs.c.id == rid)).first()
            if existing is not None:
                return self._existing_run(existing.project_id, project_id, rid)
            if parent_run_id is not None and (
                conn.execute(select(runs.c.id).where(runs.c.id == parent_run_id)).first() is None
            ):
                raise NotFound(f"parent run {parent_run_id!r} not found")
            values = run.model_dump(mode="json", exclude={"params", "tags", "metrics", "inputs"})
            conn.execute(runs.insert().values(**values))
            if tag_rows:
                conn.execute(tags_table.insert(), tag_rows)
            return run

        try:
            created = self._write(tx)
        except IntegrityError:  # a concurrent retry of the same create_run won the race
            created = None
            existing_run = self.get_run(rid)
            self._existing_run(existing_run.project_id, project_id, rid)
        return created if created is not None else self.get_run(rid)

    @staticmethod
    def _existing_run(existing_project: str, project_id: str, run_id: str) -> None:
        if existing_project != project_id:
            raise AlreadyExists(f"run {run_id!r} already exists in another project")

    def get_run(self, run_id: str) -> Run:
        return self._read(lambda conn: self._get_run(conn, run_id))

    def _get_run(self, conn: Connection, run_id: str) -> Run:
        row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise NotFound(f"run {run_id!r} not found")
        return self._runs_with_children(conn, [row], True, True, True)[0]

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        end_time: int | None = None,
        name: str | None = None,
        notes: str | None = None,
    ) -> Run:
        values: dict[str, Any] = {}
        if status is not None:
            if status not in RunStatus.__members__.values():
                raise InvalidArgument(f"invalid run status {status!r}")
            values["status"] = RunStatus(status).value
        if end_time is not None:
            if isinstance(end_time, bool) or not isinstance(end_time, int):
                raise InvalidArgument(f"end_time must be integer milliseconds, got {end_time!r}")
            values["end_time"] = end_time
        if name is not None:
            values["name"] = validate_name(name, "run name")
        if notes is not None:
            values["notes"] = notes

        def tx(conn: Connection) -> Run:
            self._require_run(conn, run_id)
            if values:
                conn.execute(update(runs).where(runs.c.id == run_id).values(**values))
            return self._get_run(conn, run_id)

        return self._write(tx)

    def set_run_lifecycle(self, run_id: str, stage: LifecycleStage) -> None:
        stage = LifecycleStage(stage)

        def tx(conn: Connection) -> None:
            done = conn.execute(update(runs).where(runs.c.id == run_id).values(lifecycle_stage=stage.value))
            if done.rowcount == 0:
                raise NotFound(f"run {run_id!r} not found")

        self._write(tx)

    def _require_run(self, conn: Connection, run_id: str) -> None:
        """Writes go to active runs only: a missing or soft-deleted run is NotFound."""
        stage = conn.execute(select(runs.c.lifecycle_stage).where(runs.c.id == run_id)).scalar()
        if stage is None:
            raise NotFound(f"run {run_id!r} not found")
        if stage != LifecycleStage.ACTIVE.value:
            raise NotFound(f"run {run_id!r} not found (it is deleted; restore it to write to it)")

    # --- params, tags, inputs, artifacts ------------------------------------------------------

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        rows = params_to_rows(run_id, params)
        self._write(lambda conn: self._log_params_tx(conn, run_id, rows))

    def _log_params_tx(self, conn: Connection, run_id: str, rows: list[dict[str, str]]) -> None:
        self._require_run(conn, run_id)
        if not rows:
            return
        wanted = {row["key"]: row["value"] for row in rows}
        self._raise_param_conflicts(conn, run_id, wanted)
        conn.execute(self._insert(params_table).on_conflict_do_nothing(), rows)
        if self._dialect != "sqlite":
            # SQLite serialises writers (BEGIN IMMEDIATE); elsewhere a concurrent writer may have
            # inserted a different value between our read and our insert: read back to see it.
            self._raise_param_conflicts(conn, run_id, wanted)

    def _raise_param_conflicts(self, conn: Connection, run_id: str, wanted: dict[str, str]) -> None:
        stmt = select(params_table.c.key, params_table.c.value).where(
            params_table.c.run_id == run_id, params_table.c.key.in_(list(wanted))
        )
        for key, old in conn.execute(stmt):
            if old != wanted[key]:
                raise Conflict(
                    f"param {key!r} of run {run_id!r} is already {old!r}; params are immutable, "
                    f"cannot change it to {wanted[key]!r}"
                )

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        rows = tags_to_rows(run_id, tags)
        self._write(lambda conn: self._set_tags_tx(conn, run_id, rows))

    def _set_tags_tx(self, conn: Connection, run_id: str, rows: list[dict[str, str]]) -> None:
        self._require_run(conn, run_id)
        if rows:
            stmt = self._insert(tags_table)
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["run_id", "key"], set_={"value": stmt.excluded.value}), rows
            )

    def delete_tag(self, run_id: str, key: str) -> None:
        def tx(conn: Connection) -> None:
            self._require_run(conn, run_id)
            done = conn.execute(delete(tags_table).where(tags_table.c.run_id == run_id, tags_table.c.key == key))
            if done.rowcount == 0:
                raise NotFound(f"tag {key!r} not found on run {run_id!r}")

        self._write(tx)

    def log_inputs(self, run_id: str, inputs: Sequence[RunInput]) -> None:
        rows = []
        for item in inputs:
            item = validated(RunInput, item)
            validate_name(item.name, "input name")
            rows.append(
                {
                    "run_id": run_id,
                    "name": item.name,
                    "version": item.version or "",
                    "context": item.context or "",
                    "digest": item.digest,
                    "source": item.source,
                }
            )

        def tx(conn: Connection) -> None:
            self._require_run(conn, run_id)
            if rows:
                conn.execute(self._insert(run_inputs).on_conflict_do_nothing(), rows)

        self._write(tx)

    def add_artifacts(self, run_id: str, entries: Sequence[ArtifactEntry]) -> None:
        rows = {}
        for entry in entries:
            entry = validated(ArtifactEntry, entry)
            path = entry.path
            if not path or path.startswith("/") or ".." in path.split("/") or entry.size < 0:
                raise InvalidArgument(f"invalid artifact {path!r}: a relative path without '..', size >= 0")
            rows[path] = {"run_id": run_id, "path": path, "digest": entry.digest, "size": entry.size}

        def tx(conn: Connection) -> None:
            self._require_run(conn, run_id)
            if rows:
                stmt = self._insert(run_artifacts)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["run_id", "path"],
                        set_={"digest": stmt.excluded.digest, "size": stmt.excluded.size},
                    ),
                    list(rows.values()),
                )

        self._write(tx)

    def list_artifacts(self, run_id: str, prefix: str | None = None) -> list[ArtifactEntry]:
        stmt = select(run_artifacts).where(run_artifacts.c.run_id == run_id).order_by(run_artifacts.c.path)
        directory = (prefix or "").strip("/")
        if directory:
            # "a/b" lists "a/b" itself and everything under "a/b/": a range keeps it on the index
            # and needs no LIKE escaping ('0' is the character after '/').
            col = run_artifacts.c.path
            stmt = stmt.where((col == directory) | ((col > directory + "/") & (col < directory + "0")))

        def tx(conn: Connection) -> list[ArtifactEntry]:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"run {run_id!r} not found")
            return [artifact_from_row(row) for row in conn.execute(stmt).mappings()]

        return self._read(tx)

    # --- metrics -----------------------------------------------------------------------------

    def log_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        rows, latest = metrics_to_rows(run_id, metrics)
        self._write(lambda conn: self._log_metrics_tx(conn, run_id, rows, latest))

    def _log_metrics_tx(
        self, conn: Connection, run_id: str, rows: list[tuple[Any, ...]], latest: list[tuple[Any, ...]]
    ) -> None:
        self._require_run(conn, run_id)
        if not rows:
            return
        if self._dialect == "postgresql":
            rows.sort()  # one lock order for every writer: concurrent retries cannot deadlock
            columns = list(zip(*rows, strict=True))
            conn.exec_driver_sql(METRICS_INSERT_POSTGRESQL, (run_id, *(list(c) for c in columns[1:])))
        else:
            conn.exec_driver_sql(METRICS_INSERT_SQLITE, rows)
        conn.exec_driver_sql(LATEST_UPSERT_SQL.format(ph=", ".join([self._ph] * 6)), latest)

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Params, tags and metrics in one transaction: a param conflict writes nothing at all."""
        param_rows = params_to_rows(run_id, params or {})
        tag_rows = tags_to_rows(run_id, tags or {})
        metric_rows, latest = metrics_to_rows(run_id, metrics)

        def tx(conn: Connection) -> None:
            self._log_params_tx(conn, run_id, param_rows)
            self._set_tags_tx(conn, run_id, tag_rows)
            self._log_metrics_tx(conn, run_id, metric_rows, latest)

        self._write(tx)

    def import_runs(self, records: Sequence[tuple[Run, Sequence[Metric]]]) -> None:
        """Whole runs in one transaction (tuning trials arrive by the hundred); runs that already
        exist are skipped, so a retried import adds nothing."""
        if not records:
            return
        prepared = []
        for run, history in records:
            validate_run_id(run.id)
            metric_rows, latest = metrics_to_rows(run.id, history)
            prepared.append(
                (
                    run,
                    params_to_rows(run.id, dict(run.params)),
                    tags_to_rows(run.id, dict(run.tags)),
                    metric_rows,
                    latest,
                )
            )
        ids = [run.id for run, *_ in prepared]

        def tx(conn: Connection) -> None:
            project_ids = {run.project_id for run, *_ in prepared}
            found = set(conn.execute(select(projects.c.id).where(projects.c.id.in_(project_ids))).scalars())
            if missing := project_ids - found:
                raise NotFound(f"project {sorted(missing)[0]!r} not found")
            existing = set(conn.execute(select(runs.c.id).where(runs.c.id.in_(ids))).scalars())
            parents = {run.parent_run_id for run, *_ in prepared if run.parent_run_id} - set(ids)
            if parents:
                have = set(conn.execute(select(runs.c.id).where(runs.c.id.in_(parents))).scalars())
                if missing := parents - have:
                    raise NotFound(f"parent run {sorted(missing)[0]!r} not found")
            todo = [item for item in prepared if item[0].id not in existing]
            if not todo:
                return
            conn.execute(
                runs.insert(),
                [run.model_dump(mode="json", exclude={"params", "tags", "metrics", "inputs"}) for run, *_ in todo],
            )
            param_rows = [row for item in todo for row in item[1]]
            tag_rows = [row for item in todo for row in item[2]]
            if param_rows:
                conn.execute(params_table.insert(), param_rows)
            if tag_rows:
                conn.execute(tags_table.insert(), tag_rows)
            for run, _params, _tags, metric_rows, latest in todo:
                if metric_rows:
                    self._log_metrics_tx(conn, run.id, metric_rows, latest)

        self._write(tx)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        # A raw cursor: histories run to 100,000s of points and SQLAlchemy's row processing would
        # be most of the cost (the UI charts them, downsampled, on every page view).
        sql = (
            f"SELECT value, is_nan, step, timestamp FROM {metrics_table.name} "
            f"WHERE run_id = {self._ph} AND key = {self._ph} ORDER BY step, timestamp, value"
        )
        nan = math.nan

        def tx(conn: Connection) -> list[Metric]:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"run {run_id!r} not found")
            rows = conn.exec_driver_sql(sql, (run_id, key)).fetchall()
            return [Metric(key, nan if is_nan else float(value), step, ts) for value, is_nan, step, ts in rows]

        return self._read(tx)

    def count_metric_points(self, run_id: str | None = None) -> int:
        history = metrics_table
        stmt = select(func.count()).select_from(history)
        if run_id is not None:
            stmt = stmt.where(history.c.run_id == run_id)

        def tx(conn: Connection) -> int:
            if run_id is not None and conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"run {run_id!r} not found")
            return int(conn.execute(stmt).scalar_one())

        return self._read(tx)

    # --- search ------------------------------------------------------------------------------

    def search_runs(self, query: RunQuery) -> RunsResult:
        if not 0 < query.max_results <= _MAX_RESULTS:
            raise InvalidArgument(f"max_results must be between 1 and {_MAX_RESULTS}, got {query.max_results}")
        condition = compile_filter(parse_filter(query.filter))
        plan = compile_order_by(parse_order_by(list(query.order_by)))
        offset = decode_page_token(query.page_token)
        conditions = [condition]
        if query.project_ids:
            conditions.append(runs.c.project_id.in_(list(query.project_ids)))
        if query.lifecycle is not None:
            conditions.append(runs.c.lifecycle_stage == LifecycleStage(query.lifecycle).value)
        stmt = plan.apply(select(*runs.c).where(and_(*conditions)))
        stmt = stmt.limit(query.max_results + 1).offset(offset)

        def tx(conn: Connection) -> RunsResult:
            rows = conn.execute(stmt).all()
            more = len(rows) > query.max_results
            rows = rows[: query.max_results]
            found = self._runs_with_children(
                conn, rows, query.include_params, query.include_tags, query.include_metrics
            )
            token = encode_page_token(offset + len(rows)) if more else None
            return RunsResult(runs=found, next_page_token=token, total=None if more else offset + len(rows))

        return self._read(tx)

    def _runs_with_children(
        self, conn: Connection, rows: Sequence[Any], with_params: bool, with_tags: bool, with_metrics: bool
    ) -> list[Run]:
        """Run entities for ``rows`` with their children: one query per child table for the whole
        page, never one per run. These loads are the bulk of a large search, so they bypass
        SQLAlchemy's result rows (raw DBAPI cursor) and pause the cyclic GC, whose full
        collections would otherwise rescan the 100,000s of objects being built."""
        ids = [row.id for row in rows]
        param_map: dict[str, dict[str, str]] = {}
        tag_map: dict[str, dict[str, str]] = {}
        metric_map: dict[str, dict[str, LatestMetric]] = {}
        input_map: dict[str, list[RunInput]] = {}
        if self._dialect == "sqlite":
            where, arg = "run_id IN (SELECT value FROM json_each(?))", json.dumps(ids)
        else:
            where, arg = "run_id = ANY(%s)", ids  # type: ignore[assignment]
        cursor = conn.connection.cursor()
        with gc_paused(len(ids) > 100):
            try:

                def fetch(sql: str) -> list[Any]:
                    cursor.execute(sql.format(where=where), (arg,))
                    return list(cursor.fetchall())

                for table, into in ((params_table, param_map), (tags_table, tag_map)):
                    if (with_params and table is params_table) or (with_tags and table is tags_table):
                        for run_id, key, value in fetch(
                            f'SELECT run_id, "key", value FROM {table.name} WHERE {{where}}'
                        ):
                            into.setdefault(run_id, {})[key] = value
                if with_metrics:
                    sql = 'SELECT run_id, "key", value, is_nan, step, "timestamp" FROM latest_metrics WHERE {where}'
                    for run_id, key, value, is_nan, step, ts in fetch(sql):
                        metric_map.setdefault(run_id, {})[key] = latest_metric_from_row(key, value, is_nan, step, ts)
                sql = (
                    "SELECT run_id, name, version, context, digest, source FROM run_inputs WHERE {where} "
                    "ORDER BY run_id, name, version, context"
                )
                for run_id, *values in fetch(sql):
                    input_map.setdefault(run_id, []).append(run_input_from_row(*values))
            finally:
                cursor.close()
            return [
                run_from_row(
                    row,
                    params=param_map.get(row.id, {}),
                    tags=tag_map.get(row.id, {}),
                    metrics=metric_map.get(row.id, {}),
                    inputs=input_map.get(row.id, []),
                )
                for row in rows
            ]
