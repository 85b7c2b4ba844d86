"""Tables of the model registry aggregate, on the shared ``schema.metadata``.

Migration ``m0001_models.py`` creates them (written out by hand: a migration is a frozen
snapshot); the contract suite compares the migrated database with these definitions.

``registered_models.latest_version`` is the version counter: a registration increments it with
one UPDATE, which takes the model row's lock, so concurrent registrations of the same model queue
on that row and get consecutive numbers (SQLite writers queue on BEGIN IMMEDIATE anyway). Every
other write to a model's versions, aliases or events first touches the same row (``updated_at``),
so "at most one version in production" holds under concurrent transitions on PostgreSQL too.

``model_events`` is append-only: the audit trail and the source of "what was in production on
date D". ``seq`` orders events that share a millisecond.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    exists,
    func,
    select,
)

from modelyard.core.registry import (
    EventKind,
    ModelApproval,
    ModelCardFields,
    ModelEvaluationRecord,
    ModelEvent,
    ModelState,
    ModelVersion,
    RegisteredModel,
    RegistryPolicy,
)
from modelyard.store.sql.schema import ID_LENGTH, metadata

NAME_LENGTH = 256
ALIAS_LENGTH = 64
DIGEST_LENGTH = 256

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False, unique=True),
    Column("project_id", String(ID_LENGTH), ForeignKey("projects.id"), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(NAME_LENGTH), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("latest_version", Integer, nullable=False),
    Index("ix_registered_models_project", "project_id"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("model_id", String(ID_LENGTH), ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("run_id", String(ID_LENGTH), ForeignKey("runs.id"), nullable=True),
    Column("manifest_digest", String(DIGEST_LENGTH), nullable=False),
    Column("flavor", String(64), nullable=False),
    Column("signature", Text, nullable=True),
    Column("size", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(NAME_LENGTH), nullable=False),
    Column("description", Text, nullable=True),
    Column("decommissioned_at", BigInteger, nullable=True),
    Column("purge_after", BigInteger, nullable=True),
    Column("purged_at", BigInteger, nullable=True),
    UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
    Index("ix_model_versions_model_state", "model_id", "state"),
    Index("ix_model_versions_run", "run_id"),
)

model_version_files = Table(
    "model_version_files",
    metadata,
    Column("version_id", String(ID_LENGTH), ForeignKey("model_versions.id"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(DIGEST_LENGTH), nullable=False),
    Column("size", BigInteger, nullable=False),
    Index("ix_model_version_files_digest", "digest"),
    sqlite_with_rowid=False,
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", String(ID_LENGTH), ForeignKey("registered_models.id"), primary_key=True),
    Column("alias", String(ALIAS_LENGTH), primary_key=True),
    Column("version", Integer, nullable=False),
    sqlite_with_rowid=False,
)

model_approvals = Table(
    "model_approvals",
    metadata,
    Column("version_id", String(ID_LENGTH), ForeignKey("model_versions.id"), primary_key=True),
    Column("approver", String(NAME_LENGTH), primary_key=True),
    Column("at", BigInteger, nullable=False),
    Column("comment", Text, nullable=True),
    sqlite_with_rowid=False,
)

model_events = Table(
    "model_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("model_id", String(ID_LENGTH), ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=True),
    Column("kind", String(32), nullable=False),
    Column("actor", String(NAME_LENGTH), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("reason", Text, nullable=True),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=True),
    Column("alias", String(ALIAS_LENGTH), nullable=True),
    Column("from_version", Integer, nullable=True),
    Index("ix_model_events_model_version_at", "model_id", "version", "at"),
)

# m0002: the edited fields of a version's model card (a JSON object), and its evaluations (the
# result itself is a JSON blob in the artifact store; ``summary`` is small JSON for listings).
model_cards = Table(
    "model_cards",
    metadata,
    Column("version_id", String(ID_LENGTH), ForeignKey("model_versions.id"), primary_key=True),
    Column("fields", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(NAME_LENGTH), nullable=False),
)

model_evaluations = Table(
    "model_evaluations",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("version_id", String(ID_LENGTH), ForeignKey("model_versions.id"), nullable=False),
    Column("run_id", String(ID_LENGTH), ForeignKey("runs.id"), nullable=True),
    Column("digest", String(DIGEST_LENGTH), nullable=False),
    Column("summary", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(NAME_LENGTH), nullable=False),
    Index("ix_model_evaluations_version_created", "version_id", "created_at"),
)

registry_policies = Table(
    "registry_policies",
    metadata,
    Column("project_id", String(ID_LENGTH), ForeignKey("projects.id"), primary_key=True),
    Column("required_approvals", Integer, nullable=False),
    Column("retention_days", Integer, nullable=True),
)


# --- rows -> entities ------------------------------------------------------------------------


def registered_model_from_row(row: Mapping[Any, Any]) -> RegisteredModel:
    return RegisteredModel(
        id=row["id"],
        name=row["name"],
        project_id=row["project_id"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        description=row["description"],
        latest_version=row["latest_version"],
    )


def version_from_row(row: Mapping[Any, Any], model_name: str, aliases: list[str]) -> ModelVersion:
    return ModelVersion(
        id=row["id"],
        model_name=model_name,
        version=row["version"],
        run_id=row["run_id"],
        manifest_digest=row["manifest_digest"],
        flavor=row["flavor"],
        signature=row["signature"],
        size=row["size"],
        state=ModelState(row["state"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
        description=row["description"],
        decommissioned_at=row["decommissioned_at"],
        purge_after=row["purge_after"],
        purged_at=row["purged_at"],
        aliases=sorted(aliases),
    )


def event_from_row(row: Mapping[Any, Any], model_name: str) -> ModelEvent:
    return ModelEvent(
        seq=row["seq"],
        model_name=model_name,
        version=row["version"],
        kind=EventKind(row["kind"]),
        actor=row["actor"],
        at=row["at"],
        reason=row["reason"],
        from_state=ModelState(row["from_state"]) if row["from_state"] else None,
        to_state=ModelState(row["to_state"]) if row["to_state"] else None,
        alias=row["alias"],
        from_version=row["from_version"],
    )


def approval_from_row(row: Mapping[Any, Any], model_name: str, version: int) -> ModelApproval:
    return ModelApproval(
        model_name=model_name, version=version, approver=row["approver"], at=row["at"], comment=row["comment"]
    )


def card_fields_from_row(row: Mapping[Any, Any] | None, model_name: str, version: int) -> ModelCardFields:
    if row is None:
        return ModelCardFields(model_name=model_name, version=version)
    return ModelCardFields(
        model_name=model_name,
        version=version,
        fields=json.loads(row["fields"]),
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


def evaluation_from_row(row: Mapping[Any, Any], model_name: str, version: int) -> ModelEvaluationRecord:
    return ModelEvaluationRecord(
        id=row["id"],
        model_name=model_name,
        version=version,
        run_id=row["run_id"],
        digest=row["digest"],
        summary=json.loads(row["summary"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
    )


def policy_from_row(row: Mapping[Any, Any]) -> RegistryPolicy:
    return RegistryPolicy(
        project_id=row["project_id"],
        required_approvals=row["required_approvals"],
        retention_days=row["retention_days"],
    )


def registry_problems(conn: Connection) -> list[str]:
    """Registry facts that constraints alone do not guarantee."""
    problems: list[str] = []
    mv, rm = model_versions, registered_models
    behind = conn.execute(
        select(rm.c.name)
        .join(mv, mv.c.model_id == rm.c.id)
        .group_by(rm.c.name, rm.c.latest_version)
        .having(func.max(mv.c.version) > rm.c.latest_version)
    ).scalars()
    problems.extend(f"model {n!r} has versions above its version counter" for n in behind)
    for state in (ModelState.STAGING, ModelState.PRODUCTION):
        crowded = conn.execute(
            select(rm.c.name)
            .join(mv, mv.c.model_id == rm.c.id)
            .where(mv.c.state == state.value)
            .group_by(rm.c.name)
            .having(func.count() > 1)
        ).scalars()
        problems.extend(f"model {n!r} has more than one version in {state.value}" for n in crowded)
    dangling = conn.execute(
        select(rm.c.name, model_aliases.c.alias)
        .join(model_aliases, model_aliases.c.model_id == rm.c.id)
        .where(~exists().where(mv.c.model_id == model_aliases.c.model_id, mv.c.version == model_aliases.c.version))
    ).all()
    problems.extend(f"alias {a!r} of model {n!r} points to a missing version" for n, a in dangling)
    return problems
