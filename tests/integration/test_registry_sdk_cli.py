"""The model SDK (modelyard.sdk.models) and ``modelyard models ...`` end to end, on the embedded
default store: log inside a run, load by reference, govern from the CLI with --json, one-line
errors with non-zero exits that change nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import modelyard
from modelyard.cli.main import app
from modelyard.core.errors import InvalidArgument, NotFound, SignatureError
from modelyard.sdk import models

runner = CliRunner()


@pytest.fixture
def sdk(modelyard_home: Path) -> Iterator[None]:
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    modelyard.set_project("churn-team")
    yield
    while modelyard.active_run() is not None:
        modelyard.end_run()
    modelyard.set_store_uri(None)


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def train(seed: int = 0) -> tuple[object, pd.DataFrame]:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"tenure": rng.integers(0, 60, 200), "spend": rng.normal(50, 10, 200)})
    y = (X["tenure"] < 20).astype(int)
    return LogisticRegression(max_iter=500).fit(X, y), X


def test_log_model_in_a_run_and_load_it_back(sdk: None) -> None:
    model, X = train()
    with modelyard.start_run(name="train") as run:
        version = models.log_model(model, "churn", input_example=X.head())
    assert version.version == 1 and version.run_id == run.id and version.state.value == "draft"
    loaded = models.load_model("churn@1")
    assert np.array_equal(loaded.predict(X), model.predict(X))  # type: ignore[attr-defined]
    with pytest.raises(SignatureError, match="column 'tenure' must be int64, got float64"):
        loaded.predict(X.assign(tenure=X["tenure"] + 0.5))
    with pytest.raises(InvalidArgument, match="no active run"):
        models.log_model(model, "churn")


def test_register_model_from_a_stored_package(sdk: None) -> None:
    from modelyard.registry.packaging import store_model

    model, X = train()
    created = models.register_model("churn", description="churn classifier")
    assert created.name == "churn"  # type: ignore[union-attr]
    package = store_model(modelyard.TrackingClient().artifacts, model, input_example=X.head())
    version = models.register_model("churn", package.digest)
    assert version.version == 1 and version.flavor == "sklearn"  # type: ignore[union-attr]
    with pytest.raises(InvalidArgument, match="not a model package"):
        other = modelyard.TrackingClient().artifacts.put_directory(Path(__file__).parent.parent / "fixtures")
        models.register_model("churn", other.digest)


def test_governed_walkthrough_from_the_cli(sdk: None) -> None:
    for seed in (0, 1):
        model, X = train(seed)
        with modelyard.start_run():
            models.log_model(model, "churn", input_example=X.head())
    code, out = invoke("models", "policy", "churn-team", "--approvals", "1", "--retention-days", "30", "--json")
    assert code == 0, out
    assert json.loads(out)["required_approvals"] == 1

    assert invoke("models", "transition", "churn", "2", "staging", "--reason", "offline eval ok", "-u", "ana")[0] == 0
    code, out = invoke("models", "transition", "churn", "2", "production", "-u", "ana")
    assert code == 1 and "needs 1 approval(s)" in out and out.count("\n") == 1
    code, out = invoke("models", "approve", "churn", "2", "-u", "bob", "--comment", "lgtm")
    assert code == 0, out
    code, out = invoke("models", "transition", "churn", "2", "production", "--reason", "beats v1", "-u", "ana")
    assert code == 0 and "now production" in out
    assert invoke("models", "alias", "churn", "champion", "2", "-u", "ana")[0] == 0

    code, out = invoke("models", "versions", "churn", "--json")
    versions = json.loads(out)
    assert [(v["version"], v["state"], v["aliases"]) for v in versions] == [
        (2, "production", ["champion"]), (1, "draft", []),
    ]  # fmt: skip
    code, out = invoke("models", "show", "churn@production", "--json")
    shown = json.loads(out)
    assert shown["version"] == 2 and shown["approvals"][0]["approver"] == "bob"
    assert {f["path"] for f in shown["files"]} >= {"MLmodel.json", "model.pkl"}
    code, out = invoke("models", "history", "churn", "--json")
    events = json.loads(out)
    assert [(e["kind"], e["version"], e["actor"]) for e in events][-3:] == [
        ("approved", 2, "bob"), ("transition", 2, "ana"), ("alias_set", 2, "ana"),
    ]  # fmt: skip
    code, out = invoke("models", "history", "churn", "--at", "2999-01-01", "--json")
    assert [v["version"] for v in json.loads(out)] == [2]
    code, out = invoke("models", "list", "--json")
    assert [m["name"] for m in json.loads(out)] == ["churn"]
    for command in (["list"], ["versions", "churn"], ["show", "churn"], ["show", "churn@champion"],
                    ["history", "churn"], ["policy", "churn-team"]):  # fmt: skip
        code, out = invoke("models", *command)
        assert code == 0 and "churn" in out, (command, out)

    assert invoke("models", "transition", "churn", "1", "archived", "-u", "ana")[0] == 0
    code, out = invoke("models", "decommission", "churn", "1", "--reason", "old", "-u", "ana")
    assert code == 0 and "kept until" in out
    assert models.load_model("churn@champion").predict(X).shape == (200,)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["transition", "churn", "1", "production"], "illegal transition"),
        (["transition", "churn", "1", "sideways"], "unknown model state"),
        (["alias", "churn", "production", "1"], "reserved"),
        (["alias", "churn", "champion"], "either a VERSION"),
        (["show", "churn@ghost"], "no alias 'ghost'"),
        (["show", "nope"], "model 'nope' not found"),
        (["history", "churn", "--at", "yesterday"], "invalid date"),
        (["decommission", "churn", "7"], "version 7 of model 'churn' not found"),
        (["approve", "churn", "9", "-u", "bob"], "version 9"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(sdk: None, args: list[str], message: str) -> None:
    model, X = train()
    with modelyard.start_run():
        models.log_model(model, "churn", input_example=X.head())
    before = invoke("models", "history", "churn", "--json")[1]
    code, out = invoke("models", *args)
    assert code != 0 and message in out and out.strip().count("\n") == 0, out
    assert invoke("models", "history", "churn", "--json")[1] == before


def test_sdk_errors(sdk: None) -> None:
    with pytest.raises(NotFound):
        models.load_model("nothing@1")
    with pytest.raises(InvalidArgument):
        models.load_model("no-selector")
    model, _ = train()
    with modelyard.start_run():
        models.log_model(model, "churn")
    with pytest.raises(InvalidArgument, match="illegal transition"):
        models.transition("churn", 1, "production")
    assert models.set_alias("churn", "challenger", 1).aliases == ["challenger"]
    assert models.transition("churn", 1, "staging", reason="try").state.value == "staging"


def test_autolog_logs_a_verified_package(sdk: None, tmp_path: Path) -> None:
    from sklearn.linear_model import Ridge

    from modelyard.registry.packaging import load_directory

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    modelyard.autolog()
    try:
        with modelyard.start_run() as run:
            model = Ridge().fit(X, [0.0, 1.0, 2.0, 3.0])
    finally:
        modelyard.autolog(disable=True)
    local = modelyard.download_artifacts(run.id, "model", tmp_path / "dl")
    loaded = load_directory(local)
    assert loaded.flavor == "sklearn" and loaded.signature is not None
    assert np.allclose(loaded.predict(X), model.predict(X))
    with pytest.raises(SignatureError, match="missing column 'b'"):
        loaded.predict(X[["a"]])
