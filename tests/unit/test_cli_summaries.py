"""Every count in a CLI summary line agrees with the data it summarises (read from --json or the SDK).

Issue 12: ``data validate`` printed "failed: 3 of 5 expectations" when 2 failed (3 had passed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import modelyard
from modelyard.cli._output import verdict_counts
from modelyard.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def fresh_sdk(modelyard_home: Path) -> Iterator[Path]:
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    modelyard.set_project("summaries")
    yield modelyard_home
    modelyard.set_store_uri(None)


def _count(pattern: str, text: str) -> tuple[int, ...]:
    found = re.search(pattern, " ".join(text.split()))
    assert found, (pattern, text)
    return tuple(int(g.replace(",", "")) for g in found.groups())


@pytest.mark.parametrize("n_failing", [0, 1, 2, 5])
def test_validate_counts_the_failed_expectations(tmp_path: Path, n_failing: int) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text("id,age\n1,30\n2,40\n3,50\n")
    assert runner.invoke(app, ["data", "add", str(csv), "--name", "people"]).exit_code == 0
    passing = [
        "{expect: row_count, min: 1}",
        "{expect: not_null, column: id}",
        "{expect: unique, column: id}",
        "{expect: between, column: age, min: 0, max: 120}",
        "{expect: not_null, column: age}",
    ]
    failing = [
        "{expect: row_count, min: 100}",
        "{expect: between, column: age, min: 45, max: 120}",
        "{expect: in_set, column: id, values: [1]}",
        "{expect: between, column: id, min: 5, max: 9}",
        "{expect: row_count, max: 1}",
    ]
    suite = tmp_path / "suite.yaml"
    chosen = failing[:n_failing] + passing[: 5 - n_failing]
    suite.write_text("name: s\nexpectations:\n" + "".join(f"  - {e}\n" for e in chosen))

    as_json = runner.invoke(app, ["data", "validate", "people", "--suite", str(suite), "--json", "--no-record"])
    results = json.loads(as_json.stdout)["results"]
    failed = sum(1 for r in results if not r["success"])
    assert (failed, len(results)) == (n_failing, 5)  # the suite does what the test means

    text = runner.invoke(app, ["data", "validate", "people", "--suite", str(suite), "--no-record"])
    assert text.exit_code == (1 if failed else 0)
    if failed:
        assert _count(r"failed: (\d+) of (\d+) expectations", text.output) == (failed, len(results))
        assert "passed:" not in text.output
    else:
        assert _count(r"passed: (\d+) of (\d+) expectations", text.output) == (len(results), len(results))
    assert text.output.count(" FAIL ") + text.output.count("│ FAIL") >= failed


def test_verdict_counts() -> None:
    assert "failed[/]: 2 of 5 expectations" in verdict_counts(2, 5)
    assert "passed[/]: 5 of 5 expectations" in verdict_counts(0, 5)
    assert "1,234 of 2,000" in verdict_counts(1234, 2000)


def test_data_add_status_and_diff_summaries_match_the_data(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    for i in range(4):
        (data / f"f{i}.csv").write_text(f"x\n{i}\n")
    first = runner.invoke(app, ["data", "add", str(data), "--name", "d"])
    assert _count(r"\((\d+) files,", first.output) == (4,)
    read, total = _count(r"read (\d+) of (\d+) files", first.output)
    assert total == 4 and 0 <= read <= 4

    (data / "f0.csv").write_text("x\nchanged\n")
    (data / "f1.csv").unlink()
    (data / "new.csv").write_text("x\n9\n")
    (data / "more.csv").write_text("x\n8\n")
    status = runner.invoke(app, ["data", "status", "d"])
    as_json = json.loads(runner.invoke(app, ["data", "status", "d", "--json"]).stdout)
    counts = _count(r"(\d+) added, (\d+) removed, (\d+) modified, (\d+) unchanged", status.output)
    assert counts == (len(as_json["added"]), len(as_json["removed"]), len(as_json["modified"]), as_json["unchanged"])
    assert counts == (2, 1, 1, 2)

    second = runner.invoke(app, ["data", "add", str(data), "--name", "d"])
    assert _count(r"\((\d+) files,", second.output) == (5,)
    assert _count(r"read \d+ of (\d+) files", second.output) == (5,)
    diff = runner.invoke(app, ["data", "diff", "d@v1", "d@v2"])
    assert _count(r"(\d+) added, (\d+) removed, (\d+) modified, (\d+) unchanged", diff.output) == counts

    again = runner.invoke(app, ["data", "add", str(data), "--name", "d"])
    assert "unchanged, already d@v2" in again.output and _count(r"read \d+ of (\d+) files", again.output) == (5,)


def test_runs_delete_counts_each_run_once() -> None:
    with modelyard.start_run() as a:
        pass
    with modelyard.start_run() as b:
        pass
    out = runner.invoke(app, ["runs", "delete", a.id, b.id, a.id])
    assert out.exit_code == 0 and _count(r"deleted (\d+) run", out.output) == (2,)
    out = runner.invoke(app, ["runs", "restore", a.id])
    assert out.exit_code == 0 and _count(r"restored (\d+) run", out.output) == (1,)
