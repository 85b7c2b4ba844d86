"""Batch ingestion on the embedded default: CSV, Parquet and JSON Lines sources, incremental
watermarks, validation with quarantine, malformed rows, schema changes, bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelyard.artifacts.cas import ContentAddressedStore
from modelyard.core.errors import IngestRejected, InvalidArgument, NotFound
from modelyard.data import DatasetService
from modelyard.data.ingest import BatchIngestor, MalformedRow, WatermarkFilter, open_source, read_version
from modelyard.data.validation import FAILED_COLUMN, Suite
from tests.fixtures.stores import joined_store


@pytest.fixture
def service(tmp_path: Path) -> Iterator[DatasetService]:
    store = joined_store(f"sqlite:///{tmp_path / 'meta.db'}")
    svc = DatasetService(store, ContentAddressedStore(str(tmp_path / "artifacts")), tmp_path / "cache")  # type: ignore[arg-type]
    yield svc
    svc.close()
    store.close()


@pytest.fixture
def ingestor(service: DatasetService) -> BatchIngestor:
    return BatchIngestor(service)


def _rows(service: DatasetService, ref: str) -> list[dict[str, Any]]:
    return read_version(service, service.resolve(ref)).to_pylist()


AGE_SUITE = Suite.from_yaml(
    """
name: people
expectations:
  - {expect: not_null, column: id}
  - {expect: between, column: age, min: 0, max: 120}
