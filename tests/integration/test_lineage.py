"""The lineage graph on SQLite and PostgreSQL: dataset v1 -> derived dataset v2 -> a training run
that reads it -> a model version -> an alias and a state; walked upstream from the model and
downstream from the raw dataset; the JSON shape; Mermaid and DOT exports; the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import modelyard
from modelyard.cli.main import app
from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.lineage import LineageBuilder
from modelyard.sdk.session import _session

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_uri(request: pytest.FixtureRequest, modelyard_home: Path, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'lineage.db'}"
    else:
        uri = request.getfixturevalue("postgres_uri")
    modelyard.set_store_uri(uri)
    modelyard.set_artifact_uri(str(tmp_path / "artifacts"))
    modelyard.set_project("lineage")
    yield uri
    while modelyard.active_run() is not None:
        modelyard.end_run()
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)


def _pipeline(tmp_path: Path) -> dict[str, str]:
    """raw@v1 -> (prep run) -> clean@v1 -> (train run) -> churn@1 (production, champion)."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    raw_file = tmp_path / "raw.csv"
    frame = pd.DataFrame({"tenure": list(range(40)), "spend": [float(i % 7) for i in range(40)]})
    frame["churned"] = (frame["tenure"] < 15).astype(int)
    frame.to_csv(raw_file, index=False)
    raw = modelyard.datasets.add(raw_file, name="raw")
    with modelyard.start_run(name="prep") as prep:
        source = modelyard.datasets.get("raw@v1", context="source").to_pandas()
        clean_file = tmp_path / "clean.csv"
        source.dropna().to_csv(clean_file, index=False)
        clean = modelyard.datasets.add(clean_file, name="clean", parents=[raw], params={"dropna": True})
    with modelyard.start_run(name="train") as train:
        data = modelyard.datasets.get("clean@v1", context="training").to_pandas()
        modelyard.log_params({"C": 0.5})
        X = data[["tenure", "spend"]]
        model = LogisticRegression(C=0.5, max_iter=500).fit(X, data["churned"])
        version = modelyard.log_model(model, "churn", input_example=X.head())
    modelyard.transition("churn", version.version, "staging", actor="ana")
    modelyard.transition("churn", version.version, "production", actor="ana")
    modelyard.set_alias("churn", "champion", version.version, actor="ana")
    return {"raw": raw.ref, "clean": clean.ref, "prep": prep.id, "train": train.id}


def _builder() -> LineageBuilder:
    """Over the SDK session's store (closed when the fixture resets the session)."""
    return LineageBuilder.from_stores(_session.stores())


def test_upstream_from_the_model_and_downstream_from_the_raw_data_meet(store_uri: str, tmp_path: Path) -> None:
    ids = _pipeline(tmp_path)
    up = _builder().build("churn@1", direction="upstream")
    assert set(up.nodes) == {
        "model:churn@1",
        f"run:{ids['train']}",
        "dataset:clean@v1",
        "dataset:raw@v1",
        f"run:{ids['prep']}",
    }
    edges = {(e.source, e.target, e.kind) for e in up.edges}
    assert (f"run:{ids['train']}", "model:churn@1", "produced") in edges
    assert ("dataset:clean@v1", f"run:{ids['train']}", "read_by") in edges
    assert ("dataset:raw@v1", "dataset:clean@v1", "derived_from") in edges
    assert (f"run:{ids['prep']}", "dataset:clean@v1", "produced") in edges
    assert ("dataset:raw@v1", f"run:{ids['prep']}", "read_by") in edges
    run = up.nodes[f"run:{ids['train']}"].attributes
    assert run["params"] == {"C": "0.5"} and run["environment"].startswith("sha256:")
    assert "commit" in run and "dirty_hash" in run  # None outside a git working copy

    down = _builder().build("raw@v1", direction="downstream")
    assert {"dataset:clean@v1", f"run:{ids['train']}", "model:churn@1", "alias:churn@champion"} <= set(down.nodes)
    assert "state:churn@production" in down.nodes
    assert (f"run:{ids['train']}", "model:churn@1", "produced") in {(e.source, e.target, e.kind) for e in down.edges}

    both = _builder().build("churn@champion")  # an alias resolves to its version
    assert both.root == "model:churn@1"
    assert {"dataset:raw@v1", "alias:churn@champion", "state:churn@production"} <= set(both.nodes)


def test_depth_bounds_the_walk_and_reports_where_it_stopped(store_uri: str, tmp_path: Path) -> None:
    ids = _pipeline(tmp_path)
    graph = _builder().build("churn@1", direction="upstream", depth=1)
    assert set(graph.nodes) == {"model:churn@1", f"run:{ids['train']}"}
    assert graph.truncated == [f"run:{ids['train']}"]
    assert set(_builder().build("churn@1", direction="upstream", depth=0).nodes) == {"model:churn@1"}
    with pytest.raises(InvalidArgument, match="depth"):
        _builder().build("churn@1", depth=-1)


