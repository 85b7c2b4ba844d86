"""Run liveness over SQL: heartbeats, stale runs, and marking them KILLED (``TrackingStore``'s
``heartbeat``, ``list_stale_runs``, ``kill_stale_runs``), a mixin of ``SqlTrackingStore``.

A run's last sign of life is ``coalesce(heartbeat_at, start_time)`` (runs recorded before
migration ``0003`` have no heartbeat). Killing is one conditional UPDATE, so a run that sent a
heartbeat after it was listed is not killed. The clock is this process's: for a server, the
server's.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Connection, and_, func, select, update

from modelyard.core.errors import InvalidArgument
from modelyard.core.tracking import LifecycleStage, Run, RunStatus, now_millis
from modelyard.core.validation import bounded_int
from modelyard.store.sql.database import Transaction
from modelyard.store.sql.schema import run_from_row, runs

#: Ids in one heartbeat or kill (one statement each).
MAX_IDS = 1000
_MAX_AGE_MS = 100 * 365 * 86_400_000
_RUNNING = RunStatus.RUNNING.value


def _last_sign_of_life() -> ColumnElement[int]:
    return func.coalesce(runs.c.heartbeat_at, runs.c.start_time)


def _ids(run_ids: Sequence[str]) -> list[str]:
    ids = list(dict.fromkeys(run_ids))
    if len(ids) > MAX_IDS:
        raise InvalidArgument(f"at most {MAX_IDS} run ids at once, got {len(ids)}")
    return ids


def _stale(older_than_ms: int, now: int) -> ColumnElement[bool]:
    age = bounded_int(older_than_ms, "older_than_ms", low=0, high=_MAX_AGE_MS)
    return and_(
        runs.c.status == _RUNNING,
        runs.c.lifecycle_stage == LifecycleStage.ACTIVE.value,
        _last_sign_of_life() < now - age,
    )


class SqlRunLiveness:
    """The liveness half of ``SqlTrackingStore`` (it provides ``_read`` and ``_write``)."""

    _read: Transaction
    _write: Transaction

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        ids = _ids(run_ids)
        if not ids:
            return
        now = now_millis()

        def tx(conn: Connection) -> None:
            conn.execute(update(runs).where(runs.c.id.in_(ids), runs.c.status == _RUNNING).values(heartbeat_at=now))

        self._write(tx)

    def list_stale_runs(self, older_than_ms: int) -> list[Run]:
        condition = _stale(older_than_ms, now_millis())

        def tx(conn: Connection) -> list[Run]:
            rows = conn.execute(select(runs).where(condition).order_by(_last_sign_of_life(), runs.c.id)).all()
            return [run_from_row(row, params={}, tags={}, metrics={}, inputs=[]) for row in rows]

        return self._read(tx)

    def kill_stale_runs(self, run_ids: Sequence[str], older_than_ms: int) -> list[Run]:
        ids = _ids(run_ids)
        if not ids:
            return []
        now = now_millis()
        condition = and_(runs.c.id.in_(ids), _stale(older_than_ms, now))

        def tx(conn: Connection) -> list[Run]:
            # One conditional UPDATE (what is no longer stale is left alone), then what it changed.
            conn.execute(update(runs).where(condition).values(status=RunStatus.KILLED.value, end_time=now))
            rows = conn.execute(
                select(runs)
                .where(runs.c.id.in_(ids), runs.c.status == RunStatus.KILLED.value, runs.c.end_time == now)
                .order_by(runs.c.id)
            ).all()
            return [run_from_row(row, params={}, tags={}, metrics={}, inputs=[]) for row in rows]

        return self._write(tx)
