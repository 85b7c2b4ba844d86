"""The SDK namespace ``modelyard.datasets`` and the ``modelyard data`` commands, on the embedded default."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import modelyard
from modelyard import datasets
from modelyard.cli.main import app
from modelyard.core.errors import InvalidArgument

runner = CliRunner()


@pytest.fixture(autouse=True)
def fresh_sdk(modelyard_home: Path) -> Iterator[Path]:
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    modelyard.set_project("data-tests")
    yield modelyard_home
    while modelyard.active_run() is not None:
        modelyard.end_run()
    modelyard.set_store_uri(None)


def _old(path: Path) -> Path:
    stamp = time.time_ns() - 10**10
    os.utime(path, ns=(stamp, stamp))
    return path


def test_get_reads_tables_and_logs_the_input_of_the_active_run(tmp_path: Path) -> None:
    csv = tmp_path / "train.csv"
    csv.write_text("a,b\n1,x\n2,y\n")
    v1 = datasets.add(csv, name="train", message="first")
    assert v1.ref == "train@v1" and v1.kind == "file"
    df = datasets.get("train@v1").to_pandas()
    assert list(df.columns) == ["a", "b"] and df["a"].tolist() == [1, 2]
    with modelyard.start_run() as run:
        got = datasets.get("train", context="training")
        derived_dir = tmp_path / "feat"
        derived_dir.mkdir()
        pq.write_table(pa.table({"a": [1, 2]}), derived_dir / "part-0.parquet")
        pq.write_table(pa.table({"a": [3]}), derived_dir / "part-1.parquet")
        derived = datasets.add(derived_dir, name="features", parents=[got], params={"k": 5})
    stored = modelyard.get_run(run.id)
    assert [(i.name, i.version, i.context, i.digest) for i in stored.inputs] == [
        ("train", "v1", "training", v1.manifest_digest)
    ]
    assert derived.code == f"run:{run.id}" and [str(p) for p in derived.parents] == ["train@v1"]
    assert datasets.get("features").to_arrow().column("a").to_pylist() == [1, 2, 3]
    assert datasets.get("features").path().is_dir()
    assert sorted(datasets.get("features").files()) == ["part-0.parquet", "part-1.parquet"]
    assert [s.name for s in datasets.list()] == ["features", "train"]
    assert [v.ref for v in datasets.versions("train")] == ["train@v1"]


def test_jsonl_and_unreadable_formats(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"x": 1}\n{"x": 2}\n')
    assert datasets.add(rows, name="rows").to_pandas()["x"].tolist() == [1, 2]
    blob = tmp_path / "model.bin"
    blob.write_bytes(b"\x00\x01")
    with pytest.raises(InvalidArgument, match="no tabular file"):
        datasets.add(blob, name="blob").to_pandas()
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3\n")
    with pytest.raises(InvalidArgument, match=r"cannot read bad\.csv"):
        datasets.add(bad, name="bad").to_pandas()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_cli_walkthrough(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("x\n1\n")
    _old(data / "a.csv")
    code, out = invoke("data", "add", str(data), "--name", "cli", "-m", "first")
    assert code == 0 and "cli@v1" in out, out
    code, out = invoke("data", "status", "cli")
    assert code == 0 and "no changes" in out
    (data / "b.csv").write_text("x\n2\n")
    code, out = invoke("data", "status", "cli", "--json")
    assert code == 1 and [c["path"] for c in json.loads(out)["added"]] == ["b.csv"]
    code, out = invoke("data", "add", str(data), "--name", "cli", "--parent", "cli@v1", "--param", "seed=1")
    assert code == 0 and "cli@v2" in out
    code, out = invoke("data", "versions", "cli", "--json")
    assert [v["ref"] for v in json.loads(out)] == ["cli@v1", "cli@v2"]
    assert json.loads(out)[1]["parents"] == ["cli@v1"] and json.loads(out)[1]["params"] == {"seed": "1"}
    code, out = invoke("data", "diff", "cli@v1", "cli@v2", "--json")
    assert code == 0 and [c["path"] for c in json.loads(out)["added"]] == ["b.csv"]
    code, out = invoke("data", "show", "cli@v2", "--files", "--json")
    assert code == 0 and [f["path"] for f in json.loads(out)["files"]] == ["a.csv", "b.csv"]
    code, out = invoke("data", "list", "--json")
    assert code == 0 and json.loads(out)[0]["versions"] == 2
    code, out = invoke("data", "checkout", "cli@v1", str(tmp_path / "out"))
    assert code == 0 and (tmp_path / "out" / "a.csv").read_text() == "x\n1\n"
    code, out = invoke("data", "remove", "cli@v1")
    assert code == 0
    code, out = invoke("data", "show", "cli@v1")
    assert code == 1 and "removed" in out
    code, out = invoke("data", "show", "cli@nothex!")
    assert code == 2 and "invalid dataset reference" in out
    code, out = invoke("data", "add", str(tmp_path / "missing"), "--name", "x")
    assert code == 1 and "no such file" in out
    code, out = invoke("data", "push", "--remote", str(tmp_path / "remote"), "--json")
    assert code == 0 and json.loads(out)["blobs_copied"] >= 3
    code, out = invoke("data", "add", str(data), "--name", "cli", "--param", "novalue")
    assert code == 2


def test_diff_shows_a_changed_schema(tmp_path: Path) -> None:
    """A schema that changed between versions is shown as a diff (columns added, removed,
    retyped), not a crash; binary data has no schema section."""
    table = tmp_path / "orders.csv"
    table.write_text("id,amount,note\n1,2.5,a\n2,3.5,b\n")
    invoke("data", "add", str(table), "--name", "orders")
    table.write_text("id,amount,region\n1,x,eu\n2,y,us\n")
    invoke("data", "add", str(table), "--name", "orders")
    code, out = invoke("data", "diff", "orders@v1", "orders@v2", "--json")
    assert code == 0, out
    schema = json.loads(out)["schema"]
    assert schema["added"] == [{"column": "region", "type": "string"}]
    assert schema["removed"] == [{"column": "note", "type": "string"}]
    assert schema["retyped"] == [{"column": "amount", "old": "double", "new": "string"}]
    code, out = invoke("data", "diff", "orders@v1", "orders@v2")
    assert code == 0 and "~ amount: double -> string" in out and "+ region: string" in out
    blob = tmp_path / "weights.bin"
    blob.write_bytes(b"\x00\x01")
    invoke("data", "add", str(blob), "--name", "weights")
    blob.write_bytes(b"\x00\x02")
    invoke("data", "add", str(blob), "--name", "weights")
    code, out = invoke("data", "diff", "weights@v1", "weights@v2", "--json")
    assert code == 0 and json.loads(out)["schema"] is None
