"""SQL tables of the metadata store, and the row -> entity conversions.

Rows stay separate from entities: the tables here are SQLAlchemy Core tables (Core, not the ORM,
because the hot paths — metric batches and bulk run loads — cannot afford per-row ORM objects),
and the ``*_from_row`` helpers turn result rows into the pydantic entities of ``core``.

How NaN is stored (the same on every backend): SQLite turns a bound NaN into NULL, and NULLs
are never equal in a unique index, so a retried batch with NaN points would duplicate them.
Every metric value therefore sits in two NOT NULL columns: ``value`` (0.0 when the point is
NaN) and ``is_nan``. +-inf need no trick: both SQLite and PostgreSQL store them natively.

Timestamps are integer milliseconds since the epoch and steps are 64-bit, hence BIGINT.

The migrations in ``migrations/versions`` create these tables; they are written out there by
hand (a migration is a frozen snapshot, it must not follow later edits of this module), and a
test compares the migrated database with these definitions so the two cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    exists,
    func,
    or_,
    select,
)

from modelyard.core.errors import InvalidArgument
from modelyard.core.tracking import (
    ArtifactEntry,
    LatestMetric,
    LifecycleStage,
    Metric,
    Project,
    Run,
    RunInput,
    RunStatus,
)
from modelyard.core.validation import (
    metric_step,
    metric_value,
    param_value_to_str,
    tag_value_to_str,
    validate_key,
)
from modelyard.store.sql.migrations import schema_heads

#: The Alembic heads (one per aggregate branch) this code expects; a store there skips Alembic.
SCHEMA_HEADS = schema_heads()

ID_LENGTH = 64
KEY_LENGTH = 250

metadata = MetaData()

projects = Table(
    "projects",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("lifecycle_stage", String(16), nullable=False),
    Column("description", Text, nullable=True),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("project_id", String(ID_LENGTH), ForeignKey("projects.id"), nullable=False),
    Column("name", String(256), nullable=True),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("parent_run_id", String(ID_LENGTH), nullable=True),
    Column("lifecycle_stage", String(16), nullable=False),
    Column("notes", Text, nullable=True),
    Column("heartbeat_at", BigInteger, nullable=True),  # migration 0003
    Index("ix_runs_project_stage_start", "project_id", "lifecycle_stage", "start_time"),
    Index("ix_runs_parent", "parent_run_id"),
    Index("ix_runs_status_heartbeat", "status", "heartbeat_at"),
)


def _run_fk() -> Column[Any]:
    return Column("run_id", String(ID_LENGTH), ForeignKey("runs.id"), primary_key=True)


params_table = Table(
    "params",
    metadata,
    _run_fk(),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("value", Text, nullable=False),
    sqlite_with_rowid=False,
)

tags_table = Table(
    "tags",
    metadata,
    _run_fk(),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("value", Text, nullable=False),
    sqlite_with_rowid=False,
)

# The primary key is the whole point: a retried batch hits it and ON CONFLICT DO NOTHING drops
# the duplicates, and its order (run, key, step, timestamp) is the order history is read in.
metrics_table = Table(
    "metrics",
    metadata,
    _run_fk(),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("step", BigInteger, primary_key=True, autoincrement=False),
    Column("timestamp", BigInteger, primary_key=True, autoincrement=False),
    Column("value", Double(), primary_key=True),
    Column("is_nan", Boolean(create_constraint=False), primary_key=True),
    sqlite_with_rowid=False,
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    _run_fk(),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("value", Double(), nullable=False),
    Column("is_nan", Boolean(create_constraint=False), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# version and context are part of the identity of an input but optional in the entity; they are
# stored as '' when absent because NULLs would defeat the primary key (idempotent re-logging).
# The primary key answers "what did this run read"; ix_run_inputs_name_version (migration 0002)
# answers the reverse, "which runs read NAME@vN", for the lineage graph's downstream walk.
run_inputs = Table(
    "run_inputs",
    metadata,
    _run_fk(),
    Column("name", String(256), primary_key=True),
    Column("version", String(256), primary_key=True),
    Column("context", String(256), primary_key=True),
    Column("digest", String(256), nullable=True),
    Column("source", Text, nullable=True),
    Index("ix_run_inputs_name_version", "name", "version"),
    sqlite_with_rowid=False,
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    _run_fk(),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(256), nullable=False),
    Column("size", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# The model versions a run used (batch scoring: the version it predicted with), migration 0004.
# The primary key answers "what did this run use"; ix_run_model_uses_model answers the reverse,
# "which runs used NAME@N", for the lineage graph's downstream walk (one lookup, not a tag search).
run_model_uses = Table(
    "run_model_uses",
    metadata,
    _run_fk(),
    Column("model_name", String(256), primary_key=True),
    Column("model_version", Integer, primary_key=True),
    Column("context", String(256), primary_key=True),
    Index("ix_run_model_uses_model", "model_name", "model_version"),
    sqlite_with_rowid=False,
)

#: Tables whose rows belong to one run (checked for orphans by ``check()``).
RUN_CHILD_TABLES = (
    params_table,
    tags_table,
    metrics_table,
    latest_metrics,
    run_inputs,
    run_artifacts,
    run_model_uses,
)


# --- values in and out ---------------------------------------------------------------------


def stored_value(value: float) -> tuple[float, bool]:
    """A metric value as its (value, is_nan) column pair."""
    if value != value:  # NaN, without a function call on the hot path
        return 0.0, True
    return value, False


def loaded_value(value: float, is_nan: bool) -> float:
    return math.nan if is_nan else float(value)


_STATUS = {s.value: s for s in RunStatus}
_STAGE = {s.value: s for s in LifecycleStage}


def run_status(text: str) -> RunStatus:
    return _STATUS[text]


def lifecycle_stage(text: str) -> LifecycleStage:
    return _STAGE[text]


_new = object.__new__
_set = object.__setattr__
_LATEST_FIELDS = frozenset(LatestMetric.model_fields)
_RUN_FIELDS = frozenset(Run.model_fields)


def _construct_fast(cls: type[Any], fields: frozenset[str], values: dict[str, Any]) -> Any:
    """What ``model_construct`` does, minus its per-field loop: 3x faster, which matters for the
    100,000 latest metrics of a 10,000-run search. ``_FAST_CONSTRUCT_OK`` guards the shortcut."""
    obj = _new(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", fields)
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


def _fast_construct_works() -> bool:
    """Checked once at import: if pydantic internals ever change, fall back to model_construct."""
    values: dict[str, Any] = {"key": "k", "value": 1.5, "step": 2, "timestamp": 3}
    try:
        fast = _construct_fast(LatestMetric, _LATEST_FIELDS, dict(values))
        return bool(fast == LatestMetric(**values) and fast.model_dump() == values and hash(fast))
    except Exception:
        return False


_FAST_CONSTRUCT_OK = _fast_construct_works()


def project_from_row(row: Mapping[Any, Any]) -> Project:
    return Project.model_construct(
        id=row["id"],
        name=row["name"],
        created_at=row["created_at"],
        lifecycle_stage=_STAGE[row["lifecycle_stage"]],
        description=row["description"],
    )


def metric_from_row(key: str, value: float, is_nan: bool, step: int, timestamp: int) -> Metric:
    return Metric(key, math.nan if is_nan else float(value), step, timestamp)


def latest_metric_from_row(key: str, value: float, is_nan: bool, step: int, timestamp: int) -> LatestMetric:
    values: dict[str, Any] = {
        "key": key,
        "value": math.nan if is_nan else float(value),
        "step": step,
        "timestamp": timestamp,
    }
    if _FAST_CONSTRUCT_OK:
        return _construct_fast(LatestMetric, _LATEST_FIELDS, values)  # type: ignore[no-any-return]
    return LatestMetric.model_construct(**values)


def run_input_from_row(name: str, version: str, context: str, digest: str | None, source: str | None) -> RunInput:
    return RunInput.model_construct(
        name=name, version=version or None, digest=digest, source=source, context=context or None
    )


def artifact_from_row(row: Mapping[Any, Any]) -> ArtifactEntry:
    return ArtifactEntry.model_construct(path=row["path"], digest=row["digest"], size=row["size"])


def run_from_row(
    row: Any,
    *,
    params: dict[str, str],
    tags: dict[str, str],
    metrics: dict[str, LatestMetric],
    inputs: list[RunInput],
) -> Run:
    """A Run entity from a ``runs`` row and its already-loaded children.

    ``model_construct`` skips validation: every value here was validated when it was written,
    and validating 10,000 runs with their params and metrics would dominate a bulk search.
    """
    values = dict(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        status=_STATUS[row.status],
        start_time=row.start_time,
        end_time=row.end_time,
        parent_run_id=row.parent_run_id,
        lifecycle_stage=_STAGE[row.lifecycle_stage],
        notes=row.notes,
        heartbeat_at=row.heartbeat_at,
        params=params,
        tags=tags,
        metrics=metrics,
        inputs=inputs,
    )
    if _FAST_CONSTRUCT_OK:
        return _construct_fast(Run, _RUN_FIELDS, values)  # type: ignore[no-any-return]
    return Run.model_construct(**values)


# --- integrity --------------------------------------------------------------------------------

#: How many latest_metrics rows (and runs) ``integrity_problems`` compares with the history.
CHECK_SAMPLE = 1000


def integrity_problems(conn: Connection) -> list[str]:
    """Problems that foreign keys alone do not catch, or that appear when they were bypassed:
    orphan rows, runs of a missing project or parent, latest_metrics that disagree with the
    history (checked on a random sample, to keep ``check()`` affordable on big stores), and a
    schema that is not at the revision this code expects."""
    from modelyard.store.sql.migrations import current_revisions

    problems: list[str] = []
    revisions = current_revisions(conn)
    if revisions != SCHEMA_HEADS:
        problems.append(
            f"schema revisions are {sorted(revisions)}, expected {sorted(SCHEMA_HEADS)} (run `modelyard db upgrade`)"
        )
        if not revisions:
            return problems

    def count(stmt: Any) -> int:
        return int(conn.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())

    for table in RUN_CHILD_TABLES:
        orphans = count(select(table.c.run_id).where(~exists().where(runs.c.id == table.c.run_id)))
        if orphans:
            problems.append(f"{orphans} row(s) of {table.name} belong to a run that does not exist")
    no_project = count(select(runs.c.id).where(~exists().where(projects.c.id == runs.c.project_id)))
    if no_project:
        problems.append(f"{no_project} run(s) belong to a project that does not exist")
    parent = runs.alias("parent")
    no_parent = count(
        select(runs.c.id).where(runs.c.parent_run_id.is_not(None), ~exists().where(parent.c.id == runs.c.parent_run_id))
    )
    if no_parent:
        problems.append(f"{no_parent} run(s) have a parent run that does not exist")
    problems.extend(_latest_metric_problems(conn))
    return problems


def _latest_metric_problems(conn: Connection) -> list[str]:
    lm, m = latest_metrics.alias("lm"), metrics_table.alias("m")
    sample = select(lm).order_by(func.random()).limit(CHECK_SAMPLE).subquery("s")
    same_point = exists().where(
        m.c.run_id == sample.c.run_id,
        m.c.key == sample.c.key,
        m.c.step == sample.c.step,
        m.c.timestamp == sample.c.timestamp,
        m.c.value == sample.c.value,
        m.c.is_nan == sample.c.is_nan,
    )
    newer_point = exists().where(
        m.c.run_id == sample.c.run_id,
        m.c.key == sample.c.key,
        or_(m.c.step > sample.c.step, and_(m.c.step == sample.c.step, m.c.timestamp > sample.c.timestamp)),
    )
    bad = conn.execute(select(sample.c.run_id, sample.c.key).where(or_(~same_point, newer_point))).all()
    problems = [
        f"latest_metrics of run {run_id!r} key {key!r} is not the latest point of its history"
        for run_id, key in bad[:20]
    ]
    if len(bad) > 20:
        problems.append(f"... and {len(bad) - 20} more latest_metrics rows disagree with the history")
    sampled_runs = select(runs.c.id).order_by(func.random()).limit(CHECK_SAMPLE).subquery("r")
    missing = conn.execute(
        select(m.c.run_id, m.c.key)
        .where(m.c.run_id.in_(select(sampled_runs.c.id)))
        .where(~exists().where(lm.c.run_id == m.c.run_id, lm.c.key == m.c.key))
        .distinct()
        .limit(21)
    ).all()
    problems.extend(f"metric {key!r} of run {run_id!r} has history but no latest value" for run_id, key in missing[:20])
    return problems


# --- entities -> rows (validated on the way) ------------------------------------------------

_INT64 = 2**63
ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")

LATEST_UPSERT_SQL = (
    'INSERT INTO latest_metrics (run_id, "key", value, is_nan, step, "timestamp") VALUES ({ph}) '
    'ON CONFLICT (run_id, "key") DO UPDATE SET value = excluded.value, is_nan = excluded.is_nan, '
    'step = excluded.step, "timestamp" = excluded."timestamp" '
    "WHERE excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step AND "
    '(excluded."timestamp" > latest_metrics."timestamp" OR (excluded."timestamp" = '
    'latest_metrics."timestamp" AND excluded.value > latest_metrics.value)))'
)
METRICS_INSERT_SQLITE = (
    'INSERT INTO metrics (run_id, "key", step, "timestamp", value, is_nan) VALUES (?, ?, ?, ?, ?, ?) '
    "ON CONFLICT DO NOTHING"
)
# One statement per batch on PostgreSQL: arrays travel in one message, much faster than executemany.
METRICS_INSERT_POSTGRESQL = (
    'INSERT INTO metrics (run_id, "key", step, "timestamp", value, is_nan) '
    "SELECT %s, k, s, t, v, n FROM unnest(%s::text[], %s::bigint[], %s::bigint[], "
    "%s::double precision[], %s::boolean[]) AS u(k, s, t, v, n) ON CONFLICT DO NOTHING"
)


def validate_run_id(run_id: object) -> str:
    if not isinstance(run_id, str) or not 0 < len(run_id) <= 64 or not ID_CHARS.issuperset(run_id):
        raise InvalidArgument(f"invalid run id {run_id!r}: 1-64 letters, digits, '_' or '-'")
    return run_id


def params_to_rows(run_id: str, values: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"run_id": run_id, "key": validate_key(key, "param"), "value": param_value_to_str(value)}
        for key, value in values.items()
    ]


def tags_to_rows(run_id: str, values: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"run_id": run_id, "key": validate_key(key, "tag"), "value": tag_value_to_str(value)}
        for key, value in values.items()
    ]


def metrics_to_rows(run_id: str, points: Sequence[Metric]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Validated history rows, and the latest row per key of this batch.

    Computing the per-key latest point here means the latest_metrics upsert touches each key once
    per batch, whatever the batch size. This loop is the hot path of metric logging, hence the
    type checks that skip the general validators for plain floats and ints.
    """
    rows: list[tuple[Any, ...]] = []
    best: dict[str, tuple[Any, ...]] = {}
    for point in points:
        key, value, step, timestamp = point
        if key not in best:
            validate_key(key, "metric")
        if type(value) is not float:
            value = metric_value(value, key)
        if type(step) is not int or not -_INT64 <= step < _INT64:
            step = metric_step(step, key)
        if type(timestamp) is not int or not 0 <= timestamp < _INT64:
            raise InvalidArgument(f"metric {key!r} timestamp {timestamp!r} is not a millisecond time")
        if value != value:
            row = (run_id, key, step, timestamp, 0.0, True)
        else:
            row = (run_id, key, step, timestamp, value, False)
        rows.append(row)
        current = best.get(key)
        if current is None or (step, timestamp, row[4]) > (current[2], current[3], current[4]):
            best[key] = row
    latest = [(r[0], r[1], r[4], r[5], r[2], r[3]) for _, r in sorted(best.items())]
    return rows, latest
