"""The CLI end to end: listings with --json, one-line errors with non-zero exits, db commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import modelyard
from modelyard.cli.main import app

runner = CliRunner()


@pytest.fixture
def populated(modelyard_home: Path) -> dict[str, str]:
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    modelyard.set_project("cli")
    ids = {}
    for name, acc in (("alpha", 0.7), ("beta", 0.9)):
        with modelyard.start_run(name=name) as run:
            modelyard.log_params({"model": name})
            modelyard.log_metric("acc", acc)
        ids[name] = run.id
    yield ids
    modelyard.set_store_uri(None)


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelyard.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_version() -> None:
    code, out = invoke("--version")
    assert code == 0 and modelyard.__version__ in out


def test_projects_and_runs_listings(populated: dict[str, str]) -> None:
    code, out = invoke("projects", "list", "--json")
    assert code == 0 and "cli" in [p["name"] for p in json.loads(out)]
    code, out = invoke("runs", "list", "--project", "cli", "--filter", "metrics.acc > 0.8", "--json")
    assert code == 0
    assert [r["name"] for r in json.loads(out)] == ["beta"]
    code, out = invoke("runs", "list", "--project", "cli")
    assert code == 0 and "alpha" in out and "beta" in out


def test_show_and_compare(populated: dict[str, str]) -> None:
    code, out = invoke("runs", "show", populated["alpha"], "--json")
    assert code == 0
    data = json.loads(out)
    assert data["params"] == {"model": "alpha"} and data["metrics"]["acc"] == 0.7
    code, out = invoke("runs", "compare", populated["alpha"], populated["beta"], "--json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == ["alpha", "beta"]
    code, out = invoke("runs", "compare", populated["alpha"], populated["beta"])
    assert code == 0 and "*params.model" in out


def test_delete_and_restore(populated: dict[str, str]) -> None:
    assert invoke("runs", "delete", populated["alpha"])[0] == 0
    _, out = invoke("runs", "list", "--project", "cli", "--json")
    assert [r["name"] for r in json.loads(out)] == ["beta"]
    _, out = invoke("runs", "list", "--project", "cli", "--deleted", "--json")
    assert [r["name"] for r in json.loads(out)] == ["alpha"]
    assert invoke("runs", "restore", populated["alpha"])[0] == 0
    _code, out = invoke("runs", "list", "--project", "cli", "--json")
    assert sorted(r["name"] for r in json.loads(out)) == ["alpha", "beta"]


def test_errors_are_one_line_and_change_nothing(populated: dict[str, str], modelyard_home: Path) -> None:
    env = {"MODELYARD_HOME": str(modelyard_home)}
    for args, expected in (
        (["runs", "show", "f" * 32], "not found"),
        (["runs", "list", "--filter", "metrics.acc >"], "position 13"),
        (["runs", "delete", populated["alpha"], "0" * 32], "not found"),
        (["runs", "list", "--store", "mysql://nowhere/db"], "unsupported store URI"),
    ):
        proc = cli(*args, env=env)
        assert proc.returncode != 0, args
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, proc.stderr
        assert expected in lines[0], lines[0]
    # the failed multi-delete deleted nothing
    _code, out = invoke("runs", "list", "--project", "cli", "--json")
    assert len(json.loads(out)) == 2


def test_unreachable_store_is_one_line(tmp_path: Path) -> None:
    proc = cli("projects", "list", "--store", "postgresql://postgres@127.0.0.1:1/nothing")
    assert proc.returncode != 0
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1


def test_db_upgrade_and_check(populated: dict[str, str]) -> None:
    code, out = invoke("db", "upgrade")
    assert code == 0 and "up to date" in out
    code, out = invoke("db", "check", "--json")
    assert code == 0 and json.loads(out) == {"ok": True, "problems": []}
