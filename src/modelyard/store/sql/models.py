"""``SqlRegistryStore``: ``modelyard.store.models.ModelRegistryStore`` over the shared ``SqlDatabase``.

Tables of this aggregate are in ``models_tables.py`` on ``schema.metadata``; its migration is
``migrations/versions/m0001_models.py``. Methods use ``self._read(fn)`` / ``self._write(fn)`` of
the shared database (one transaction each, transient errors retried). Checks of other aggregates'
rows (a run or project exists) read their tables directly, never through their store.

Every write first locks the registered model's row (an UPDATE of ``updated_at``): writers of one
model take turns, which is what makes version numbers consecutive and "one version in production"
hold on PostgreSQL's READ COMMITTED as it already does on SQLite's single writer.

Kept in one module because it is one aggregate's store (~650 lines): every method shares the row
helpers and the lock discipline above, and splitting it into mixins would bring back the pattern
the per-aggregate stores replaced. Its tables are already apart (``models_tables.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from modelyard.core.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from modelyard.core.ids import new_id
from modelyard.core.registry import (
    EventKind,
    ModelApproval,
    ModelCardFields,
    ModelEvaluationRecord,
    ModelEvent,
    ModelFile,
    ModelState,
    ModelVersion,
    RegisteredModel,
    RegistryPolicy,
)
from modelyard.core.validation import validate_entity_name
from modelyard.store.models import ModelRegistryStore
from modelyard.store.sql.database import SqlAggregateStore, SqlDatabase
from modelyard.store.sql.models_tables import (
    approval_from_row,
    card_fields_from_row,
    evaluation_from_row,
    event_from_row,
    model_aliases,
    model_approvals,
    model_cards,
    model_evaluations,
    model_events,
    model_version_files,
    model_versions,
    policy_from_row,
    registered_model_from_row,
    registered_models,
    registry_policies,
    registry_problems,
    version_from_row,
)
from modelyard.store.sql.schema import projects, run_artifacts, runs


class SqlRegistryStore(SqlAggregateStore, ModelRegistryStore):
    """The registry's SQL: one transaction per method, the model row locked for every write."""

    def __init__(self, db: SqlDatabase) -> None:
        super().__init__(db)
        db.register_check("models", registry_problems)

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _reg_model_row(conn: Connection, name: str) -> Any:
        row = conn.execute(select(registered_models).where(registered_models.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"model {name!r} not found")
        return row

    @staticmethod
    def _reg_lock_model(conn: Connection, name: str, at: int) -> Any:
        """Touch the model row (a row lock until commit), then read it."""
        conn.execute(update(registered_models).where(registered_models.c.name == name).values(updated_at=at))
        return SqlRegistryStore._reg_model_row(conn, name)

    @staticmethod
    def _reg_version_row(conn: Connection, model: Any, version: int) -> Any:
        row = (
            conn.execute(
                select(model_versions).where(
                    model_versions.c.model_id == model["id"], model_versions.c.version == version
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"version {version} of model {model['name']!r} not found")
        return row

    @staticmethod
    def _reg_versions(conn: Connection, model: Any, condition: Any = None) -> list[ModelVersion]:
        stmt = select(model_versions).where(model_versions.c.model_id == model["id"])
        if condition is not None:
            stmt = stmt.where(condition)
        rows = conn.execute(stmt.order_by(model_versions.c.version.desc())).mappings().all()
        aliases: dict[int, list[str]] = {}
        for alias, version in conn.execute(
            select(model_aliases.c.alias, model_aliases.c.version).where(model_aliases.c.model_id == model["id"])
        ):
            aliases.setdefault(version, []).append(alias)
        return [version_from_row(row, model["name"], aliases.get(row["version"], [])) for row in rows]

    def _reg_one_version(self, conn: Connection, model: Any, version: int) -> ModelVersion:
        row = self._reg_version_row(conn, model, version)
        found = self._reg_versions(conn, model, model_versions.c.id == row["id"])
        return found[0]

    @staticmethod
    def _reg_event(conn: Connection, model: Any, kind: EventKind, actor: str, at: int, **values: Any) -> None:
        conn.execute(model_events.insert().values(model_id=model["id"], kind=kind.value, actor=actor, at=at, **values))

    # -- models -------------------------------------------------------------------------------
    def create_registered_model(
        self, name: str, project_id: str, *, created_by: str, description: str | None = None, at: int
    ) -> RegisteredModel:
        validate_entity_name(name, "model name")

        def tx(conn: Connection) -> RegisteredModel:
            if conn.execute(select(projects.c.id).where(projects.c.id == project_id)).first() is None:
                raise NotFound(f"project {project_id!r} not found")
            if conn.execute(select(registered_models.c.id).where(registered_models.c.name == name)).first():
                raise AlreadyExists(f"model {name!r} already exists")
            values = dict(
                id=new_id(),
                name=name,
                project_id=project_id,
                description=description,
                created_at=at,
                created_by=created_by,
                updated_at=at,
                latest_version=0,
            )
            conn.execute(registered_models.insert().values(**values))
            return registered_model_from_row(values)

        try:
            return self._write(tx)
        except SqlIntegrityError:  # a concurrent creator won the race for the unique name
            raise AlreadyExists(f"model {name!r} already exists") from None

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self._read(lambda conn: registered_model_from_row(self._reg_model_row(conn, name)))

    def list_registered_models(self, project_id: str | None = None) -> list[RegisteredModel]:
        stmt = select(registered_models).order_by(registered_models.c.name)
        if project_id is not None:
            stmt = stmt.where(registered_models.c.project_id == project_id)
        rows = self._read(lambda conn: conn.execute(stmt).mappings().all())
        return [registered_model_from_row(row) for row in rows]

    # -- versions -----------------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        *,
        manifest_digest: str,
        flavor: str,
        files: Sequence[ModelFile],
        created_by: str,
        at: int,
        run_id: str | None = None,
        signature: str | None = None,
        description: str | None = None,
        version_id: str | None = None,
        version: int | None = None,
    ) -> ModelVersion:
        vid = version_id or new_id()
        if version is not None and not 1 <= version <= 2**31 - 1:
            raise InvalidArgument(f"a version number is from 1 to {2**31 - 1}, got {version}")
        if len({f.path for f in files}) != len(files):
            raise InvalidArgument("a model version lists the same file path twice")

        def tx(conn: Connection) -> ModelVersion:
            model = self._reg_lock_model(conn, name, at)
            existing = conn.execute(select(model_versions).where(model_versions.c.id == vid)).mappings().first()
            if existing is not None:
                if existing["model_id"] != model["id"]:
                    raise AlreadyExists(f"model version id {vid!r} belongs to another model")
                return self._reg_one_version(conn, model, existing["version"])
            if run_id is not None and conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"run {run_id!r} not found")
            if version is None:
                number = conn.execute(
                    update(registered_models)
                    .where(registered_models.c.id == model["id"])
                    .values(latest_version=registered_models.c.latest_version + 1)
                    .returning(registered_models.c.latest_version)
                ).scalar_one()
            else:  # an explicit number: only above every number given out (a compare-and-set)
                number = conn.execute(
                    update(registered_models)
                    .where(registered_models.c.id == model["id"], registered_models.c.latest_version < version)
                    .values(latest_version=version)
                    .returning(registered_models.c.latest_version)
                ).scalar()
                if number is None:
                    raise AlreadyExists(
                        f"model {name!r} has given out version numbers up to {model['latest_version']}: "
                        f"version {version} cannot be registered"
                    )
            conn.execute(
                model_versions.insert().values(
                    id=vid,
                    model_id=model["id"],
                    version=number,
                    run_id=run_id,
                    manifest_digest=manifest_digest,
                    flavor=flavor,
                    signature=signature,
                    size=sum(f.size for f in files),
                    state=ModelState.DRAFT.value,
                    created_at=at,
                    created_by=created_by,
                    description=description,
                )
            )
            if files:
                conn.execute(
                    model_version_files.insert(),
                    [{"version_id": vid, "path": f.path, "digest": f.digest, "size": f.size} for f in files],
                )
            self._reg_event(
                conn, model, EventKind.REGISTERED, created_by, at, version=number, to_state=ModelState.DRAFT.value
            )
            return self._reg_one_version(conn, model, number)

        return self._write(tx)

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        return self._read(lambda conn: self._reg_one_version(conn, self._reg_model_row(conn, name), version))

    def list_model_versions(self, name: str, states: Sequence[ModelState] | None = None) -> list[ModelVersion]:
        condition = None
        if states is not None:
            condition = model_versions.c.state.in_([ModelState(s).value for s in states])
        return self._read(lambda conn: self._reg_versions(conn, self._reg_model_row(conn, name), condition))

    def list_model_files(self, name: str, version: int) -> list[ModelFile]:
        def tx(conn: Connection) -> list[ModelFile]:
            row = self._reg_version_row(conn, self._reg_model_row(conn, name), version)
            files = conn.execute(
                select(model_version_files)
                .where(model_version_files.c.version_id == row["id"])
                .order_by(model_version_files.c.path)
            ).mappings()
            return [ModelFile(path=f["path"], digest=f["digest"], size=f["size"]) for f in files]

        return self._read(tx)

    def transition_model_version(
        self,
        name: str,
        version: int,
        *,
        from_state: ModelState,
        to_state: ModelState,
        actor: str,
        reason: str | None,
        at: int,
        displaced_to: ModelState | None = None,
        purge_after: int | None = None,
    ) -> ModelVersion:
        def tx(conn: Connection) -> ModelVersion:
            model = self._reg_lock_model(conn, name, at)
            row = self._reg_version_row(conn, model, version)
            if row["state"] != from_state.value:
                raise Conflict(
                    f"version {version} of model {name!r} is {row['state']}, not {from_state.value}: reload and retry"
                )
            if displaced_to is not None:
                others = conn.execute(
                    select(model_versions.c.id, model_versions.c.version).where(
                        model_versions.c.model_id == model["id"],
                        model_versions.c.state == to_state.value,
                        model_versions.c.id != row["id"],
                    )
                ).all()
                for other_id, other_version in others:
                    conn.execute(
                        update(model_versions).where(model_versions.c.id == other_id).values(state=displaced_to.value)
                    )
                    self._reg_event(
                        conn,
                        model,
                        EventKind.TRANSITION,
                        actor,
                        at,
                        version=other_version,
                        from_state=to_state.value,
                        to_state=displaced_to.value,
                        reason=f"replaced by version {version}",
                    )
            values: dict[str, Any] = {"state": to_state.value}
            if to_state is ModelState.DECOMMISSIONED:
                values.update(decommissioned_at=at, purge_after=purge_after)
                for (alias,) in conn.execute(
                    select(model_aliases.c.alias).where(
                        model_aliases.c.model_id == model["id"], model_aliases.c.version == version
                    )
                ).all():
                    self._reg_event(
                        conn,
                        model,
                        EventKind.ALIAS_REMOVED,
                        actor,
                        at,
                        version=version,
                        alias=alias,
                        from_version=version,
                        reason="version decommissioned",
                    )
                conn.execute(
                    delete(model_aliases).where(
                        model_aliases.c.model_id == model["id"], model_aliases.c.version == version
                    )
                )
            conn.execute(update(model_versions).where(model_versions.c.id == row["id"]).values(**values))
            self._reg_event(
                conn,
                model,
                EventKind.TRANSITION,
                actor,
                at,
                version=version,
                from_state=from_state.value,
                to_state=to_state.value,
                reason=reason,
            )
            return self._reg_one_version(conn, model, version)

        return self._write(tx)

    def versions_in_state_at(self, name: str, state: ModelState, at: int) -> list[ModelVersion]:
        """The one query: each version's last state-changing event at or before ``at``."""
        e, later = model_events.alias("e"), model_events.alias("later")
        state_kinds = (EventKind.REGISTERED.value, EventKind.TRANSITION.value)

        def tx(conn: Connection) -> list[ModelVersion]:
            model = self._reg_model_row(conn, name)
            newer = exists().where(
                later.c.model_id == e.c.model_id,
                later.c.version == e.c.version,
                later.c.kind.in_(state_kinds),
                later.c.at <= at,
                (later.c.at > e.c.at) | and_(later.c.at == e.c.at, later.c.seq > e.c.seq),
            )
            numbers = conn.execute(
                select(e.c.version).where(
                    e.c.model_id == model["id"],
                    e.c.kind.in_(state_kinds),
                    e.c.at <= at,
                    e.c.to_state == ModelState(state).value,
                    ~newer,
                )
            ).scalars()
            wanted = set(numbers)
            if not wanted:
                return []
            return self._reg_versions(conn, model, model_versions.c.version.in_(sorted(wanted)))

        return self._read(tx)

    # -- aliases ------------------------------------------------------------------------------
    def set_model_alias(self, name: str, alias: str, version: int, *, actor: str, reason: str | None, at: int) -> None:
        def tx(conn: Connection) -> None:
            model = self._reg_lock_model(conn, name, at)
            self._reg_version_row(conn, model, version)
            where = and_(model_aliases.c.model_id == model["id"], model_aliases.c.alias == alias)
            before = conn.execute(select(model_aliases.c.version).where(where)).scalar()
            if before == version:
                return
            if before is None:
                conn.execute(model_aliases.insert().values(model_id=model["id"], alias=alias, version=version))
            else:
                conn.execute(update(model_aliases).where(where).values(version=version))
            self._reg_event(
                conn,
                model,
                EventKind.ALIAS_SET,
                actor,
                at,
                version=version,
                alias=alias,
                from_version=before,
                reason=reason,
            )

        self._write(tx)

    def delete_model_alias(self, name: str, alias: str, *, actor: str, reason: str | None, at: int) -> None:
        def tx(conn: Connection) -> None:
            model = self._reg_lock_model(conn, name, at)
            where = and_(model_aliases.c.model_id == model["id"], model_aliases.c.alias == alias)
            before = conn.execute(select(model_aliases.c.version).where(where)).scalar()
            if before is None:
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            conn.execute(delete(model_aliases).where(where))
            self._reg_event(
                conn,
                model,
                EventKind.ALIAS_REMOVED,
                actor,
                at,
                version=before,
                alias=alias,
                from_version=before,
                reason=reason,
            )

        self._write(tx)

    def get_model_alias(self, name: str, alias: str) -> int:
        def tx(conn: Connection) -> int:
            model = self._reg_model_row(conn, name)
            found = conn.execute(
                select(model_aliases.c.version).where(
                    model_aliases.c.model_id == model["id"], model_aliases.c.alias == alias
                )
            ).scalar()
            if found is None:
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            return int(found)

        return self._read(tx)

    # -- approvals and history ----------------------------------------------------------------
    def add_model_approval(
        self, name: str, version: int, approver: str, *, comment: str | None, at: int
    ) -> ModelApproval:
        def tx(conn: Connection) -> ModelApproval:
            model = self._reg_lock_model(conn, name, at)
            row = self._reg_version_row(conn, model, version)
            where = and_(model_approvals.c.version_id == row["id"], model_approvals.c.approver == approver)
            existing = conn.execute(select(model_approvals).where(where)).mappings().first()
            if existing is not None:
                return approval_from_row(existing, name, version)
            values = {"version_id": row["id"], "approver": approver, "at": at, "comment": comment}
            conn.execute(model_approvals.insert().values(**values))
            self._reg_event(conn, model, EventKind.APPROVED, approver, at, version=version, reason=comment)
            return approval_from_row(values, name, version)

        return self._write(tx)

    def list_model_approvals(self, name: str, version: int) -> list[ModelApproval]:
        def tx(conn: Connection) -> list[ModelApproval]:
            row = self._reg_version_row(conn, self._reg_model_row(conn, name), version)
            rows = conn.execute(
                select(model_approvals)
                .where(model_approvals.c.version_id == row["id"])
                .order_by(model_approvals.c.at, model_approvals.c.approver)
            ).mappings()
            return [approval_from_row(r, name, version) for r in rows]

        return self._read(tx)

    def list_model_events(self, name: str, version: int | None = None) -> list[ModelEvent]:
        def tx(conn: Connection) -> list[ModelEvent]:
            model = self._reg_model_row(conn, name)
            stmt = select(model_events).where(model_events.c.model_id == model["id"])
            if version is not None:
                stmt = stmt.where(model_events.c.version == version)
            rows = conn.execute(stmt.order_by(model_events.c.at, model_events.c.seq)).mappings()
            return [event_from_row(r, name) for r in rows]

        return self._read(tx)

    # -- policy and retention -----------------------------------------------------------------
    def get_registry_policy(self, project_id: str) -> RegistryPolicy:
        def tx(conn: Connection) -> RegistryPolicy:
            row = (
                conn.execute(select(registry_policies).where(registry_policies.c.project_id == project_id))
                .mappings()
                .first()
            )
            return RegistryPolicy(project_id=project_id) if row is None else policy_from_row(row)

        return self._read(tx)

    def set_registry_policy(self, policy: RegistryPolicy) -> RegistryPolicy:
        def tx(conn: Connection) -> RegistryPolicy:
            if conn.execute(select(projects.c.id).where(projects.c.id == policy.project_id)).first() is None:
                raise NotFound(f"project {policy.project_id!r} not found")
            values = policy.model_dump()
            where = registry_policies.c.project_id == policy.project_id
            if conn.execute(select(registry_policies.c.project_id).where(where)).first() is None:
                conn.execute(registry_policies.insert().values(**values))
            else:
                conn.execute(update(registry_policies).where(where).values(**values))
            return policy

        return self._write(tx)

    def list_versions_to_purge(self, now: int) -> list[ModelVersion]:
        def tx(conn: Connection) -> list[ModelVersion]:
            rows = conn.execute(
                select(model_versions.c.id, registered_models.c.name, model_versions.c.version)
                .join(registered_models, registered_models.c.id == model_versions.c.model_id)
                .where(
                    model_versions.c.state == ModelState.DECOMMISSIONED.value,
                    model_versions.c.purged_at.is_(None),
                    model_versions.c.purge_after.is_not(None),
                    model_versions.c.purge_after <= now,
                )
                .order_by(registered_models.c.name, model_versions.c.version)
            ).all()
            return [self._reg_one_version(conn, self._reg_model_row(conn, name), number) for _, name, number in rows]

        return self._read(tx)

    def digests_in_use(self, digests: Sequence[str], *, excluding_version_id: str) -> set[str]:
        wanted = sorted(set(digests))
        if not wanted:
            return set()

        def tx(conn: Connection) -> set[str]:
            used: set[str] = set()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                files = conn.execute(
                    select(model_version_files.c.digest)
                    .join(model_versions, model_versions.c.id == model_version_files.c.version_id)
                    .where(
                        model_version_files.c.digest.in_(chunk),
                        model_versions.c.id != excluding_version_id,
                        model_versions.c.purged_at.is_(None),
                    )
                ).scalars()
                used.update(files)
                manifests = conn.execute(
                    select(model_versions.c.manifest_digest).where(
                        model_versions.c.manifest_digest.in_(chunk),
                        model_versions.c.id != excluding_version_id,
                        model_versions.c.purged_at.is_(None),
                    )
                ).scalars()
                used.update(manifests)
                used.update(
                    conn.execute(select(run_artifacts.c.digest).where(run_artifacts.c.digest.in_(chunk))).scalars()
                )
            return used

        return self._read(tx)

    # -- model cards and evaluations -----------------------------------------------------------
    def get_model_card_fields(self, name: str, version: int) -> ModelCardFields:
        def tx(conn: Connection) -> ModelCardFields:
            model = self._reg_model_row(conn, name)
            row = self._reg_version_row(conn, model, version)
            card = conn.execute(select(model_cards).where(model_cards.c.version_id == row["id"])).mappings().first()
            return card_fields_from_row(card, name, version)

        return self._read(tx)

    def update_model_card_fields(
        self, name: str, version: int, changes: Mapping[str, str | None], *, actor: str, at: int
    ) -> ModelCardFields:
        def tx(conn: Connection) -> ModelCardFields:
            model = self._reg_lock_model(conn, name, at)
            row = self._reg_version_row(conn, model, version)
            card = conn.execute(select(model_cards).where(model_cards.c.version_id == row["id"])).mappings().first()
            fields = dict(card_fields_from_row(card, name, version).fields)
            for key, value in changes.items():
                if value is None:
                    fields.pop(key, None)
                else:
                    fields[key] = value
            values = {"fields": json.dumps(fields, sort_keys=True), "updated_at": at, "updated_by": actor}
            if card is None:
                conn.execute(model_cards.insert().values(version_id=row["id"], **values))
            else:
                conn.execute(update(model_cards).where(model_cards.c.version_id == row["id"]).values(**values))
            changed = ", ".join(sorted(changes)) or "nothing"
            self._reg_event(conn, model, EventKind.CARD_UPDATED, actor, at, version=version, reason=f"edited {changed}")
            return ModelCardFields(model_name=name, version=version, fields=fields, updated_at=at, updated_by=actor)

        return self._write(tx)

    def add_model_evaluation(
        self,
        name: str,
        version: int,
        *,
        evaluation_id: str,
        digest: str,
        summary: Mapping[str, object],
        run_id: str | None,
        actor: str,
        at: int,
    ) -> ModelEvaluationRecord:
        def tx(conn: Connection) -> ModelEvaluationRecord:
            model = self._reg_lock_model(conn, name, at)
            row = self._reg_version_row(conn, model, version)
            me = model_evaluations
            existing = conn.execute(select(me).where(me.c.id == evaluation_id)).mappings().first()
            if existing is not None:
                if existing["version_id"] != row["id"]:
                    raise AlreadyExists(f"evaluation id {evaluation_id!r} belongs to another model version")
                return evaluation_from_row(existing, name, version)
            if run_id is not None and conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"run {run_id!r} not found")
            values = dict(
                id=evaluation_id,
                version_id=row["id"],
                run_id=run_id,
                digest=digest,
                summary=json.dumps(dict(summary), sort_keys=True, default=str),
                created_at=at,
                created_by=actor,
            )
            conn.execute(me.insert().values(**values))
            self._reg_event(conn, model, EventKind.EVALUATED, actor, at, version=version, reason=f"evaluation {digest}")
            return evaluation_from_row(values, name, version)

        return self._write(tx)

    def list_model_evaluations(self, name: str, version: int) -> list[ModelEvaluationRecord]:
        def tx(conn: Connection) -> list[ModelEvaluationRecord]:
            model = self._reg_model_row(conn, name)
            row = self._reg_version_row(conn, model, version)
            me = model_evaluations
            rows = conn.execute(
                select(me).where(me.c.version_id == row["id"]).order_by(me.c.created_at.desc(), me.c.id.desc())
            ).mappings()
            return [evaluation_from_row(r, name, version) for r in rows]

        return self._read(tx)

    def mark_model_version_purged(self, name: str, version: int, *, actor: str, at: int) -> ModelVersion:
        def tx(conn: Connection) -> ModelVersion:
            model = self._reg_lock_model(conn, name, at)
            row = self._reg_version_row(conn, model, version)
            if row["state"] != ModelState.DECOMMISSIONED.value:
                raise InvalidArgument(f"version {version} of model {name!r} is not decommissioned")
            if row["purged_at"] is None:
                conn.execute(update(model_versions).where(model_versions.c.id == row["id"]).values(purged_at=at))
                self._reg_event(conn, model, EventKind.PURGED, actor, at, version=version, reason="retention ended")
            return self._reg_one_version(conn, model, version)

        return self._write(tx)

    # -- reverse lookup of the lineage graph's downstream walk (index ix_model_versions_run) --
    def list_model_versions_by_run(self, run_id: str) -> list[ModelVersion]:
        stmt = (
            select(model_versions, registered_models.c.name.label("model_name"))
            .join(registered_models, registered_models.c.id == model_versions.c.model_id)
            .where(model_versions.c.run_id == run_id)
            .order_by(registered_models.c.name, model_versions.c.version.desc())
        )

        def tx(conn: Connection) -> list[ModelVersion]:
            rows = conn.execute(stmt).mappings().all()
            aliases: dict[tuple[str, int], list[str]] = {}
            if rows:
                found = conn.execute(
                    select(model_aliases.c.model_id, model_aliases.c.version, model_aliases.c.alias).where(
                        model_aliases.c.model_id.in_({row["model_id"] for row in rows})
                    )
                )
                for model_id, number, alias in found:
                    aliases.setdefault((model_id, number), []).append(alias)
            return [
                version_from_row(row, row["model_name"], aliases.get((row["model_id"], row["version"]), []))
                for row in rows
            ]

        return self._read(tx)
