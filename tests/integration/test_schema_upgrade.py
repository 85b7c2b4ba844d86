"""A database created by an earlier modelyard upgrades in place, on SQLite and PostgreSQL.

The store is migrated to the heads before the lineage indexes (tracking ``0001``, ``d0001``,
``m0002``, ``a0001``), filled with rows written the old way, then upgraded with
``modelyard db upgrade``: ``db check`` passes, the schema equals the table definitions, the run
id of dataset versions added inside a run is backfilled from their ``code``, a batch-scoring
run's model use from its ``modelyard.model_version_used`` tag, and the new reverse
lookups (and so the lineage graph) see the old rows. ``check`` also catches a run id that no
longer agrees with its code (it would hide or invent lineage).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, text
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.core.datasets import NewDatasetVersion
from modelyard.core.tracking import RunLink
from modelyard.lineage import LineageBuilder
from modelyard.store.sql.migrations import alembic_config, current_revisions
from modelyard.store.sql.schema import SCHEMA_HEADS, metadata
from tests.fixtures.stores import joined_store

OLD_HEADS = ("d0001", "m0002", "a0001")  # the tracking branch ended at 0001, their common root
RUN = "r" * 32
ODD = "o" * 32
ROWS = [
    "INSERT INTO projects VALUES ('p1', 'proj', 1, 'active', NULL)",
    f"INSERT INTO runs VALUES ('{RUN}', 'p1', 'prep', 'FINISHED', 10, 20, NULL, 'active', NULL)",
    f"INSERT INTO run_inputs VALUES ('{RUN}', 'raw', 'v1', 'source', NULL, NULL)",
    f"INSERT INTO tags VALUES ('{RUN}', 'modelyard.model_version_used', 'team/churn@2')",  # scored before 0004
    f"INSERT INTO runs VALUES ('{ODD}', 'p1', 'odd', 'FINISHED', 11, 21, NULL, 'active', NULL)",
    f"INSERT INTO tags VALUES ('{ODD}', 'modelyard.model_version_used', 'churn@latest')",  # names no version
    "INSERT INTO datasets VALUES ('d-raw', 'raw', 1), ('d-clean', 'clean', 2)",
    "INSERT INTO dataset_versions VALUES "
    "('d-raw', 1, 'sha256:aa', 'file', 1, 1, 1, NULL, NULL, NULL, NULL, NULL), "
    f"('d-clean', 1, 'sha256:bb', 'file', 1, 1, 2, NULL, NULL, 'run:{RUN}', NULL, NULL), "
    f"('d-clean', 2, 'sha256:cc', 'file', 1, 1, 3, NULL, NULL, 'RUN:{RUN}', NULL, NULL), "
    "('d-clean', 3, 'sha256:dd', 'file', 1, 1, 4, NULL, NULL, 'run:" + "x" * 70 + "', NULL, NULL)",
    "INSERT INTO dataset_version_parents VALUES ('d-clean', 1, 'd-raw', 1)",
]


@pytest.fixture(params=["sqlite", "postgres"])
def empty_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    return str(request.getfixturevalue("postgres_empty_uri"))


def _engine(uri: str) -> Engine:
    return create_engine(uri.replace("postgresql://", "postgresql+psycopg://", 1))


def _migrate_to_old_heads_and_fill(uri: str) -> None:
    engine = _engine(uri)
    try:
        with engine.begin() as conn:
            for target in OLD_HEADS:
                command.upgrade(alembic_config(conn), target)  # type: ignore[arg-type]
            assert current_revisions(conn) == frozenset(OLD_HEADS)
            for row in ROWS:
                conn.execute(text(row))
    finally:
        engine.dispose()


def test_a_database_at_the_old_heads_upgrades(empty_uri: str) -> None:
    _migrate_to_old_heads_and_fill(empty_uri)
    runner = CliRunner()
    result = runner.invoke(app, ["db", "upgrade", "--store", empty_uri])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["db", "check", "--json", "--store", empty_uri])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"ok": True, "problems": []}

    store = joined_store(empty_uri)
    try:
        with store.engine.connect() as conn:
            assert current_revisions(conn) == SCHEMA_HEADS
            assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata) == []
            query = "SELECT version, run_id FROM dataset_versions WHERE dataset_id = 'd-clean'"
            backfilled = dict(conn.execute(text(query)).all())
            uses = conn.execute(text("SELECT run_id, model_name, model_version, context FROM run_model_uses")).all()
        assert [tuple(row) for row in uses] == [(RUN, "team/churn", 2, "scoring")]
        assert backfilled == {1: RUN, 2: None, 3: None}  # only a real 'run:' code names a run
        assert [v.ref for v in store.list_dataset_versions_by_run(RUN)] == ["clean@v1"]
        assert store.find_runs_by_input("raw", 1) == [RunLink(RUN, "p1", "source")]
        assert store.find_runs_using_model("team/churn", 2) == [RunLink(RUN, "p1", "scoring")]  # from the tag
        assert [v.ref for v in store.list_dataset_versions_derived_from("raw", 1)] == ["clean@v1"]
        builder = LineageBuilder(store, datasets=store, registry=store)
        graph = builder.build("raw@v1", kind="dataset", direction="downstream")
        assert {(e.source, e.target, e.kind) for e in graph.edges} == {
            ("dataset:raw@v1", f"run:{RUN}", "read_by"),
            ("dataset:raw@v1", "dataset:clean@v1", "derived_from"),
            (f"run:{RUN}", "dataset:clean@v1", "produced"),
        }
    finally:
        store.close()


def test_check_reports_a_run_id_that_disagrees_with_the_code(empty_uri: str) -> None:
    store = joined_store(empty_uri)
    try:
        store.create_dataset_version(
            NewDatasetVersion(
                name="a",
                manifest_digest="sha256:" + "1" * 64,
                kind="file",
                file_count=1,
                total_size=1,
                code=f"run:{RUN}",
            )
        )
        store.create_dataset_version(
            NewDatasetVersion(
                name="b", manifest_digest="sha256:" + "2" * 64, kind="file", file_count=1, total_size=1, code="prep.py"
            )
        )
        assert store.check() == []
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE dataset_versions SET run_id = NULL WHERE code LIKE 'run:%'"))
            conn.execute(text("UPDATE dataset_versions SET run_id = 'invented' WHERE code = 'prep.py'"))
        assert "2 dataset version(s) have a run_id that does not match their code" in store.check()
    finally:
        store.close()
