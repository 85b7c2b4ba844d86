"""``modelyard ingest batch`` and ``modelyard data validate`` on the embedded default."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import modelyard
from modelyard import datasets
from modelyard.cli.main import app

runner = CliRunner()

SUITE = """
name: people
expectations:
  - {expect: between, column: age, min: 0, max: 120}
"""


@pytest.fixture(autouse=True)
def fresh_sdk(modelyard_home: Path) -> Iterator[Path]:
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    yield modelyard_home
    modelyard.set_store_uri(None)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "people.csv").write_text("id,age\n1,30\n2,200\n3,40\n")
    (tmp_path / "suite.yaml").write_text(SUITE)
    return tmp_path


def test_ingest_batch_quarantine_and_incremental(files: Path) -> None:
    args = ["ingest", "batch", "--source", str(files / "people.csv"), "--to", "people", "--incremental-on", "id"]
    quarantine = ["--suite", str(files / "suite.yaml"), "--on-invalid", "quarantine"]
    out = runner.invoke(app, [*args, *quarantine])
    assert out.exit_code == 0, out.output
    assert "ingested people@v1: 2 rows" in out.output and "quarantined 1 rows in people.quarantine@v1" in out.output
    out = runner.invoke(app, [*args, *quarantine, "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["version"] is None
    with (files / "people.csv").open("a") as f:
        f.write("4,50\n")
    out = runner.invoke(app, [*args, *quarantine, "--json"])
    data = json.loads(out.stdout)
    assert data["rows"] == 1 and data["version"]["ref"] == "people@v2" and data["watermark"]["watermark.value"] == "4"
    assert len(datasets.get("people", log_input=False).to_pandas()) == 3


def test_ingest_batch_rejects_and_writes_report(files: Path) -> None:
    report = files / "out" / "report.html"
    args = ["ingest", "batch", "--source", str(files / "people.csv"), "--to", "people"]
    out = runner.invoke(app, [*args, "--suite", str(files / "suite.yaml"), "--report", str(report)])
    assert out.exit_code == 1 and "validation failed, nothing written" in out.output
    assert report.read_text().startswith("<!doctype html>")
    assert datasets.list() == []
    out = runner.invoke(app, ["ingest", "batch", "--source", str(files / "missing.csv"), "--to", "people"])
    assert out.exit_code == 2 and "no such file" in out.output
    out = runner.invoke(app, [*args, "--on-invalid", "drop"])
    assert out.exit_code == 2 and "--on-invalid" in out.output


def test_data_validate(files: Path) -> None:
    datasets.add(files / "people.csv", name="people")
    report = files / "report.html"
    suite = str(files / "suite.yaml")
    out = runner.invoke(app, ["data", "validate", "people@v1", "--suite", suite, "--report", str(report)])
    assert out.exit_code == 1, out.output
    assert "FAIL" in out.output and "failed: 1 of 1 expectations" in out.output
    assert '<script src="plotly.min.js">' in report.read_text() and (files / "plotly.min.js").stat().st_size > 100_000
    inlined = files / "inlined" / "report.html"
    args = ["data", "validate", "people@v1", "--suite", suite, "--no-record"]
    out = runner.invoke(app, [*args, "--report", str(inlined), "--self-contained"])
    assert out.exit_code == 1 and "plotly.min.js" not in inlined.read_text()
    assert not (files / "inlined" / "plotly.min.js").exists() and inlined.stat().st_size > 100_000
    out = runner.invoke(app, [*args, "--self-contained"])
    assert out.exit_code == 2 and "--self-contained needs --report" in out.output
    out = runner.invoke(app, ["data", "validate", "people", "--suite", suite, "--json"])
    data = json.loads(out.stdout)
    assert out.exit_code == 1 and data["version"] == "people@v1" and data["results"][0]["failing_count"] == 1

    (files / "ok.yaml").write_text("name: ok\nexpectations:\n  - {expect: row_count, min: 1}\n")
    out = runner.invoke(app, ["data", "validate", "people", "--suite", str(files / "ok.yaml")])
    assert out.exit_code == 0 and "passed" in out.output

    out = runner.invoke(app, ["data", "validate", "people", "--suite", str(files / "missing.yaml")])
    assert out.exit_code == 2
    out = runner.invoke(app, ["data", "validate", "nobody@v1", "--suite", suite])
    assert out.exit_code == 1 and "not found" in out.output


def test_data_validate_distribution_reference(files: Path) -> None:
    (files / "ref.csv").write_text("x\n" + "".join(f"{i % 10}\n" for i in range(200)))
    (files / "cur.csv").write_text("x\n" + "".join(f"{50 + i % 10}\n" for i in range(200)))
    datasets.add(files / "ref.csv", name="ref")
    datasets.add(files / "cur.csv", name="cur")
    (files / "drift.yaml").write_text(
        "name: d\nexpectations:\n  - {expect: distribution, column: x, reference: ref@v1}\n"
    )
    out = runner.invoke(app, ["data", "validate", "cur", "--suite", str(files / "drift.yaml")])
    assert out.exit_code == 1 and "psi=" in out.output
    out = runner.invoke(app, ["data", "validate", "cur", "--suite", str(files / "drift.yaml"), "--reference", "cur@v1"])
    assert out.exit_code == 0, out.output


def test_ingest_batch_shows_schema_changes_and_malformed_lines(files: Path) -> None:
    src = files / "s.csv"
    src.write_text("id,age\n1,30\n")
    assert runner.invoke(app, ["ingest", "batch", "--source", str(src), "--to", "s"]).exit_code == 0
    src.write_text("id,age,city\n1,30,Paris\n2,40,Lyon,extra\n")
    out = runner.invoke(app, ["ingest", "batch", "--source", str(src), "--to", "s"])
    assert out.exit_code == 1 and "s.csv:3: expected 3 fields, found 4" in out.output
    out = runner.invoke(app, ["ingest", "batch", "--source", str(src), "--to", "s", "--on-invalid", "quarantine"])
    assert out.exit_code == 0, out.output
    assert "schema changed" in out.output and "+ city: string" in out.output
    assert "quarantined 1 rows in s.quarantine@v1" in out.output
