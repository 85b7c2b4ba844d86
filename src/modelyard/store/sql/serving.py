"""``SqlServingStore``: ``modelyard.store.serving.ServingStore`` over the shared ``SqlDatabase``.

Tables are in ``serving_tables.py``; the migration branch is ``s`` (``s0001_serving.py``).

Compare-and-set: a change is one UPDATE of the deployment row guarded by ``revision = expected
AND deleted_at IS NULL``, then the INSERT of the revision row, in one transaction. When the UPDATE
matches nothing the row is read to say why (no such deployment, or a newer revision). On
PostgreSQL the UPDATE takes the row lock, so of two concurrent changes from the same revision one
waits, then matches nothing and gets ``RevisionConflict``; SQLite writers take turns anyway.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, exists, func, select, text, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from modelyard.core.errors import (
    AlreadyExists,
    Conflict,
    DeploymentNotFound,
    InvalidArgument,
    NotFound,
    RevisionConflict,
    UnknownRequestIds,
)
from modelyard.core.serving import (
    Deployment,
    DeploymentAction,
    DeploymentEvent,
    DeploymentSpec,
    Feedback,
    PredictionLogPartition,
    feedback_json,
    validate_deployment_name,
)
from modelyard.core.validation import validate_name
from modelyard.store.serving import ServingStore
from modelyard.store.sql.database import SqlAggregateStore, SqlDatabase
from modelyard.store.sql.leases import Lease, LeaseClaim
from modelyard.store.sql.serving_tables import (
    REQUEST_ID_LENGTH,
    deployment_revisions,
    deployments,
    prediction_blob_deletions,
    prediction_feedback,
    prediction_log_claims,
    prediction_partitions,
    prediction_requests,
    slo_counts,
    slo_judge_claims,
)

__all__ = ["SqlServingStore"]

#: Ids per IN (...) list and rows per multi-row INSERT: far below every backend's parameter limit.
_CHUNK = 500
_INDEX_CHUNK = 50_000  # request ids per statement of the request-id index
_INDEX_BY_ARRAY = {
    "sqlite": text(
        "INSERT INTO prediction_requests (request_id, endpoint, partition_id)"
        " SELECT value, :endpoint, :partition_id FROM json_each(:ids) WHERE true ON CONFLICT DO NOTHING"
    ),
    "postgresql": text(
        "INSERT INTO prediction_requests (request_id, endpoint, partition_id)"
        " SELECT unnest(CAST(:ids AS text[])), :endpoint, :partition_id ON CONFLICT DO NOTHING"
    ),
}


def _ids_param(dialect: str, ids: Sequence[str]) -> Any:
    """The request ids as the array parameter ``_INDEX_BY_ARRAY`` expands: JSON text for SQLite,
    a list (a text[]) for PostgreSQL."""
    return json.dumps(list(ids)) if dialect == "sqlite" else list(ids)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _spec(text: str | None) -> DeploymentSpec | None:
    return None if text is None else DeploymentSpec.model_validate_json(text)


def _deployment(row: Any) -> Deployment:
    return Deployment(
        name=row.name,
        revision=int(row.revision),
        spec=DeploymentSpec.model_validate_json(row.spec),
        created_at=int(row.created_at),
        created_by=row.created_by,
        updated_at=int(row.updated_at),
        updated_by=row.updated_by,
    )


def _who(actor: str) -> str:
    return validate_name(actor, "actor")


_SLO_FORGET_MS = 24 * 3600 * 1000


class SqlServingStore(SqlAggregateStore, ServingStore):
    """Deployments, their revisions, the prediction-log index and feedback; one transaction per method."""

    def __init__(self, db: SqlDatabase) -> None:
        super().__init__(db)
        db.register_check("serving", self._integrity_serving)

    # -- deployments ----------------------------------------------------------------------------

    def create_deployment(
        self, name: str, spec: DeploymentSpec, *, actor: str, at: int, reason: str | None = None
    ) -> Deployment:
        name = validate_deployment_name(name)
        actor = _who(actor)
        spec_json = spec.model_dump_json()

        def tx(conn: Connection) -> Deployment:
            row = conn.execute(select(deployments).where(deployments.c.name == name)).first()
            values = {
                "spec": spec_json,
                "created_at": at,
                "created_by": actor,
                "updated_at": at,
                "updated_by": actor,
                "deleted_at": None,
            }
            if row is None:
                revision = 1
                conn.execute(deployments.insert().values(name=name, revision=revision, **values))
            elif row.deleted_at is None:
                raise AlreadyExists(f"deployment {name!r} already exists (revision {row.revision})")
            else:
                revision = int(row.revision) + 1
                done = conn.execute(
                    update(deployments)
                    .where(deployments.c.name == name, deployments.c.revision == row.revision)
                    .values(revision=revision, **values)
                )
                if done.rowcount != 1:
                    raise AlreadyExists(f"deployment {name!r} was created concurrently")
            self._add_revision(conn, name, revision, "create", actor, at, reason, None, spec_json)
            return Deployment(
                name=name,
                revision=revision,
                spec=spec,
                created_at=at,
                created_by=actor,
                updated_at=at,
                updated_by=actor,
            )

        try:
            return self._write(tx)
        except SqlIntegrityError:
            raise AlreadyExists(f"deployment {name!r} was created concurrently") from None

    def update_deployment(
        self,
        name: str,
        spec: DeploymentSpec,
        *,
        expected_revision: int,
        actor: str,
        at: int,
        reason: str | None = None,
        action: DeploymentAction = "update",
        restored_from: int | None = None,
    ) -> Deployment:
        if action not in ("update", "rollback", "refresh"):
            raise InvalidArgument(f"an update's action is update, rollback or refresh, got {action!r}")
        actor = _who(actor)
        spec_json = spec.model_dump_json()

        def tx(conn: Connection) -> Deployment:
            revision = self._compare_and_set(
                conn, name, expected_revision, {"spec": spec_json, "updated_at": at, "updated_by": actor}
            )
            self._add_revision(conn, name, revision, action, actor, at, reason, restored_from, spec_json)
            row = conn.execute(select(deployments).where(deployments.c.name == name)).one()
            return _deployment(row)

        return self._write(tx)

    def delete_deployment(
        self, name: str, *, expected_revision: int | None, actor: str, at: int, reason: str | None = None
    ) -> DeploymentEvent:
        actor = _who(actor)

        def tx(conn: Connection) -> DeploymentEvent:
            expected = expected_revision
            if expected is None:
                expected = self._live_row(conn, name).revision
            before = self._live_row(conn, name).spec
            revision = self._compare_and_set(
                conn, name, int(expected), {"deleted_at": at, "updated_at": at, "updated_by": actor}
            )
            self._add_revision(conn, name, revision, "delete", actor, at, reason, None, None)
            return DeploymentEvent(
                deployment=name,
                revision=revision,
                action="delete",
                actor=actor,
                at=at,
                reason=reason,
                before=_spec(before),
                after=None,
            )

        return self._write(tx)

    def _live_row(self, conn: Connection, name: str) -> Any:
        row = conn.execute(select(deployments).where(deployments.c.name == name)).first()
        if row is None or row.deleted_at is not None:
            raise DeploymentNotFound(f"deployment {name!r} not found")
        return row

    def _compare_and_set(self, conn: Connection, name: str, expected: int, values: dict[str, Any]) -> int:
        revision = int(expected) + 1
        done = conn.execute(
            update(deployments)
            .where(
                deployments.c.name == name,
                deployments.c.revision == int(expected),
                deployments.c.deleted_at.is_(None),
            )
            .values(revision=revision, **values)
        )
        if done.rowcount == 1:
            return revision
        current = self._live_row(conn, name)
        raise RevisionConflict(
            f"deployment {name!r} is at revision {current.revision}, not {expected}: it changed meanwhile "
            "(read it again and retry)"
        )

    @staticmethod
    def _add_revision(
        conn: Connection,
        name: str,
        revision: int,
        action: str,
        actor: str,
        at: int,
        reason: str | None,
        restored_from: int | None,
        spec_json: str | None,
    ) -> None:
        conn.execute(
            deployment_revisions.insert().values(
                deployment=name,
                revision=revision,
                action=action,
                actor=actor,
                at=at,
                reason=reason,
                restored_from=restored_from,
                spec=spec_json,
            )
        )

    def get_deployment(self, name: str) -> Deployment:
        return self._read(lambda conn: _deployment(self._live_row(conn, name)))

    def list_deployments(self) -> list[Deployment]:
        def tx(conn: Connection) -> list[Deployment]:
            rows = conn.execute(
                select(deployments).where(deployments.c.deleted_at.is_(None)).order_by(deployments.c.name)
            )
            return [_deployment(r) for r in rows]

        return self._read(tx)

    def list_deployment_events(self, name: str) -> list[DeploymentEvent]:
        def tx(conn: Connection) -> list[DeploymentEvent]:
            rows = list(
                conn.execute(
                    select(deployment_revisions)
                    .where(deployment_revisions.c.deployment == name)
                    .order_by(deployment_revisions.c.revision)
                )
            )
            if not rows:
                raise DeploymentNotFound(f"deployment {name!r} not found")
            events: list[DeploymentEvent] = []
            before: DeploymentSpec | None = None
            for row in rows:
                after = _spec(row.spec)
                events.append(_event(row, before, after))
                before = after
            return events

        return self._read(tx)

    def get_deployment_event(self, name: str, revision: int) -> DeploymentEvent:
        def tx(conn: Connection) -> DeploymentEvent:
            rows = list(
                conn.execute(
                    select(deployment_revisions)
                    .where(
                        deployment_revisions.c.deployment == name,
                        deployment_revisions.c.revision.in_([int(revision) - 1, int(revision)]),
                    )
                    .order_by(deployment_revisions.c.revision)
                )
            )
            if not rows or int(rows[-1].revision) != int(revision):
                raise NotFound(f"deployment {name!r} has no revision {revision}")
            before = _spec(rows[0].spec) if len(rows) == 2 else None
            return _event(rows[-1], before, _spec(rows[-1].spec))

        return self._read(tx)

    # -- prediction logs ------------------------------------------------------------------------

    def add_prediction_partition(
        self, partition: PredictionLogPartition, request_ids: Sequence[str]
    ) -> PredictionLogPartition:
        validate_deployment_name(partition.endpoint)
        if partition.end_ms < partition.start_ms:
            raise InvalidArgument("a partition's end_ms is before its start_ms")
        ids = list(dict.fromkeys(request_ids))
        for rid in ids:
            _check_request_id(rid)
        row = partition.model_dump()

        def tx(conn: Connection) -> PredictionLogPartition:
            conn.execute(self._insert(prediction_partitions).values(**row).on_conflict_do_nothing())
            # The ids go in as one array parameter of one INSERT ... SELECT per chunk: the database
            # expands it (SQLite's json_each, PostgreSQL's unnest) in one statement step. An
            # executemany binds every row in Python and, on SQLite, takes the GIL back after each
            # row's step: beside a busy serving worker that ping-pong cost more than the rows.
            index = _INDEX_BY_ARRAY[self._dialect]
            for chunk in _chunks(ids, _INDEX_CHUNK):
                conn.execute(index, {"ids": _ids_param(self._dialect, chunk), "endpoint": partition.endpoint,
                                     "partition_id": partition.id})  # fmt: skip
            return partition

        return self._write(tx)

    def list_prediction_partitions(self, endpoint: str, start_ms: int, end_ms: int) -> list[PredictionLogPartition]:
        def tx(conn: Connection) -> list[PredictionLogPartition]:
            p = prediction_partitions
            rows = conn.execute(
                select(p)
                .where(and_(p.c.endpoint == endpoint, p.c.start_ms < int(end_ms), p.c.end_ms >= int(start_ms)))
                .order_by(p.c.start_ms, p.c.id)
            )
            return [PredictionLogPartition.model_validate(dict(r._mapping)) for r in rows]

        return self._read(tx)

    def list_prediction_log_endpoints(self) -> list[str]:
        p = prediction_partitions
        query = select(p.c.endpoint).distinct().order_by(p.c.endpoint)
        return self._read(lambda conn: [row.endpoint for row in conn.execute(query)])

    def compact_prediction_partitions(
        self, endpoint: str, replaced: Sequence[str], partition: PredictionLogPartition
    ) -> PredictionLogPartition:
        validate_deployment_name(endpoint)
        if partition.endpoint != endpoint:
            raise InvalidArgument("the compacted partition belongs to another endpoint")
        old = list(dict.fromkeys(replaced))
        if not old or partition.id in old:
            raise InvalidArgument("compaction replaces at least one partition by a new one")
        p = prediction_partitions

        def tx(conn: Connection) -> PredictionLogPartition:
            done = conn.execute(select(p.c.id).where(p.c.id == partition.id)).first() is not None
            found = {r.id for r in conn.execute(select(p.c.id).where(p.c.endpoint == endpoint, p.c.id.in_(old)))}
            if done and not found:
                return partition  # a retry of a compaction that succeeded
            if done or len(found) != len(old):
                raise Conflict(f"{len(old) - len(found)} of the partitions to compact are gone (compacted meanwhile?)")
            conn.execute(p.insert().values(**partition.model_dump()))
            conn.execute(
                update(prediction_requests)
                .where(prediction_requests.c.partition_id.in_(old))
                .values(partition_id=partition.id)
            )
            digests = [r.digest for r in conn.execute(select(p.c.digest).where(p.c.id.in_(old)))]
            conn.execute(p.delete().where(p.c.id.in_(old)))
            self._queue_deletions(conn, endpoint, digests, partition.created_at)
            return partition

        return self._write(tx)

    def delete_prediction_partitions(
        self, endpoint: str, ids: Sequence[str], *, at: int
    ) -> list[PredictionLogPartition]:
        validate_deployment_name(endpoint)
        wanted = list(dict.fromkeys(ids))
        p, r, f = prediction_partitions, prediction_requests, prediction_feedback

        def tx(conn: Connection) -> list[PredictionLogPartition]:
            removed: list[PredictionLogPartition] = []
            for chunk in _chunks(wanted):
                rows = conn.execute(select(p).where(p.c.endpoint == endpoint, p.c.id.in_(list(chunk))))
                found = [PredictionLogPartition.model_validate(dict(row._mapping)) for row in rows]
                if not found:
                    continue
                gone = [x.id for x in found]
                held = select(r.c.request_id).where(r.c.partition_id.in_(gone))
                conn.execute(f.delete().where(f.c.request_id.in_(held)))
                conn.execute(r.delete().where(r.c.partition_id.in_(gone)))
                conn.execute(p.delete().where(p.c.id.in_(gone)))
                self._queue_deletions(conn, endpoint, [x.digest for x in found], at)
                removed.extend(found)
            return sorted(removed, key=lambda x: (x.start_ms, x.id))

        return self._write(tx)

    def _queue_deletions(self, conn: Connection, endpoint: str, digests: Sequence[str], at: int) -> None:
        """Queue the blobs of removed index rows, except digests another partition still has."""
        p = prediction_partitions
        unique = list(dict.fromkeys(digests))
        kept = {row.digest for row in conn.execute(select(p.c.digest).where(p.c.digest.in_(unique)))}
        rows = [{"digest": d, "endpoint": endpoint, "queued_at": int(at)} for d in unique if d not in kept]
        if rows:
            conn.execute(self._insert(prediction_blob_deletions).values(rows).on_conflict_do_nothing())

    def claim_prediction_log(self, endpoint: str, *, owner: str, at: int, lease_ms: int) -> bool:
        validate_deployment_name(endpoint)
        return self._lease(prediction_log_claims, "endpoint", endpoint, owner=owner, at=at, lease_ms=lease_ms)

    def claim_slo_judge(self, deployment: str, *, owner: str, at: int, lease_ms: int) -> bool:
        validate_deployment_name(deployment)
        return self._lease(slo_judge_claims, "deployment", deployment, owner=owner, at=at, lease_ms=lease_ms)

    def _lease(self, table: Any, key_column: str, key: str, *, owner: str, at: int, lease_ms: int) -> bool:
        """The claim (``leases.LeaseClaim``): insert-unique; renewed by its owner; taken over once
        expired."""
        claim = LeaseClaim(table, {key_column: key}, Lease.starting(_who(owner), at, lease_ms), renew=True)
        return self._write(lambda conn: claim.claim(conn, self._insert))

    def publish_slo_counts(self, deployment: str, worker: str, counts: dict[str, Any], *, at: int) -> None:
        validate_deployment_name(deployment)
        worker = _who(worker)
        text = json.dumps(counts, separators=(",", ":"))
        t = slo_counts

        def tx(conn: Connection) -> None:
            key = and_(t.c.deployment == deployment, t.c.worker == worker)
            changed = conn.execute(update(t).where(key).values(at=int(at), counts=text))
            if changed.rowcount == 0:
                conn.execute(
                    self._insert(t)
                    .values(deployment=deployment, worker=worker, at=int(at), counts=text)
                    .on_conflict_do_nothing()
                )
            # workers gone for a day are forgotten (their counts stopped moving long ago)
            conn.execute(t.delete().where(t.c.deployment == deployment, t.c.at < int(at) - _SLO_FORGET_MS))

        self._write(tx)

    def read_slo_counts(self, deployment: str) -> dict[str, dict[str, Any]]:
        t = slo_counts

        def tx(conn: Connection) -> dict[str, dict[str, Any]]:
            rows = conn.execute(select(t.c.worker, t.c.counts).where(t.c.deployment == deployment))
            return {row.worker: json.loads(row.counts) for row in rows}

        return self._read(tx)

    def release_prediction_log(self, endpoint: str, *, owner: str) -> None:
        c = prediction_log_claims
        self._write(lambda conn: conn.execute(c.delete().where(c.c.endpoint == endpoint, c.c.owner == owner)))

    def list_blob_deletions(self, endpoint: str, *, limit: int = 1000) -> list[str]:
        d, p = prediction_blob_deletions, prediction_partitions

        def tx(conn: Connection) -> list[str]:
            rows = conn.execute(
                select(d.c.digest)
                .where(d.c.endpoint == endpoint, ~exists().where(p.c.digest == d.c.digest))
                .order_by(d.c.queued_at, d.c.digest)
                .limit(max(1, int(limit)))
            )
            return [row.digest for row in rows]

        return self._read(tx)

    def forget_blob_deletions(self, digests: Sequence[str]) -> None:
        d = prediction_blob_deletions
        unique = list(dict.fromkeys(digests))

        def tx(conn: Connection) -> None:
            for chunk in _chunks(unique):
                conn.execute(d.delete().where(d.c.digest.in_(list(chunk))))

        self._write(tx)

    # -- feedback -------------------------------------------------------------------------------

    def record_feedback(self, items: Sequence[Feedback]) -> int:
        latest: dict[str, Feedback] = {}
        for item in items:
            _check_request_id(item.request_id)
            latest[item.request_id] = item
        values = {rid: feedback_json(item.value) for rid, item in latest.items()}
        ids = list(latest)

        def tx(conn: Connection) -> int:
            endpoints: dict[str, str] = {}
            for chunk in _chunks(ids):
                found = conn.execute(
                    select(prediction_requests.c.request_id, prediction_requests.c.endpoint).where(
                        prediction_requests.c.request_id.in_(list(chunk))
                    )
                )
                endpoints.update({r.request_id: r.endpoint for r in found})
            unknown = [rid for rid in ids if rid not in endpoints]
            if unknown:
                shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
                raise UnknownRequestIds(
                    f"{len(unknown)} request id(s) match no logged prediction: {shown} (nothing was recorded)",
                    unknown,
                )
            for chunk in _chunks(ids):
                stmt = self._insert(prediction_feedback).values(
                    [{"request_id": r, "endpoint": endpoints[r], "value": values[r], "at": latest[r].at} for r in chunk]
                )
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["request_id"],
                        set_={"value": stmt.excluded.value, "at": stmt.excluded.at, "endpoint": stmt.excluded.endpoint},
                    )
                )
            return len(ids)

        return self._write(tx)

    def get_feedback(self, request_ids: Sequence[str]) -> dict[str, Feedback]:
        ids = list(dict.fromkeys(request_ids))

        def tx(conn: Connection) -> dict[str, Feedback]:
            out: dict[str, Feedback] = {}
            for chunk in _chunks(ids):
                rows = conn.execute(
                    select(prediction_feedback).where(prediction_feedback.c.request_id.in_(list(chunk)))
                )
                for r in rows:
                    out[r.request_id] = Feedback(
                        request_id=r.request_id, value=json.loads(r.value), at=int(r.at), endpoint=r.endpoint
                    )
            return out

        return self._read(tx)

    # -- integrity --------------------------------------------------------------------------------

    @staticmethod
    def _integrity_serving(conn: Connection) -> list[str]:
        problems: list[str] = []
        latest = (
            select(deployment_revisions.c.deployment, func.max(deployment_revisions.c.revision).label("top"))
            .group_by(deployment_revisions.c.deployment)
            .subquery()
        )
        rows = conn.execute(
            select(deployments.c.name, deployments.c.revision, latest.c.top).outerjoin(
                latest, latest.c.deployment == deployments.c.name
            )
        )
        for row in rows:
            if row.top is None or int(row.top) != int(row.revision):
                problems.append(
                    f"deployment {row.name!r} is at revision {row.revision} but its history ends at {row.top}"
                )
        return problems


def _event(row: Any, before: DeploymentSpec | None, after: DeploymentSpec | None) -> DeploymentEvent:
    return DeploymentEvent(
        deployment=row.deployment,
        revision=int(row.revision),
        action=row.action,
        actor=row.actor,
        at=int(row.at),
        reason=row.reason,
        restored_from=row.restored_from,
        before=before,
        after=after,
    )


def _check_request_id(request_id: object) -> str:
    if not isinstance(request_id, str) or not request_id or len(request_id) > REQUEST_ID_LENGTH:
        raise InvalidArgument(f"a request id is 1-{REQUEST_ID_LENGTH} characters, got {str(request_id)[:40]!r}")
    return request_id
