"""``SqlMonitoringStore``: ``modelyard.store.monitoring.MonitoringStore`` over the shared ``SqlDatabase``.

Tables are in ``monitoring_tables.py``; the migration branch is ``o`` (``o0001_monitoring.py``).

Claims are the leases of ``leases.py``: ``claim_window`` INSERTs the (monitor, window_start) row
with ON CONFLICT DO NOTHING, and the evaluator whose INSERT inserted a row holds the window. Both
PostgreSQL and SQLite decide that atomically under the primary key, so of any number of concurrent
claimers exactly one wins. Taking over an expired lease is one UPDATE guarded by ``done = false``
and the previous owner and expiry, which again only one evaluator can match.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from modelyard.core.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from modelyard.core.monitoring import (
    Alert,
    AlertEvent,
    Monitor,
    MonitorSpec,
    ReferenceProfile,
    Silence,
    WindowClaim,
    WindowResult,
    json_text,
    validate_monitor_name,
)
from modelyard.core.serving import validate_deployment_name
from modelyard.core.validation import validate_entity_name, validate_name
from modelyard.store.monitoring import MonitoringStore
from modelyard.store.sql.database import SqlAggregateStore, SqlDatabase
from modelyard.store.sql.leases import Lease, LeaseClaim
from modelyard.store.sql.monitoring_tables import (
    monitor_alert_events,
    monitor_alerts,
    monitor_results,
    monitor_silences,
    monitor_windows,
    monitors,
    reference_profiles,
)

__all__ = ["SqlMonitoringStore"]


def _monitor(row: Any) -> Monitor:
    return Monitor(
        name=row.name,
        deployment=row.deployment,
        spec=MonitorSpec.model_validate_json(row.spec),
        created_at=int(row.created_at),
        created_by=row.created_by,
        updated_at=int(row.updated_at),
        updated_by=row.updated_by,
    )


def _claim(row: Any) -> WindowClaim:
    return WindowClaim(
        monitor=row.monitor,
        window_start=int(row.window_start),
        window_end=int(row.window_end),
        owner=row.owner,
        claimed_at=int(row.claimed_at),
        expires_at=int(row.expires_at),
        done=bool(row.done),
    )


def _result(row: Any) -> WindowResult:
    return WindowResult(
        monitor=row.monitor,
        window_start=int(row.window_start),
        window_end=int(row.window_end),
        status=row.status,
        rows=int(row.rows),
        first_ms=None if row.first_ms is None else int(row.first_ms),
        last_ms=None if row.last_ms is None else int(row.last_ms),
        values=json.loads(row.values),
        notes=tuple(json.loads(row.notes)),
        evaluated_at=int(row.evaluated_at),
        evaluated_by=row.evaluated_by,
    )


def _alert(row: Any) -> Alert:
    data = dict(row._mapping)
    data["silenced"] = bool(data["silenced"])
    return Alert.model_validate(data)


def _event(row: Any) -> AlertEvent:
    data = dict(row._mapping)
    data["detail"] = json.loads(data["detail"])
    return AlertEvent.model_validate(data)


def _silence(row: Any) -> Silence:
    data = dict(row._mapping)
    data["matchers"] = json.loads(data["matchers"])
    return Silence.model_validate(data)


def _reference(row: Any) -> ReferenceProfile:
    data = dict(row._mapping)
    data["summary"] = json.loads(data["summary"])
    return ReferenceProfile.model_validate(data)


def _who(actor: str, kind: str = "actor") -> str:
    """An actor or an owner: a name without control characters (the entities' rule)."""
    text = validate_name(actor, kind)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InvalidArgument(f"invalid {kind} {text[:40]!r}: no control characters")
    return text


class SqlMonitoringStore(SqlAggregateStore, MonitoringStore):
    """Monitors, claims, results, alerts, silences and references; one transaction per method."""

    def __init__(self, db: SqlDatabase) -> None:
        super().__init__(db)
        db.register_check("monitoring", self._integrity_monitoring)

    @staticmethod
    def _integrity_monitoring(conn: Connection) -> list[str]:
        """Every stored window result has its claim, marked done, and every done claim its result."""
        w, r = monitor_windows, monitor_results
        problems: list[str] = []
        orphans = conn.execute(
            select(r.c.monitor, r.c.window_start)
            .outerjoin(w, and_(w.c.monitor == r.c.monitor, w.c.window_start == r.c.window_start))
            .where(or_(w.c.monitor.is_(None), w.c.done.is_(False)))
        )
        for row in orphans:
            problems.append(f"monitor {row.monitor!r}: the result of window {row.window_start} has no finished claim")
        missing = conn.execute(
            select(w.c.monitor, w.c.window_start)
            .outerjoin(r, and_(w.c.monitor == r.c.monitor, w.c.window_start == r.c.window_start))
            .where(w.c.done.is_(True), r.c.monitor.is_(None))
        )
        for row in missing:
            problems.append(f"monitor {row.monitor!r}: window {row.window_start} is done but has no result")
        return problems

    # -- monitors -------------------------------------------------------------------------------

    def create_monitor(self, name: str, deployment: str, spec: MonitorSpec, *, actor: str, at: int) -> Monitor:
        name = validate_monitor_name(name)
        deployment = validate_deployment_name(deployment)
        actor = _who(actor)
        try:
            monitor = Monitor(
                name=name, deployment=deployment, spec=spec, created_at=at, created_by=actor, updated_at=at,
                updated_by=actor,
            )  # fmt: skip
        except ValueError as exc:
            raise InvalidArgument(f"invalid monitor: {' '.join(str(exc).split())[:300]}") from None

        def tx(conn: Connection) -> Monitor:
            if conn.execute(select(monitors.c.name).where(monitors.c.name == name)).first() is not None:
                raise AlreadyExists(f"monitor {name!r} already exists")
            conn.execute(monitors.insert().values(**monitor.model_dump(exclude={"spec"}), spec=spec.model_dump_json()))
            return monitor

        try:
            return self._write(tx)
        except SqlIntegrityError:
            raise AlreadyExists(f"monitor {name!r} was created concurrently") from None

    def update_monitor(self, name: str, spec: MonitorSpec, *, actor: str, at: int) -> Monitor:
        actor = _who(actor)

        def tx(conn: Connection) -> Monitor:
            done = conn.execute(
                update(monitors)
                .where(monitors.c.name == name)
                .values(spec=spec.model_dump_json(), updated_at=at, updated_by=actor)
            )
            if done.rowcount != 1:
                raise NotFound(f"monitor {name!r} not found")
            return _monitor(conn.execute(select(monitors).where(monitors.c.name == name)).one())

        return self._write(tx)

    def delete_monitor(self, name: str) -> None:
        def tx(conn: Connection) -> None:
            if conn.execute(monitors.delete().where(monitors.c.name == name)).rowcount != 1:
                raise NotFound(f"monitor {name!r} not found")
            conn.execute(monitor_windows.delete().where(monitor_windows.c.monitor == name))
            conn.execute(monitor_results.delete().where(monitor_results.c.monitor == name))

        self._write(tx)

    def get_monitor(self, name: str) -> Monitor:
        def tx(conn: Connection) -> Monitor:
            row = conn.execute(select(monitors).where(monitors.c.name == name)).first()
            if row is None:
                raise NotFound(f"monitor {name!r} not found")
            return _monitor(row)

        return self._read(tx)

    def list_monitors(self, deployment: str | None = None) -> list[Monitor]:
        def tx(conn: Connection) -> list[Monitor]:
            query = select(monitors).order_by(monitors.c.name)
            if deployment is not None:
                query = query.where(monitors.c.deployment == deployment)
            return [_monitor(r) for r in conn.execute(query)]

        return self._read(tx)

    # -- windows --------------------------------------------------------------------------------

    def claim_window(
        self, monitor: str, window_start: int, window_end: int, *, owner: str, at: int, lease_ms: int,
        revise: bool = False,
    ) -> WindowClaim | None:  # fmt: skip
        owner = _who(owner, "owner")
        if window_end <= window_start:
            raise InvalidArgument("a window ends after it starts")
        lease = Lease.starting(owner, at, lease_ms)
        w = monitor_windows
        key = {"monitor": monitor, "window_start": int(window_start)}
        claim = {**key, **lease.values(), "window_end": int(window_end), "done": bool(revise)}

        def tx(conn: Connection) -> WindowClaim | None:
            if conn.execute(select(monitors.c.name).where(monitors.c.name == monitor)).first() is None:
                raise NotFound(f"monitor {monitor!r} not found")
            if revise:  # a done window, once no other reviser's lease holds it
                row = LeaseClaim(w, key, lease, guard=[w.c.done.is_(True)]).take_over(conn)
                return None if row is None else WindowClaim.model_validate({**claim, "window_end": int(row.window_end)})
            pending = {"window_end": int(window_end), "done": False}
            fresh = LeaseClaim(w, key, lease, guard=[w.c.done.is_(False)], values=pending)
            return WindowClaim.model_validate(claim) if fresh.claim(conn, self._insert) else None

        return self._write(tx)

    def complete_window(self, result: WindowResult, *, revise: bool = False) -> WindowResult:
        values_json = json_text(result.values, "window values")
        notes_json = json_text(list(result.notes), "window notes")
        w = monitor_windows
        row = {**result.model_dump(exclude={"values", "notes"}), "values": values_json, "notes": notes_json}

        def tx(conn: Connection) -> WindowResult:
            key = and_(w.c.monitor == result.monitor, w.c.window_start == result.window_start)
            # done, and the lease released (expires when it was claimed): a reviser may take it at once
            held = [w.c.owner == result.evaluated_by, w.c.done.is_(revise)]
            if revise:
                held.append(w.c.expires_at > w.c.claimed_at)
            done = conn.execute(update(w).where(key, *held).values(done=True, expires_at=w.c.claimed_at))
            if done.rowcount != 1:
                what = "a revision lease held" if revise else "claimed"
                raise Conflict(
                    f"window {result.window_start} of monitor {result.monitor!r} is not {what} by "
                    f"{result.evaluated_by!r} (taken over, or already done)"
                )
            if revise:
                r = monitor_results
                changes = {k: v for k, v in row.items() if k not in ("monitor", "window_start")}
                updated = conn.execute(
                    update(r)
                    .where(r.c.monitor == result.monitor, r.c.window_start == result.window_start)
                    .values(**changes)
                )
                if updated.rowcount != 1:
                    raise Conflict(
                        f"window {result.window_start} of monitor {result.monitor!r} has no result to revise"
                    )
            else:
                conn.execute(monitor_results.insert().values(**row))
            return result

        return self._write(tx)

    def last_claim(self, monitor: str) -> WindowClaim | None:
        def tx(conn: Connection) -> WindowClaim | None:
            row = conn.execute(
                select(monitor_windows)
                .where(monitor_windows.c.monitor == monitor)
                .order_by(monitor_windows.c.window_start.desc())
                .limit(1)
            ).first()
            return None if row is None else _claim(row)

        return self._read(tx)

    def list_window_results(self, monitor: str, *, limit: int = 100) -> list[WindowResult]:
        if limit < 1:
            raise InvalidArgument("limit must be >= 1")

        def tx(conn: Connection) -> list[WindowResult]:
            rows = conn.execute(
                select(monitor_results)
                .where(monitor_results.c.monitor == monitor)
                .order_by(monitor_results.c.window_start.desc())
                .limit(int(limit))
            )
            return [_result(r) for r in rows]

        return self._read(tx)

    # -- alerts ---------------------------------------------------------------------------------

    def _append(self, conn: Connection, events: Sequence[AlertEvent]) -> list[AlertEvent]:
        out: list[AlertEvent] = []
        for event in events:
            row = event.model_dump(exclude={"seq", "detail"})
            done = conn.execute(
                monitor_alert_events.insert().values(**row, detail=json_text(event.detail, "event detail"))
            )
            seq = done.inserted_primary_key[0] if done.inserted_primary_key else 0
            out.append(event.model_copy(update={"seq": int(seq)}))
        return out

    def save_alert(
        self, alert: Alert, events: Sequence[AlertEvent] = (), *, expected_state: str | None = None
    ) -> list[AlertEvent]:
        if expected_state not in (None, "absent", "firing", "resolved"):
            raise InvalidArgument(f"expected_state is absent, firing or resolved, got {expected_state!r}")
        row = alert.model_dump()
        a = monitor_alerts
        changes = {k: v for k, v in row.items() if k != "fingerprint"}

        def tx(conn: Connection) -> list[AlertEvent]:
            if expected_state is None:
                stmt = self._insert(a).values(**row)
                conn.execute(stmt.on_conflict_do_update(index_elements=["fingerprint"], set_=changes))
            elif expected_state == "absent":
                inserted = conn.execute(self._insert(a).values(**row).on_conflict_do_nothing().returning(a.c.state))
                if inserted.first() is None:
                    raise Conflict(f"alert {alert.fingerprint} was recorded meanwhile (by another evaluator)")
            else:
                done = conn.execute(
                    update(a).where(a.c.fingerprint == alert.fingerprint, a.c.state == expected_state).values(**changes)
                )
                if done.rowcount != 1:
                    raise Conflict(f"alert {alert.fingerprint} is no longer {expected_state} (changed meanwhile)")
            return self._append(conn, events)

        return self._write(tx)

    def add_alert_events(self, events: Sequence[AlertEvent]) -> list[AlertEvent]:
        return self._write(lambda conn: self._append(conn, events))

    def get_alert(self, fingerprint: str) -> Alert:
        def tx(conn: Connection) -> Alert:
            row = conn.execute(select(monitor_alerts).where(monitor_alerts.c.fingerprint == fingerprint)).first()
            if row is None:
                raise NotFound(f"alert {fingerprint!r} not found")
            return _alert(row)

        return self._read(tx)

    def list_alerts(self, *, monitor: str | None = None, state: str | None = None) -> list[Alert]:
        if state is not None and state not in ("firing", "resolved"):
            raise InvalidArgument(f"an alert's state is firing or resolved, got {state!r}")

        def tx(conn: Connection) -> list[Alert]:
            a = monitor_alerts
            query = select(a).order_by(a.c.last_seen.desc(), a.c.fingerprint)
            if monitor is not None:
                query = query.where(a.c.monitor == monitor)
            if state is not None:
                query = query.where(a.c.state == state)
            return [_alert(r) for r in conn.execute(query)]

        return self._read(tx)

    def list_alert_events(
        self, *, fingerprint: str | None = None, monitor: str | None = None, limit: int = 1000
    ) -> list[AlertEvent]:
        if limit < 1:
            raise InvalidArgument("limit must be >= 1")

        def tx(conn: Connection) -> list[AlertEvent]:
            e = monitor_alert_events
            query = select(e).order_by(e.c.seq.desc()).limit(int(limit))
            if fingerprint is not None:
                query = query.where(e.c.fingerprint == fingerprint)
            if monitor is not None:
                query = query.where(e.c.monitor == monitor)
            return [_event(r) for r in reversed(list(conn.execute(query)))]

        return self._read(tx)

    # -- silences -------------------------------------------------------------------------------

    def create_silence(self, silence: Silence) -> Silence:
        row = silence.model_dump(exclude={"matchers"})

        def tx(conn: Connection) -> Silence:
            s = monitor_silences
            if conn.execute(select(s.c.id).where(s.c.id == silence.id)).first() is not None:
                raise AlreadyExists(f"silence {silence.id!r} already exists")
            conn.execute(s.insert().values(**row, matchers=json_text(silence.matchers, "matchers")))
            return silence

        return self._write(tx)

    def expire_silence(self, silence_id: str, *, at: int) -> Silence:
        def tx(conn: Connection) -> Silence:
            s = monitor_silences
            row = conn.execute(select(s).where(s.c.id == silence_id)).first()
            if row is None:
                raise NotFound(f"silence {silence_id!r} not found")
            end = max(int(row.start) + 1, min(int(row.end), int(at)))
            conn.execute(update(s).where(s.c.id == silence_id).values(end=end))
            return _silence(conn.execute(select(s).where(s.c.id == silence_id)).one())

        return self._write(tx)

    def list_silences(self, *, active_at: int | None = None) -> list[Silence]:
        def tx(conn: Connection) -> list[Silence]:
            s = monitor_silences
            query = select(s).order_by(s.c.start, s.c.id)
            if active_at is not None:
                query = query.where(s.c.start <= int(active_at), s.c.end > int(active_at))
            return [_silence(r) for r in conn.execute(query)]

        return self._read(tx)

    # -- reference profiles ---------------------------------------------------------------------

    def put_reference(self, reference: ReferenceProfile) -> ReferenceProfile:
        validate_entity_name(reference.model, "model name")
        row = reference.model_dump(exclude={"summary"})
        row["summary"] = json_text(reference.summary, "a reference summary")

        def tx(conn: Connection) -> ReferenceProfile:
            stmt = self._insert(reference_profiles).values(**row)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["model", "version", "role"],
                    set_={k: v for k, v in row.items() if k not in ("model", "version", "role")},
                )
            )
            return reference

        return self._write(tx)

    def get_reference(self, model: str, version: int, role: str = "training") -> ReferenceProfile:
        def tx(conn: Connection) -> ReferenceProfile:
            r = reference_profiles
            row = conn.execute(
                select(r).where(r.c.model == model, r.c.version == int(version), r.c.role == role)
            ).first()
            if row is None:
                raise NotFound(
                    f"no {role} reference profile for {model} version {version} (register one: set_reference)"
                )
            return _reference(row)

        return self._read(tx)

    def delete_reference(self, model: str, version: int, role: str) -> bool:
        r = reference_profiles
        return bool(
            self._write(
                lambda conn: (
                    conn.execute(
                        r.delete().where(r.c.model == model, r.c.version == int(version), r.c.role == role)
                    ).rowcount
                )
            )
        )

    def list_references(self, model: str) -> list[ReferenceProfile]:
        def tx(conn: Connection) -> list[ReferenceProfile]:
            r = reference_profiles
            rows = conn.execute(select(r).where(r.c.model == model).order_by(r.c.version, r.c.role))
            return [_reference(x) for x in rows]

        return self._read(tx)
