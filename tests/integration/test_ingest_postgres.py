"""Batch ingestion from a PostgreSQL source database into a PostgreSQL metadata store: a query,
incremental runs on a timestamp watermark pushed into the query, quarantine, bad queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.artifacts.cas import ContentAddressedStore
from modelyard.core.errors import InvalidArgument
from modelyard.data import DatasetService
from modelyard.data.ingest import BatchIngestor, open_source, read_version
from modelyard.data.validation import Suite
from tests.fixtures.stores import joined_store

pytestmark = pytest.mark.postgres


@pytest.fixture
def service(postgres_uri: str, tmp_path: Path) -> Iterator[DatasetService]:
    store = joined_store(postgres_uri)
    svc = DatasetService(store, ContentAddressedStore(str(tmp_path / "artifacts")), tmp_path / "cache")  # type: ignore[arg-type]
    yield svc
    svc.close()
    store.close()


@pytest.fixture
def source_db(postgres_empty_uri: str) -> str:
    """A user's database (not modelyard's): an ``orders`` table."""
    import psycopg

    with psycopg.connect(postgres_empty_uri, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE orders (id integer PRIMARY KEY, amount numeric(10, 2), "
            "customer text, updated_at timestamptz NOT NULL)"
        )
        _insert(conn, 1, 5)
    return postgres_empty_uri


def _insert(conn: object, first: int, last: int) -> None:
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for i in range(first, last + 1):
        conn.execute(  # type: ignore[attr-defined]
            "INSERT INTO orders VALUES (%s, %s, %s, %s)",
            (i, -1 if i == 3 else i * 10, f"c{i}", base + dt.timedelta(hours=i)),
        )


def test_query_ingest_incremental_and_quarantine(service: DatasetService, source_db: str) -> None:
    import psycopg

    ingestor = BatchIngestor(service)
    suite = Suite.from_yaml("name: orders\nexpectations:\n  - {expect: between, column: amount, min: 0}\n")
    query = "SELECT id, amount, customer, updated_at FROM orders"
    first = ingestor.ingest(
        open_source(source_db, query=query, chunk_rows=2),
        "orders",
        incremental_on="updated_at",
        suite=suite,
        on_invalid="quarantine",
    )
    assert first.rows == 4 and first.quarantined == 1 and first.version is not None
    assert first.version.params["ingest.format"] == "sql" and first.version.params["ingest.query"] == query
    assert first.version.params["watermark.value"] == "2024-01-01T05:00:00+00:00"
    assert read_version(service, first.version).column("id").to_pylist() == [1, 2, 4, 5]

    again = ingestor.ingest(open_source(source_db, query=query), "orders", incremental_on="updated_at")
    assert again.version is None

    with psycopg.connect(source_db, autocommit=True) as conn:
        _insert(conn, 6, 7)
    second = ingestor.ingest(
        open_source(source_db, query=query), "orders", incremental_on="updated_at", suite=suite, on_invalid="quarantine"
    )
    assert second.rows == 2 and second.version is not None and second.version.ref == "orders@v2"
    assert read_version(service, second.version).column("id").to_pylist() == [1, 2, 4, 5, 6, 7]
    assert read_version(service, service.resolve("orders.quarantine")).column("id").to_pylist() == [3]


def test_password_hidden_and_bad_queries(service: DatasetService, source_db: str) -> None:
    ingestor = BatchIngestor(service)
    with_password = source_db.replace("postgres@", "postgres:secret@")
    source = open_source(with_password, query="SELECT 1 AS one")
    assert "secret" not in source.description and "***" in source.description
    with pytest.raises(InvalidArgument, match="needs --query"):
        open_source(source_db)
    with pytest.raises(InvalidArgument, match=r"query on .* failed: .*no_such_table") as info:
        ingestor.ingest(open_source(source_db, query="SELECT * FROM no_such_table"), "x")
    assert "\n" not in str(info.value)
    assert service.list_datasets() == []
