"""The liveness part of the TrackingStore contract (issue 16): heartbeats, stale runs, and
marking them KILLED, on SQLite, PostgreSQL and a server.

Runs are made stale by giving them a start time in the past (a run's first sign of life is its
start), never by waiting.
"""

from __future__ import annotations

from modelyard.core.tracking import RunStatus, now_millis
from modelyard.store import TrackingStore

MINUTE = 60_000


def test_heartbeats_stale_runs_and_killing(store: TrackingStore) -> None:
    project = store.create_project("liveness")
    past = now_millis() - 10 * MINUTE
    dead = store.create_run(project.id, name="dead", start_time=past)
    alive = store.create_run(project.id, name="alive", start_time=past)
    fresh = store.create_run(project.id, name="fresh")
    done = store.create_run(project.id, name="done", start_time=past)
    store.update_run(done.id, status=RunStatus.FINISHED, end_time=past + 1)
    assert dead.heartbeat_at == past and fresh.heartbeat_at is not None

    assert [r.id for r in store.list_stale_runs(5 * MINUTE)] in ([dead.id, alive.id], [alive.id, dead.id])
    store.heartbeat([alive.id, done.id, "no-such-run"])  # unknown and finished ids are ignored
    assert store.get_run(alive.id).heartbeat_at >= now_millis() - MINUTE  # type: ignore[operator]
    assert store.get_run(done.id).heartbeat_at == past
    stale = store.list_stale_runs(5 * MINUTE)
    assert [r.id for r in stale] == [dead.id] and stale[0].status == RunStatus.RUNNING

    # The one that sent a heartbeat since it was listed is left alone.
    killed = store.kill_stale_runs([dead.id, alive.id, fresh.id], 5 * MINUTE)
    assert [(r.id, r.status) for r in killed] == [(dead.id, RunStatus.KILLED)]
    after = store.get_run(dead.id)
    assert after.status == RunStatus.KILLED and after.end_time is not None and after.end_time >= past
    assert store.get_run(alive.id).status == RunStatus.RUNNING
    assert store.list_stale_runs(5 * MINUTE) == []
    assert store.kill_stale_runs([dead.id], 5 * MINUTE) == []  # killed once
    assert store.kill_stale_runs([], 5 * MINUTE) == []
