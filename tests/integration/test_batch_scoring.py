"""Batch scoring (``modelyard predict``, ``modelyard.serving.batch``) end to end on the embedded
store: CSV and Parquet in and out, chunks smaller than the input, class probabilities, a dataset
version as input with its lineage, bad input that writes nothing, and the Ray executor on a
local Ray instance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import modelyard
from modelyard.cli.main import app
from modelyard.sdk import models
from tests.conftest import IN_CI

runner = CliRunner()
FEATURES = ["tenure", "spend"]


@pytest.fixture
def churn(modelyard_home: Path) -> Iterator[Any]:
    """churn@1 (alias champion): a logistic regression on tenure and spend."""
    from sklearn.linear_model import LogisticRegression

    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    modelyard.set_project("churn-team")
    X = frame(300, seed=0)[FEATURES]
    model = LogisticRegression(max_iter=1000).fit(X, (X["tenure"] < 20) | (X["spend"] > 60))
    with modelyard.start_run(name="train"):
        models.log_model(model, "churn", input_example=X.head())
    models.set_alias("churn", "champion", 1, actor="ana")
    yield model
    modelyard.set_store_uri(None)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A directory of its own for inputs and outputs (the store's home is beside it)."""
    path = tmp_path / "work"
    path.mkdir()
    return path


def frame(rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer": [f"c{i:05d}" for i in range(rows)],
            "tenure": rng.integers(0, 60, rows),
            "spend": rng.normal(50, 12, rows),
        }
    )


def invoke(*args: str) -> tuple[int, str]:
    """The exit code, and stdout on success (Ray logs to stderr), everything on failure."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout if result.exit_code == 0 else result.output


def scoring_runs() -> list[Any]:
    client = modelyard.TrackingClient()
    try:
        project = client.get_project("batch-scoring")
    except modelyard.NotFound:
        return []
    runs, _ = client.search_runs([project.name])
    return runs


def test_parquet_in_chunks_equals_predict_on_the_whole_input(churn: Any, work: Path) -> None:
    data = frame(1234)
    data.to_parquet(work / "in.parquet", row_group_size=500)
    out = work / "scored.parquet"
    code, text = invoke(
        "predict", "churn@champion", "--input", str(work / "in.parquet"), "--output", str(out),
        "--chunk-rows", "100", "--json",
    )  # fmt: skip
    assert code == 0, text
    result = json.loads(text)
    assert result["rows"] == 1234 and result["chunks"] == 13 and result["model"] == "churn@1"
    scored = pd.read_parquet(out)
    assert list(scored.columns) == ["customer", "tenure", "spend", "prediction"]
    pd.testing.assert_frame_equal(scored[data.columns], data)
    assert np.array_equal(scored["prediction"].to_numpy(), churn.predict(data[FEATURES]))
    assert [p.name for p in work.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    (run,) = scoring_runs()
    assert run.status.value == "FINISHED" and run.tags["modelyard.model_version_used"] == "churn@1"
    assert run.params["model_reference"] == "churn@champion" and run.metrics["rows_scored"].value == 1234
    assert run.params["input"] == str((work / "in.parquet").resolve()) and run.params["output"] == str(out.resolve())


def test_csv_in_probabilities_out_as_csv_and_parquet(churn: Any, work: Path) -> None:
    data = frame(257, seed=5)
    data.to_csv(work / "in.csv", index=False)
    for name in ("proba.csv", "proba.parquet"):
        out = work / name
        code, text = invoke(
            "predict", "churn@1", "-i", str(work / "in.csv"), "-o", str(out), "--proba", "--chunk-rows", "50"
        )
        assert code == 0, text
        assert "scored 257 rows with churn@1 in 6 chunk(s)" in text
        scored = pd.read_csv(out) if name.endswith(".csv") else pd.read_parquet(out)
        assert list(scored.columns) == ["customer", "tenure", "spend", "proba_False", "proba_True"]
        assert scored["customer"].tolist() == data["customer"].tolist()
        np.testing.assert_allclose(
            scored[["proba_False", "proba_True"]].to_numpy(), churn.predict_proba(data[FEATURES]), rtol=1e-12
        )


def test_a_dataset_version_scored_shows_in_lineage(churn: Any, work: Path) -> None:
    from modelyard.lineage import LineageBuilder

    frame(120, seed=9).to_parquet(work / "new.parquet")
    modelyard.datasets.add(str(work / "new.parquet"), name="churn-new")
    out = work / "scored.parquet"
    code, text = invoke(
        "predict", "churn@champion", "--input", "churn-new@v1", "--output", str(out),
        "--register-output", "churn-scored", "--json",
    )  # fmt: skip
    assert code == 0, text
    result = json.loads(text)
    assert result["input_dataset"] == "churn-new@v1" and result["output_dataset"] == "churn-scored@v1"
    run_node = f"run:{result['run_id']}"

    client = modelyard.TrackingClient()
    builder = LineageBuilder.from_stores(client.stores)
    downstream = builder.build("churn@1", kind="model", direction="downstream")
    edges = {(e.source, e.target, e.kind, e.context) for e in downstream.edges}
    assert ("model:churn@1", run_node, "used_by", None) in edges
    assert (run_node, "dataset:churn-scored@v1", "produced", None) in edges
    upstream = LineageBuilder.from_stores(client.stores).build(result["run_id"], kind="run", direction="upstream")
    edges = {(e.source, e.target, e.kind, e.context) for e in upstream.edges}
    assert ("dataset:churn-new@v1", run_node, "read_by", "scoring") in edges
    assert ("model:churn@1", run_node, "used_by", None) in edges
    trained = models.RegistryClient().get_version("churn", 1).run_id
    assert (f"run:{trained}", "model:churn@1", "produced", None) in edges
    from_data = LineageBuilder.from_stores(client.stores).build("churn-new@v1", kind="dataset", direction="downstream")
    assert run_node in from_data.nodes and "dataset:churn-scored@v1" in from_data.nodes

    code, text = invoke("lineage", "churn@1", "--downstream")
    assert code == 0 and "used by run" in text, text


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nosuch@1", "--input", "{data}"], "nosuch"),
        (["churn@7", "--input", "{data}"], "7"),
        (["churn@1", "--input", "{tmp}/missing.parquet"], "does not exist"),
        (["churn@1", "--input", "no-such-dataset@v1"], "no-such-dataset"),
        (["churn@1", "--input", "{narrow}"], "lacks column(s) 'tenure'"),
        (["churn@1", "--input", "{broken}", "--chunk-rows", "10"], "column 'tenure': CSV conversion error"),
        (["churn@1", "--input", "{data}", "--output", "{tmp}/out.json"], "expected .csv"),
        (["churn@1", "--input", "{data}", "--output", "{tmp}/nodir/out.csv"], "does not exist"),
        (["churn@1", "--input", "{data}", "--prediction-column", "spend"], "already has a column named 'spend'"),
        (["churn@1", "--input", "{data}", "--executor", "spark"], "unknown executor"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(churn: Any, work: Path, arguments: list[str], message: str) -> None:
    data = frame(60)
    data.to_csv(work / "in.csv", index=False)
    data.drop(columns=["tenure"]).to_csv(work / "narrow.csv", index=False)
    broken = data.astype({"tenure": object})
    broken.loc[45, "tenure"] = "forty"
    broken.to_csv(work / "broken.csv", index=False)
    paths = {"data": work / "in.csv", "narrow": work / "narrow.csv", "broken": work / "broken.csv"}
    args = [a.format(tmp=work, **paths) for a in arguments]
    if "--output" not in args:
        args += ["--output", str(work / "out.csv")]
    before = sorted(p.name for p in work.iterdir())
    result = runner.invoke(app, ["predict", *args])
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert sorted(p.name for p in work.iterdir()) == before
    assert scoring_runs() == []


def test_a_failure_in_a_late_chunk_leaves_nothing_behind(churn: Any, work: Path) -> None:
    """A dataset of two Parquet files whose second has float tenures: the first file's chunks are
    scored and written before the second one's are found not to match."""
    (work / "parts").mkdir()
    first, second = frame(100), frame(50, seed=4)
    first.to_parquet(work / "parts" / "a.parquet")
    second.astype({"tenure": float}).to_parquet(work / "parts" / "b.parquet")
    modelyard.datasets.add(str(work / "parts"), name="churn-parts")
    result = runner.invoke(
        app, ["predict", "churn@1", "-i", "churn-parts@v1", "-o", str(work / "out.parquet"), "--chunk-rows", "30"]
    )
    assert result.exit_code == 2 and "tenure: double" in result.stderr, result.stderr
    assert sorted(p.name for p in work.iterdir()) == ["parts"]
    assert scoring_runs() == []
    first.to_parquet(work / "parts" / "b.parquet")  # same schema: the two files are scored in order
    modelyard.datasets.add(str(work / "parts"), name="churn-parts")
    code, text = invoke("predict", "churn@1", "-i", "churn-parts@v2", "-o", str(work / "out.parquet"), "--json")
    assert code == 0 and json.loads(text)["rows"] == 200, text
    assert pd.read_parquet(work / "out.parquet")["customer"].tolist() == first["customer"].tolist() * 2


