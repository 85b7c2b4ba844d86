"""The auth aggregate of the SQL store on SQLite and PostgreSQL: users, token digests, roles,
sessions, and the audit chain (appends, filters, tamper detection, concurrent writers)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelyard.auth import AuditLog, AuthService
from modelyard.core.auth import AuditQuery
from modelyard.core.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from tests.fixtures.stores import joined_store


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'auth.db'}"
    else:
        uri = str(request.getfixturevalue("postgres_uri"))
    opened = joined_store(uri)
    try:
        yield opened
    finally:
        opened.close()


class Clock:
    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def _sql(store: Any, statement: str) -> list[tuple[Any, ...]]:
    with store.engine.begin() as conn:
        result = conn.exec_driver_sql(statement)
        return [tuple(row) for row in result] if result.returns_rows else []


def test_users(store: Any) -> None:
    auth = AuthService(store)
    alice = auth.create_user("alice", password="s3cret-pass", is_admin=True)
    auth.create_user("bot")
    assert alice.is_admin and alice.has_password
    assert [u.username for u in auth.list_users()] == ["alice", "bot"]
    assert not auth.get_user("bot").has_password
    with pytest.raises(AlreadyExists):
        auth.create_user("alice")
    with pytest.raises(InvalidArgument, match="too short"):
        auth.create_user("carol", password="short")
    with pytest.raises(NotFound):
        auth.get_user("nobody")
    assert auth.set_disabled("bot", True).disabled
    assert not auth.set_admin("alice", False).is_admin
    stored = _sql(store, "SELECT password_hash FROM users WHERE username = 'alice'")[0][0]
    assert isinstance(stored, str) and "s3cret-pass" not in stored


def test_only_token_digests_are_stored(store: Any) -> None:
    auth = AuthService(store)
    auth.create_user("alice")
    secret, token = auth.create_token("alice", name="laptop")
    rows = _sql(store, "SELECT * FROM api_tokens")
    assert len(rows) == 1
    flat = " ".join(str(v) for v in rows[0])
    assert secret not in flat
    assert secret.split("_", 2)[2] not in flat  # not even the random part (which may itself hold "_")
    assert token.id in flat  # the visible prefix is what identifies it
    assert auth.authenticate_token(secret).username == "alice"


def test_token_refusals(store: Any) -> None:
    clock = Clock()
    auth = AuthService(store, clock=clock)
    auth.create_user("alice")
    secret, token = auth.create_token("alice", expires_in_ms=60_000)
    assert auth.authenticate_token(secret).username == "alice"
    with pytest.raises(Unauthenticated, match="malformed"):
        auth.authenticate_token("not-a-token")
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthenticated, match="unknown"):
        auth.authenticate_token(forged)
    clock.now += 60_000
    with pytest.raises(Unauthenticated, match="expired"):
        auth.authenticate_token(secret)
    other, _ = auth.create_token("alice")
    revoked = auth.revoke_token(other)  # by secret; by id works too
    assert revoked.revoked_at == clock.now
    assert auth.revoke_token(revoked.id).revoked_at == clock.now  # idempotent
    with pytest.raises(Unauthenticated, match="revoked"):
        auth.authenticate_token(other)
    third, _ = auth.create_token("alice")
    auth.set_disabled("alice", True)
    with pytest.raises(Unauthenticated, match="disabled"):
        auth.authenticate_token(third)
    with pytest.raises(NotFound):
        auth.revoke_token("000000000000")
    assert [t.id for t in auth.list_tokens("alice")][-1] == token.id
    assert auth.list_tokens("alice")[-1].last_used_at is not None


def test_roles(store: Any) -> None:
    auth = AuthService(store)
    project = store.create_project("p1")
    other = store.create_project("p2")
    auth.create_user("vera")
    auth.create_user("ed")
    auth.create_user("root", is_admin=True)
    auth.grant_role("vera", project.id, "viewer")
    auth.grant_role("ed", project.id, "viewer")
    auth.grant_role("ed", project.id, "editor")  # replaces
    assert [(b.username, b.role) for b in auth.list_roles(project_id=project.id)] == [
        ("ed", "editor"),
        ("vera", "viewer"),
    ]
    auth.require_role("vera", project.id, "viewer")
    with pytest.raises(PermissionDenied, match="has viewer"):
        auth.require_role("vera", project.id, "editor")
    auth.require_role("ed", project.id, "editor")
    with pytest.raises(PermissionDenied, match="has no role"):
        auth.require_role("ed", other.id, "viewer")
    auth.require_role("root", other.id, "admin", is_admin=True)
    auth.require_role("ed", None, "viewer")  # project-less reads: any signed-in user
    with pytest.raises(PermissionDenied):
        auth.require_role("ed", None, "editor")
    auth.grant_role("ed", "*", "maintainer")
    auth.require_role("ed", other.id, "maintainer")
    auth.require_role("ed", None, "editor")
    assert auth.visible_project_ids(auth.get_user("vera")) == {project.id}
    assert auth.visible_project_ids(auth.get_user("ed")) is None
    assert auth.revoke_role("vera", project.id) and not auth.revoke_role("vera", project.id)
    with pytest.raises(InvalidArgument):
        auth.grant_role("vera", project.id, "owner")
    with pytest.raises(NotFound):
        auth.grant_role("nobody", project.id, "viewer")
    assert store.check() == []


def test_sessions(store: Any) -> None:
    clock = Clock()
    auth = AuthService(store, clock=clock, session_ttl_ms=1000)
    auth.create_user("alice", password="password-1")
    with pytest.raises(Unauthenticated, match="invalid username or password"):
        auth.login("alice", "wrong-password")
    with pytest.raises(Unauthenticated, match="invalid username or password"):
        auth.login("nobody", "password-1")
    session = auth.login("alice", "password-1")
    found = auth.session(session.session_token)
    assert found.user.username == "alice"
    assert auth.csrf_matches(found, session.csrf_token)
    assert not auth.csrf_matches(found, None) and not auth.csrf_matches(found, "x")
    stored = " ".join(str(v) for row in _sql(store, "SELECT * FROM auth_sessions") for v in row)
    assert session.session_token not in stored and session.csrf_token not in stored
    clock.now += 1000
    with pytest.raises(Unauthenticated, match="expired"):
        auth.session(session.session_token)
    again = auth.login("alice", "password-1")  # also sweeps the expired session
    assert len(_sql(store, "SELECT * FROM auth_sessions")) == 1
    auth.logout(again.session_token)
    with pytest.raises(Unauthenticated):
        auth.session(again.session_token)


def _fill(log: AuditLog, clock: Clock) -> None:
    for i, (actor, obj) in enumerate([("alice", "r1"), ("bob", "r2"), ("alice", "r2"), ("bob", "r1"), ("alice", "r3")]):
        clock.now = 1000 * (i + 1)
        log.record(actor, "run.update", "run", obj, {"i": i, "note": "ünïcode"}, "10.0.0.1")


def test_audit_list_filters(store: Any) -> None:
    clock = Clock()
    log = AuditLog(store, clock=clock)
    _fill(log, clock)
    assert [e.seq for e in log.list()] == [5, 4, 3, 2, 1]
    assert [e.seq for e in log.list(AuditQuery(actor="alice"))] == [5, 3, 1]
    assert [e.seq for e in log.list(AuditQuery(object_type="run", object_id="r2"))] == [3, 2]
    assert [e.seq for e in log.list(AuditQuery(since=2000, until=4000))] == [3, 2]
    assert [e.seq for e in log.list(AuditQuery(actor="bob", since=3000))] == [4]
    assert [e.seq for e in log.list(AuditQuery(limit=2, before_seq=4))] == [3, 2]
    entry = log.list(AuditQuery(limit=1))[0]
    assert entry.details == {"i": 4, "note": "ünïcode"} and entry.remote_addr == "10.0.0.1"
    with pytest.raises(InvalidArgument):
        log.list(AuditQuery(since=5, until=5))
    with pytest.raises(InvalidArgument):
        log.list(AuditQuery(limit=0))
    with pytest.raises(InvalidArgument):
        log.record("alice", "x", "run", None, {"bad": float("nan")})


def test_audit_timestamps_never_go_backwards(store: Any) -> None:
    clock = Clock(5000)
    log = AuditLog(store, clock=clock)
    log.record("a", "x", "run")
    clock.now = 1000
    assert log.record("a", "x", "run").timestamp == 5000


def test_audit_verify_detects_an_edited_row(store: Any) -> None:
    clock = Clock()
    log = AuditLog(store, clock=clock)
    _fill(log, clock)
    result = log.verify()
    assert result.ok and result.checked == 5 and result.head_seq == 5
    assert store.check() == []
    _sql(store, "UPDATE audit_log SET details = '{\"i\":99}' WHERE seq = 3")
    result = log.verify()
    assert not result.ok and result.broken_seq == 3 and "row 3" in (result.problem or "")
    assert any("audit log: row 3" in p for p in store.check())


def test_audit_verify_detects_a_rehashed_edit(store: Any) -> None:
    """Recomputing the edited row's own hash does not help: the next row no longer chains."""
    from modelyard.core.auth import audit_entry_hash

    clock = Clock()
    log = AuditLog(store, clock=clock)
    _fill(log, clock)
    prev = _sql(store, "SELECT hash FROM audit_log WHERE seq = 1")[0][0]
    forged = audit_entry_hash(
        str(prev),
        seq=2,
        timestamp=2000,
        actor="mallory",
        action="run.update",
        object_type="run",
        object_id="r2",
        remote_addr="10.0.0.1",
        details_json="{}",
    )
    _sql(store, f"UPDATE audit_log SET actor = 'mallory', details = '{{}}', hash = '{forged}' WHERE seq = 2")
    result = log.verify()
    assert not result.ok and result.broken_seq == 3