"""
)


def test_csv_full_ingest_then_unchanged(ingestor: BatchIngestor, service: DatasetService, tmp_path: Path) -> None:
    src = tmp_path / "people.csv"
    src.write_text("id,age\n1,30\n2,40\n")
    result = ingestor.ingest(open_source(src), "people")
    assert result.created and result.rows == 2 and result.version is not None
    assert result.version.ref == "people@v1"
    assert result.version.params["ingest.source"] == str(src.absolute())
    assert result.version.source == str(src.absolute())  # the CSV, not the staging directory
    assert result.version.params["ingest.format"] == "csv"
    with pytest.raises(InvalidArgument, match="was ingested from"):
        service.status("people@v1")  # comparing the CSV with its Parquet copy would mislead
    assert _rows(service, "people@v1") == [{"id": 1, "age": 30}, {"id": 2, "age": 40}]
    again = ingestor.ingest(open_source(src), "people")
    assert not again.created and again.version == result.version


def test_parquet_and_jsonl_sources(ingestor: BatchIngestor, service: DatasetService, tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]}), tmp_path / "t.parquet")
    assert ingestor.ingest(open_source(tmp_path / "t.parquet"), "pq").rows == 3
    assert [r["x"] for r in _rows(service, "pq")] == [0.5, 1.5, 2.5]
    (tmp_path / "t.jsonl").write_text('{"id": 1, "tag": "a"}\n\n{"id": 2, "tag": "b"}\n')
    result = ingestor.ingest(open_source(tmp_path / "t.jsonl"), "js")
    assert result.rows == 2 and result.version is not None and result.version.params["ingest.format"] == "jsonl"
    assert _rows(service, "js") == [{"id": 1, "tag": "a"}, {"id": 2, "tag": "b"}]


def test_directory_of_files_and_explicit_format(
    ingestor: BatchIngestor, service: DatasetService, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a.csv").write_text("id\n1\n")
    (folder / "b.csv").write_text("id\n2\n")
    assert ingestor.ingest(open_source(folder), "drop").rows == 2
    (tmp_path / "data.txt").write_text("id\n7\n")
    with pytest.raises(InvalidArgument, match="--format"):
        open_source(tmp_path / "data.txt")
    assert ingestor.ingest(open_source(tmp_path / "data.txt", format="csv"), "txt").rows == 1


def test_incremental_takes_only_new_rows(ingestor: BatchIngestor, service: DatasetService, tmp_path: Path) -> None:
    src = tmp_path / "events.csv"
    src.write_text("id,ts\n1,2024-01-01T00:00:00\n2,2024-01-02T00:00:00\n")
    first = ingestor.ingest(open_source(src), "events", incremental_on="ts")
    assert first.rows == 2 and first.version is not None
    assert first.version.params["watermark.column"] == "ts"
    assert first.version.params["watermark.value"] == "2024-01-02T00:00:00"
    nothing = ingestor.ingest(open_source(src), "events", incremental_on="ts")
    assert nothing.version is None and nothing.rows == 0
    with src.open("a") as f:
        f.write("3,2024-01-03T00:00:00\n4,2024-01-04T00:00:00\n")
    second = ingestor.ingest(open_source(src), "events", incremental_on="ts")
    assert second.rows == 2 and second.version is not None and second.version.ref == "events@v2"
    assert [str(p) for p in second.version.parents] == ["events@v1"]
    assert [r["id"] for r in _rows(service, "events@v2")] == [1, 2, 3, 4]  # latest holds every row
    assert sorted(service.files(second.version)) == ["part-000001.parquet", "part-000002.parquet"]
    assert service.files(second.version)["part-000001.parquet"] == service.files(first.version)["part-000001.parquet"]
    with pytest.raises(InvalidArgument, match="incrementally on 'ts'"):
        ingestor.ingest(open_source(src), "events", incremental_on="id")


def test_incremental_with_integer_watermark_on_jsonl(ingestor: BatchIngestor, tmp_path: Path) -> None:
    src = tmp_path / "e.jsonl"
    src.write_text("".join(json.dumps({"seq": i, "v": i * 10}) + "\n" for i in range(1, 6)))
    assert ingestor.ingest(open_source(src), "seq", incremental_on="seq").rows == 5
    with src.open("a") as f:
        f.write(json.dumps({"seq": 6, "v": 60}) + "\n")
    result = ingestor.ingest(open_source(src), "seq", incremental_on="seq")
    assert result.rows == 1 and result.watermark is not None and result.watermark.value == 6
    with pytest.raises(InvalidArgument, match="watermark column 'nope'"):
        ingestor.ingest(open_source(src), "other", incremental_on="nope")


def test_validation_quarantines_failing_rows(ingestor: BatchIngestor, service: DatasetService, tmp_path: Path) -> None:
    src = tmp_path / "p.csv"
    src.write_text("id,age\n1,30\n2,200\n,40\n4,50\n")
    result = ingestor.ingest(open_source(src), "p", suite=AGE_SUITE, on_invalid="quarantine")
    assert result.rows == 2 and result.quarantined == 2
    assert result.quarantine_version is not None and result.quarantine_version.ref == "p.quarantine@v1"
    assert result.version is not None and result.version.params["ingest.quarantine"] == "p.quarantine@v1"
    assert [r["id"] for r in _rows(service, "p")] == [1, 4]
    bad = _rows(service, "p.quarantine")
    assert [r["_source_row"] for r in bad] == [1, 2]
    assert "age <= 120" in bad[0][FAILED_COLUMN] and "id is never null" in bad[1][FAILED_COLUMN]
    custom = ingestor.ingest(open_source(src), "p2", suite=AGE_SUITE, on_invalid="quarantine", quarantine="rejects")
    assert custom.quarantine_version is not None and custom.quarantine_version.name == "rejects"


def test_validation_failure_writes_nothing(ingestor: BatchIngestor, service: DatasetService, tmp_path: Path) -> None:
    src = tmp_path / "p.csv"
    src.write_text("id,age\n1,30\n2,200\n")
    with pytest.raises(IngestRejected, match="age <= 120") as info:
        ingestor.ingest(open_source(src), "p", suite=AGE_SUITE)
    assert info.value.report is not None and not info.value.report.success
    assert service.list_datasets() == []
    table_level = Suite.from_yaml("name: t\nexpectations:\n  - {expect: row_count, min: 10}\n")
    with pytest.raises(IngestRejected, match="row count"):
        ingestor.ingest(open_source(src), "p", suite=table_level, on_invalid="quarantine")
    assert service.list_datasets() == []


def test_malformed_csv_rows_fail_with_line_numbers(
    ingestor: BatchIngestor, service: DatasetService, tmp_path: Path
) -> None:
    src = tmp_path / "m.csv"
    src.write_text("id,age\n1,30\n2,40,extra\n3,50\n4\n")
    with pytest.raises(IngestRejected, match=r"m\.csv:3: expected 2 fields, found 3.*m\.csv:5") as info:
        ingestor.ingest(open_source(src), "m")
    assert [m.line for m in info.value.malformed] == [3, 5]
    assert service.list_datasets() == []


def test_malformed_rows_quarantined_once(ingestor: BatchIngestor, service: DatasetService, tmp_path: Path) -> None:
    src = tmp_path / "m.csv"
    src.write_text("id,age\n1,30\n2,40,extra\n3,50\n")
    result = ingestor.ingest(open_source(src), "m", on_invalid="quarantine", incremental_on="id")
    assert result.rows == 2 and result.quarantined == 1
    (row,) = _rows(service, "m.quarantine")
    assert (row["_source_file"], row["_source_line"], row["_raw"]) == ("m.csv", 3, "2,40,extra")
    assert row[FAILED_COLUMN].startswith("malformed: expected 2 fields")
    again = ingestor.ingest(open_source(src), "m", on_invalid="quarantine", incremental_on="id")
    assert again.version is None and again.quarantine_version is None  # the bad line is not quarantined twice
    assert len(service.versions("m.quarantine")) == 1


def test_malformed_jsonl_lines(ingestor: BatchIngestor, tmp_path: Path) -> None:
    src = tmp_path / "e.jsonl"
    src.write_text('{"a": 1}\n{broken\n[1, 2]\n{"a": 2}\n')
    with pytest.raises(IngestRejected) as info:
        ingestor.ingest(open_source(src), "e")
    assert [(m.line, m.reason.split(":")[0]) for m in info.value.malformed] == [
        (2, "not JSON"),
        (3, "expected a JSON object, found list"),
    ]
    assert ingestor.ingest(open_source(src), "e", on_invalid="quarantine").rows == 2


def test_schema_change_is_a_diff(ingestor: BatchIngestor, service: DatasetService, tmp_path: Path) -> None:
    src = tmp_path / "s.csv"
    src.write_text("id,age\n1,30\n")
    ingestor.ingest(open_source(src), "s")
    src.write_text("id,age,city\n1,thirty,Paris\n")
    result = ingestor.ingest(open_source(src), "s")  # a full refresh records the new schema
    assert result.schema_changes.lines() == ["+ city: string", "~ age: int64 -> string"]
    assert result.version is not None and result.version.ref == "s@v2"

    inc = tmp_path / "i.csv"
    inc.write_text("id,age\n1,30\n")
    ingestor.ingest(open_source(inc), "i", incremental_on="id")
    inc.write_text("id,age,city\n1,30,Lyon\n2,31,Paris\n")  # a new column: old rows read it as null
    added = ingestor.ingest(open_source(inc), "i", incremental_on="id")
    assert added.schema_changes.lines() == ["+ city: string"]
    assert _rows(service, "i") == [{"id": 1, "age": 30, "city": None}, {"id": 2, "age": 31, "city": "Paris"}]
    inc.write_text("id,age\n3,unknown\n")
    with pytest.raises(InvalidArgument, match="~ age: int64 -> string"):
        ingestor.ingest(open_source(inc), "i", incremental_on="id")
    assert len(service.versions("i")) == 2


def test_unreadable_source_is_one_line_and_writes_nothing(
    ingestor: BatchIngestor, service: DatasetService, tmp_path: Path
) -> None:
    with pytest.raises(InvalidArgument, match="no such file") as info:
        open_source(tmp_path / "missing.csv")
    assert "\n" not in str(info.value)
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InvalidArgument, match=r"cannot read bad\.parquet as Parquet"):
        ingestor.ingest(open_source(tmp_path / "bad.parquet"), "b")
    with pytest.raises(InvalidArgument, match="--query"):
        open_source(tmp_path / "bad.parquet", query="SELECT 1")
    with pytest.raises(InvalidArgument, match="invalid dataset name"):
        ingestor.ingest(open_source(tmp_path / "bad.parquet"), "bad name")
    assert service.list_datasets() == []


class _InterruptedSource:
    format = "csv"
    description = "interrupted"

    def __init__(self) -> None:
        self.malformed: list[MalformedRow] = []

    def read(self, progress: Any, newer_than: WatermarkFilter | None = None) -> Iterator[pa.Table]:
        yield pa.table({"id": [1, 2]})
        raise KeyboardInterrupt


def test_interrupted_ingest_leaves_no_version(ingestor: BatchIngestor, service: DatasetService) -> None:
    with pytest.raises(KeyboardInterrupt):
        ingestor.ingest(_InterruptedSource(), "x")
    with pytest.raises(NotFound):
        service.resolve("x")
    staging = service.cache_dir / "ingest"
    assert not staging.exists() or list(staging.iterdir()) == []


def test_interrupted_while_adding_leaves_no_staging(
    ingestor: BatchIngestor, service: DatasetService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "a.csv"
    src.write_text("id\n1\n")

    def interrupted_add(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(service, "add", interrupted_add)
    with pytest.raises(KeyboardInterrupt):
        ingestor.ingest(open_source(src), "x")
    assert list((service.cache_dir / "ingest").iterdir()) == []
    with pytest.raises(NotFound):
        service.resolve("x")


def test_compressed_csv_and_type_change_across_blocks(
    ingestor: BatchIngestor, service: DatasetService, tmp_path: Path
) -> None:
    import gzip

    from modelyard.data.ingest.connectors.csv import CsvSource

    with gzip.open(tmp_path / "z.csv.gz", "wt") as f:
        f.write("id,v\n1,a\n2,b\n")
    assert ingestor.ingest(open_source(tmp_path / "z.csv.gz"), "z").rows == 2
    lines = "".join(f"{i}\n" for i in range(2000)) + "oops\n"
    (tmp_path / "late.csv").write_text("n\n" + lines)
    with pytest.raises(InvalidArgument, match=r"cannot read late\.csv as CSV: .*oops") as info:
        ingestor.ingest(CsvSource(tmp_path / "late.csv", block_bytes=1024), "late")
    assert "\n" not in str(info.value)
    assert [d.name for d in service.list_datasets()] == ["z"]


class _Recorder:
    def __init__(self) -> None:
        self.phases: list[tuple[str, int | None]] = []
        self.done = 0

    def phase(self, description: str, total: int | None) -> None:
        self.phases.append((description, total))

    def advance(self, amount: int) -> None:
        self.done += amount


def test_progress_is_reported(ingestor: BatchIngestor, tmp_path: Path) -> None:
    src = tmp_path / "p.jsonl"
    src.write_text('{"a": 1}\n{"a": 2}\n')
    recorder = _Recorder()
    ingestor.ingest(open_source(src), "p", progress=recorder)
    assert recorder.phases[0] == ("reading p.jsonl", src.stat().st_size)
    assert recorder.done >= src.stat().st_size


def test_sqlite_source_and_concurrent_change(ingestor: BatchIngestor, service: DatasetService, tmp_path: Path) -> None:
    import sqlite3

    from modelyard.core.errors import Conflict

    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER, amount REAL)")
        conn.executemany("INSERT INTO orders VALUES (?, ?)", [(1, 1.5), (2, 2.5), (3, 3.5)])
    conn.close()
    url = f"sqlite:///{db}"
    result = ingestor.ingest(
        open_source(url, query="SELECT * FROM orders;", chunk_rows=2), "orders", incremental_on="id"
    )
    assert result.rows == 3 and result.version is not None and result.version.params["ingest.source"] == url
    assert result.version.source == url
    assert _rows(service, "orders")[2] == {"id": 3, "amount": 3.5}

    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO orders VALUES (4, 4.5)")
    conn.close()
    source = open_source(url, query="SELECT * FROM orders")
    real_read = source.read

    def read_while_another_ingest_lands(progress: Any, newer_than: WatermarkFilter | None = None) -> Iterator[pa.Table]:
        yield from real_read(progress, newer_than)
        ingestor.ingest(open_source(url, query="SELECT * FROM orders"), "orders", incremental_on="id")

    source.read = read_while_another_ingest_lands  # type: ignore[method-assign]
    with pytest.raises(Conflict, match="changed while this ingest ran"):
        ingestor.ingest(source, "orders", incremental_on="id")
    assert [v.version for v in service.versions("orders")] == [1, 2]
    assert [r["id"] for r in _rows(service, "orders")] == [1, 2, 3, 4]


def test_quarantine_parts_with_different_schemas(
    ingestor: BatchIngestor, service: DatasetService, tmp_path: Path
) -> None:
    src = tmp_path / "q.csv"
    src.write_text("id,age\n1,30\n2,500\n3,40,x\n")  # one invalid row and one malformed line
    first = ingestor.ingest(open_source(src), "q", suite=AGE_SUITE, on_invalid="quarantine", incremental_on="id")
    assert first.quarantined == 2
    with src.open("a") as f:
        f.write("4,41\n5,\n6,900\n7\n")  # a null age: the quarantined ages are doubles now; a malformed line
    second = ingestor.ingest(open_source(src), "q", suite=AGE_SUITE, on_invalid="quarantine", incremental_on="id")
    assert second.quarantined == 2 and [m.line for m in second.malformed] == [8]
    assert second.version is not None and second.version.ref == "q@v2"
    quarantined = _rows(service, "q.quarantine")  # parts of one quarantine read as one table
    assert [(r["id"], r["age"], r["_source_line"]) for r in quarantined] == [
        (2, 500, None),
        (None, None, 4),
        (6, 900, None),
        (None, None, 8),
    ]