def test_a_run_as_root_and_a_removed_dataset_version(store_uri: str, tmp_path: Path) -> None:
    ids = _pipeline(tmp_path)
    graph = _builder().build(f"run:{ids['prep']}", direction="downstream")
    assert {"dataset:clean@v1", f"run:{ids['train']}", "model:churn@1"} <= set(graph.nodes)
    modelyard.datasets.remove("raw@v1")  # hidden from listings; lineage keeps pointing at it
    up = _builder().build("churn@1", direction="upstream")
    assert up.nodes["dataset:raw@v1"].attributes["removed"] is True
    assert up.nodes["dataset:raw@v1"].attributes["digest"].startswith("sha256:")


def test_json_shape_and_text_exports(store_uri: str, tmp_path: Path) -> None:
    _pipeline(tmp_path)
    graph = _builder().build("churn@1")
    data = json.loads(json.dumps(graph.to_dict()))
    assert set(data) == {"root", "direction", "depth", "nodes", "edges", "truncated"}
    assert data["root"] == "model:churn@1" and data["direction"] == "both"
    kinds = {n["kind"] for n in data["nodes"]}
    assert {"dataset_version", "run", "model_version", "alias", "state"} <= kinds
    assert all(set(n) == {"id", "kind", "label", "attributes"} for n in data["nodes"])
    assert {e["kind"] for e in data["edges"]} == {"derived_from", "read_by", "produced", "alias"}
    reads = [e for e in data["edges"] if e["kind"] == "read_by"]
    assert {e["context"] for e in reads} == {"source", "training"}
    node_ids = {n["id"] for n in data["nodes"]}
    assert all(e["from"] in node_ids and e["to"] in node_ids for e in data["edges"])

    mermaid = graph.to_mermaid()
    assert mermaid.startswith("flowchart LR") and '-->|"derived_from"|' in mermaid and "churn@1" in mermaid
    dot = graph.to_dot()
    assert dot.startswith("digraph lineage {") and '"dataset:raw@v1" -> "dataset:clean@v1"' in dot


def test_references_that_name_nothing_or_both(store_uri: str, tmp_path: Path) -> None:
    _pipeline(tmp_path)
    with pytest.raises(NotFound, match="no model version"):
        _builder().build("nothing@1")
    # a dataset named like the model: "churn@1" is now ambiguous
    extra = tmp_path / "c.csv"
    extra.write_text("a\n1\n")
    modelyard.datasets.add(extra, name="churn")
    with pytest.raises(InvalidArgument, match="--kind"):
        _builder().build("churn@1")
    assert _builder().build("churn@1", kind="dataset").root == "dataset:churn@v1"
    assert _builder().build("churn@1", kind="model").root == "model:churn@1"


def test_cli_tree_json_mermaid_and_errors(store_uri: str, tmp_path: Path) -> None:
    ids = _pipeline(tmp_path)
    result = runner.invoke(app, ["lineage", "churn@1", "--store", store_uri])
    assert result.exit_code == 0, result.output
    for text in ("churn@1", "upstream", "downstream", "clean@v1", "raw@v1", "champion", ids["train"][:12]):
        assert text in result.output
    result = runner.invoke(app, ["lineage", "raw@v1", "--downstream", "--json", "--store", store_uri])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["root"] == "dataset:raw@v1" and "model:churn@1" in {n["id"] for n in data["nodes"]}
    result = runner.invoke(app, ["lineage", "churn@1", "--format", "mermaid", "--store", store_uri])
    assert result.exit_code == 0 and result.output.startswith("flowchart LR")
    result = runner.invoke(app, ["lineage", "churn@1", "--format", "dot", "--upstream", "--store", store_uri])
    assert result.exit_code == 0 and result.output.startswith("digraph")

    for args, code, message in (
        (["lineage", "nothing@3"], 1, "names no model version"),
        (["lineage", "churn@1", "--upstream", "--downstream"], 2, "exclude each other"),
        (["lineage", "churn@1", "--format", "png"], 2, "unknown format"),
        (["lineage", "churn@1", "--kind", "thing"], 2, "unknown kind"),
        (["lineage", "churn@1", "--depth", "-1"], 2, "--depth"),
    ):
        result = runner.invoke(app, [*args, "--store", store_uri])
        assert result.exit_code == code, result.output
        assert message in result.output and len(result.output.strip().splitlines()) == 1
