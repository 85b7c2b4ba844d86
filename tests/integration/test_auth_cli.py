"""``modelyard users|tokens|roles|audit`` against SQLite and PostgreSQL stores, including
``audit verify`` catching rows that a test edits and deletes with plain SQL."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelyard.auth import AuditLog, AuthService
from modelyard.cli.main import app
from tests.fixtures.stores import joined_store

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgres"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cli.db'}"
    return str(request.getfixturevalue("postgres_uri"))


@pytest.fixture
def store(store_uri: str) -> Iterator[Any]:
    opened = joined_store(store_uri)
    yield opened
    opened.close()


def invoke(store_uri: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--store", store_uri], input=stdin)
    return result.exit_code, result.output


def ok_json(store_uri: str, *args: str) -> Any:
    code, out = invoke(store_uri, *args, "--json")
    assert code == 0, out
    return json.loads(out)


def test_users_tokens_and_roles(store_uri: str, store: Any) -> None:
    store.create_project("churn")
    code, out = invoke(store_uri, "users", "create", "alice", "--password-stdin", stdin="long-password\n")
    assert code == 0, out
    assert invoke(store_uri, "users", "create", "bot", "--no-password", "--admin")[0] == 0
    code, out = invoke(store_uri, "users", "create", "alice", "--no-password")
    assert code == 1 and "already exists" in out
    users = ok_json(store_uri, "users", "list")
    assert [(u["username"], u["is_admin"], u["has_password"]) for u in users] == [
        ("alice", False, True),
        ("bot", True, False),
    ]
    assert AuthService(store).login("alice", "long-password").user.username == "alice"

    token = ok_json(store_uri, "tokens", "create", "alice", "--name", "ci", "--expires-in", "30d")
    secret = token["token"]
    assert AuthService(store).authenticate_token(secret).username == "alice"
    listed = ok_json(store_uri, "tokens", "list", "--user", "alice")
    assert [t["id"] for t in listed] == [token["id"]] and "token" not in listed[0]
    code, out = invoke(store_uri, "tokens", "list")
    assert code == 0 and token["id"] in out and "active" in out
    assert invoke(store_uri, "tokens", "create", "alice", "--expires-in", "soon")[0] == 2
    assert invoke(store_uri, "tokens", "revoke", token["id"])[0] == 0
    assert "revoked" in invoke(store_uri, "tokens", "list")[1]
    code, out = invoke(store_uri, "tokens", "revoke", "ffffffffffff")
    assert code == 1 and "not found" in out

    assert invoke(store_uri, "roles", "grant", "alice", "editor", "--project", "churn")[0] == 0
    assert invoke(store_uri, "roles", "grant", "bot", "viewer", "--project", "*")[0] == 0
    code, out = invoke(store_uri, "roles", "grant", "alice", "owner", "--project", "churn")
    assert code == 2 and "invalid role" in out
    assert invoke(store_uri, "roles", "grant", "alice", "viewer", "--project", "nope")[0] == 1
    roles = ok_json(store_uri, "roles", "list", "--project", "churn")
    assert [(r["username"], r["role"]) for r in roles] == [("alice", "editor")]
    assert "churn" in invoke(store_uri, "roles", "list")[1]
    assert invoke(store_uri, "roles", "revoke", "alice", "--project", "churn")[0] == 0
    assert invoke(store_uri, "roles", "revoke", "alice", "--project", "churn")[0] == 1

    assert invoke(store_uri, "users", "update", "alice", "--disable")[0] == 0
    assert ok_json(store_uri, "users", "list")[0]["disabled"]
    assert invoke(store_uri, "users", "update", "alice")[0] == 1

    actions = [e["action"] for e in ok_json(store_uri, "audit", "list", "--limit", "50")]
    assert {"user.create", "token.create", "token.revoke", "role.grant", "role.revoke", "user.update"} <= set(actions)
    assert all(e["actor"].startswith("cli") for e in ok_json(store_uri, "audit", "list"))


def _seed_audit(store: Any) -> None:
    times = iter(range(1_767_225_600_000, 1_767_225_600_000 + 10 * 3_600_000, 3_600_000))  # 2026-01-01, hourly
    log = AuditLog(store, clock=lambda: next(times))
    for actor, obj in [("alice", "r1"), ("bob", "r1"), ("alice", "r2"), ("bob", "r2"), ("alice", "r3")]:
        log.record(actor, "run.update", "run", obj, {"status": "FINISHED"}, "10.1.2.3")


def test_audit_list_filters(store_uri: str, store: Any) -> None:
    _seed_audit(store)

    def seqs(*args: str) -> list[int]:
        return [e["seq"] for e in ok_json(store_uri, "audit", "list", *args)]

    assert seqs() == [5, 4, 3, 2, 1]
    assert seqs("--user", "alice") == [5, 3, 1]
    assert seqs("--object-type", "run", "--object", "r2") == [4, 3]
    assert seqs("--since", "2026-01-01T01:00:00", "--until", "2026-01-01T03:00:00") == [3, 2]
    assert seqs("--user", "bob", "--since", "2026-01-01T02:00:00Z") == [4]
    assert seqs("--since", "1d", "--limit", "2") == []  # "a day ago" is long after 2026-01-01 here
    code, out = invoke(store_uri, "audit", "list")
    assert code == 0 and "alice" in out and "10.1.2.3" in out and "status=FINISHED" in out
    code, out = invoke(store_uri, "audit", "list", "--since", "yesterday-ish")
    assert code == 2 and "invalid --since" in out


def test_audit_verify_detects_an_updated_row(store_uri: str, store: Any) -> None:
    _seed_audit(store)
    code, out = invoke(store_uri, "audit", "verify")
    assert code == 0 and "5 audit entries verified" in out
    head = out.split("head ")[1].split()[0]
    with store.engine.begin() as conn:
        conn.exec_driver_sql('UPDATE audit_log SET details = \'{"status":"KILLED"}\' WHERE seq = 3')
    code, out = invoke(store_uri, "audit", "verify")
    assert code == 1 and "row 3" in out and "tampered" in out
    result = ok_json_failing(store_uri, "audit", "verify")
    assert result["broken_seq"] == 3 and not result["ok"]
    assert invoke(store_uri, "audit", "verify", "--expect-head", head)[0] == 1
    assert any(problem.startswith("audit log: row 3") for problem in store.check())  # what `db check` reports


def test_audit_verify_detects_a_deleted_row(store_uri: str, store: Any) -> None:
    _seed_audit(store)
    head = ok_json(store_uri, "audit", "verify")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_log WHERE seq = 2")
    code, out = invoke(store_uri, "audit", "verify")
    assert code == 1 and "row 3" in out and "row(s) 2" in out
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_log WHERE seq >= 2")
    assert invoke(store_uri, "audit", "verify")[0] == 0  # a cut tail alone is a valid chain...
    code, out = invoke(store_uri, "audit", "verify", "--expect-head", f"{head['head_seq']}:{head['head_hash']}")
    assert code == 1 and "row 5" in out  # ...which the recorded head exposes


def ok_json_failing(store_uri: str, *args: str) -> dict[str, object]:
    code, out = invoke(store_uri, *args, "--json")
    assert code == 1, out
    return dict(json.loads(out))


def test_verify_in_a_real_process_prints_one_line_error(store_uri: str, store: Any) -> None:
    _seed_audit(store)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_log SET actor = 'mallory' WHERE seq = 4")
    proc = subprocess.run(
        [sys.executable, "-m", "modelyard.cli.main", "audit", "verify", "--store", store_uri],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "row 4" in lines[0], proc.stderr