@pytest.mark.slow
def test_ray_executor_scores_chunks_in_order(churn: Any, work: Path) -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("ray is not installed")
        pytest.skip("ray is not installed")
    data = frame(2000, seed=3)
    data.to_parquet(work / "in.parquet")
    out = work / "scored.csv"
    code, text = invoke(
        "predict", "churn@champion", "-i", str(work / "in.parquet"), "-o", str(out),
        "--executor", "ray", "--workers", "2", "--chunk-rows", "150", "--json",
    )  # fmt: skip
    assert code == 0, text
    result = json.loads(text)
    assert result["chunks"] == 14 and result["rows"] == 2000
    scored = pd.read_csv(out)
    assert scored["customer"].tolist() == data["customer"].tolist()
    assert np.array_equal(scored["prediction"].to_numpy(), churn.predict(data[FEATURES]))
    (run,) = scoring_runs()
    assert run.params["executor"] == "ray"


def test_a_package_sent_to_a_worker_must_hash_to_the_registered_version(churn: Any, work: Path) -> None:
    from modelyard.core.errors import IntegrityError
    from modelyard.registry.packaging import load_package_files, read_package_files

    registry = models.RegistryClient()
    version = registry.export("churn@1", work / "pkg")
    files = read_package_files(work / "pkg")
    loaded = load_package_files(files, version.manifest_digest)
    X = frame(10)[FEATURES]
    assert np.array_equal(loaded.predict(X), churn.predict(X))
    tampered = {**files, "requirements.txt": files["requirements.txt"] + b"evil==1\n"}
    with pytest.raises(IntegrityError, match="registered version"):
        load_package_files(tampered, version.manifest_digest)
