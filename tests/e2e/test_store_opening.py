"""Issue 16, item 8: typos never create stores.

Commands that only read never create anything (a store that is not there is one line naming the
URI); what writes (``data add``, ``db init``, ``users create``, the SDK's first run) may create a
SQLite file in an existing directory, or the schema in an empty database, but never a missing
directory outside the home, never a store out of a file that is not one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import modelyard
from modelyard.cli.main import app
from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.store import open_stores

runner = CliRunner()


@pytest.fixture
def work(modelyard_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("a\n1\n")
    return tmp_path


def _one_line_error(result: Any) -> str:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


READERS = [
    ["runs", "list"],
    ["projects", "list"],
    ["runs", "show", "nosuch"],
    ["db", "check"],
    ["db", "upgrade"],
    ["data", "list"],
    ["data", "show", "d"],
    ["models", "list"],
    ["users", "list"],
    ["audit", "list"],
    ["lineage", "run:nosuch"],
]


@pytest.mark.parametrize("args", READERS, ids=" ".join)
def test_readers_on_a_missing_directory_create_nothing(work: Path, args: list[str]) -> None:
    uri = f"sqlite:///{work}/nonexistent/dir/x.db"
    before = _tree(work)
    line = _one_line_error(runner.invoke(app, [*args, "--store", uri]))
    assert uri in line and "no modelyard store" in line
    assert _tree(work) == before


def test_a_reader_on_the_default_home_creates_nothing(work: Path, modelyard_home: Path) -> None:
    line = _one_line_error(runner.invoke(app, ["runs", "list"]))
    assert str(modelyard_home / "modelyard.db") in line
    assert not modelyard_home.exists()
    # What writes creates the home and its store; then the reader sees it.
    assert runner.invoke(app, ["data", "add", "t.csv", "--name", "t"]).exit_code == 0
    assert (modelyard_home / "modelyard.db").is_file()
    assert runner.invoke(app, ["data", "list"]).exit_code == 0


def test_db_check_on_a_typo_path_creates_nothing(work: Path) -> None:
    line = _one_line_error(runner.invoke(app, ["db", "check", "--store", "typo.db"]))
    assert "typo.db" in line
    assert not (work / "typo.db").exists()


WRITERS = [["db", "check"], ["data", "add", "t.csv", "--name", "t"], ["db", "init"]]


@pytest.mark.parametrize("content", [b"", b"not a database\n"], ids=["empty", "text"])
@pytest.mark.parametrize("args", WRITERS, ids=" ".join)
def test_a_file_that_is_not_a_store_is_never_turned_into_one(work: Path, content: bytes, args: list[str]) -> None:
    target = work / "existing.db"
    target.write_bytes(content)
    line = _one_line_error(runner.invoke(app, [*args, "--store", str(target)]))
    assert str(target) in line
    assert target.read_bytes() == content
    assert not (work / "existing.db-wal").exists()


def test_a_sqlite_database_of_something_else_is_not_taken_over(work: Path) -> None:
    other = work / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.close()
    line = _one_line_error(runner.invoke(app, ["data", "add", "t.csv", "--name", "t", "--store", str(other)]))
    assert "not a modelyard store" in line and "customers" in line
    with sqlite3.connect(other) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert tables == {"customers"}


def test_writers_create_a_file_in_an_existing_directory_but_no_directory(work: Path) -> None:
    missing = f"sqlite:///{work}/missing/dir/x.db"
    line = _one_line_error(runner.invoke(app, ["data", "add", "t.csv", "--name", "t", "--store", missing]))
    assert missing in line and "does not exist" in line
    assert not (work / "missing").exists()
    created = f"sqlite:///{work}/new.db"
    assert runner.invoke(app, ["data", "add", "t.csv", "--name", "t", "--store", created]).exit_code == 0
    assert runner.invoke(app, ["data", "list", "--store", created]).exit_code == 0
    assert runner.invoke(app, ["db", "init", "--store", str(work / "init.db")]).exit_code == 0
    assert (work / "init.db").is_file()


@pytest.mark.parametrize("args", [["runs", "list"], *WRITERS[1:]], ids=" ".join)
def test_a_store_that_is_neither_a_uri_nor_a_path_is_an_error(work: Path, args: list[str]) -> None:
    before = _tree(work)
    line = _one_line_error(runner.invoke(app, [*args, "--store", "not a uri at all"]))
    assert "not a uri at all" in line
    assert _tree(work) == before


# --- the SDK ---------------------------------------------------------------------------------------


@pytest.fixture
def sdk(work: Path) -> Any:
    yield modelyard
    modelyard.set_store_uri(None)


def test_the_sdk_creates_its_store_on_the_first_run_in_an_existing_directory(sdk: Any, work: Path) -> None:
    sdk.set_store_uri(f"sqlite:///{work}/runs.db")
    with sdk.start_run() as run:
        sdk.log_metric("m", 1.0)
    assert sdk.TrackingClient(f"sqlite:///{work}/runs.db").get_run(run.id).metrics["m"].value == 1.0


def test_the_sdk_never_creates_a_missing_directory_outside_the_home(sdk: Any, work: Path) -> None:
    sdk.set_store_uri(f"sqlite:///{work}/missing/runs.db")
    with pytest.raises(InvalidArgument, match="does not exist"):
        sdk.start_run()
    assert not (work / "missing").exists()


def test_the_sdk_never_turns_an_empty_file_into_a_store(sdk: Any, work: Path) -> None:
    (work / "empty.db").write_bytes(b"")
    sdk.set_store_uri(str(work / "empty.db"))
    with pytest.raises(InvalidArgument, match="empty file"):
        sdk.start_run()
    assert (work / "empty.db").read_bytes() == b""


def test_open_stores_read_mode(work: Path) -> None:
    with pytest.raises(NotFound, match="no modelyard store"):
        open_stores(f"sqlite:///{work}/absent.db", create=False)
    assert not (work / "absent.db").exists()
    open_stores(f"sqlite:///{work}/present.db").close()
    open_stores(f"sqlite:///{work}/present.db", create=False).close()


def test_open_stores_read_mode_on_an_empty_postgres_database(postgres_empty_uri: str) -> None:
    with pytest.raises(NotFound, match="no modelyard store"):
        open_stores(postgres_empty_uri, create=False)
    open_stores(postgres_empty_uri).close()  # what writes creates the schema in an empty database
    open_stores(postgres_empty_uri, create=False).close()