def test_a_rechained_forgery_is_caught_by_a_recorded_head(store: Any) -> None:
    """Rewriting a row and recomputing every later hash yields a valid chain with another head."""
    from modelyard.core.auth import GENESIS_HASH, audit_entry_hash

    clock = Clock()
    log = AuditLog(store, clock=clock)
    _fill(log, clock)
    head = log.verify()
    _sql(store, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    prev = GENESIS_HASH
    for seq, ts, actor, action, otype, oid, addr, details in _sql(
        store,
        "SELECT seq, timestamp, actor, action, object_type, object_id, remote_addr, details "
        "FROM audit_log ORDER BY seq",
    ):
        prev = audit_entry_hash(
            prev,
            seq=int(seq),
            timestamp=int(ts),
            actor=str(actor),
            action=str(action),
            object_type=str(otype),
            object_id=oid,
            remote_addr=addr,
            details_json=str(details),
        )
        _sql(store, f"UPDATE audit_log SET hash = '{prev}' WHERE seq = {seq}")
    assert log.verify().ok
    caught = log.verify(expect_head=(head.head_seq, head.head_hash))
    assert not caught.ok and caught.broken_seq == 5 and "differs" in (caught.problem or "")


def test_audit_verify_detects_a_deleted_row(store: Any) -> None:
    clock = Clock()
    log = AuditLog(store, clock=clock)
    _fill(log, clock)
    head = log.verify()
    _sql(store, "DELETE FROM audit_log WHERE seq = 3")
    result = log.verify()
    assert not result.ok and result.broken_seq == 4 and "3" in (result.problem or "")
    _sql(store, "DELETE FROM audit_log WHERE seq >= 4")  # a truncated tail leaves a valid chain...
    assert log.verify().ok
    truncated = log.verify(expect_head=(head.head_seq, head.head_hash))  # ...that a recorded head catches
    assert not truncated.ok and truncated.broken_seq == 5


def test_audit_verify_detects_a_deleted_first_row(store: Any) -> None:
    clock = Clock()
    log = AuditLog(store, clock=clock)
    _fill(log, clock)
    _sql(store, "DELETE FROM audit_log WHERE seq = 1")
    assert log.verify().broken_seq == 2


def test_concurrent_appends_never_fork_the_chain(store: Any) -> None:
    log = AuditLog(store)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                log.record(f"user{n}", "run.update", "run", f"{n}-{i}", {"i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    result = log.verify()
    assert result.ok and result.checked == 8 * 15
    assert len({e.object_id for e in log.list(AuditQuery(limit=1000))}) == 8 * 15


def _append_from_process(uri: str, writer: int, count: int) -> None:
    """Runs in a separate process: its own store, its own connections, like a server replica."""
    opened = joined_store(uri)
    try:
        log = AuditLog(opened)  # type: ignore[arg-type]
        for i in range(count):
            log.record(f"replica{writer}", "run.update", "run", f"{writer}-{i}", {"i": i})
    finally:
        opened.close()


def test_appends_from_several_processes_never_fork_the_chain(store: Any) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_append_from_process, args=(store.uri, n, 10)) for n in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    result = AuditLog(store).verify()
    assert result.ok and result.checked == 40
    assert [e.seq for e in store.list_audit(AuditQuery(limit=100))] == list(range(40, 0, -1))
