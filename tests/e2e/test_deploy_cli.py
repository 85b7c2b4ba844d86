"""``modelyard deploy`` and ``modelyard predictions`` end to end, and the SDK's ``deploy``:
tables and JSON, every change a revision, rollback in one command, one-line errors that change
nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import modelyard
from modelyard.cli.main import app
from tests.integration.test_registry_service import Model

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def churn(modelyard_home: Path) -> None:
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    modelyard.set_project("deploy-cli")
    for factor in (1.0, 2.0, 3.0):
        with modelyard.start_run():
            modelyard.log_model(Model(factor), "churn", input_example=np.zeros((1, 3)))
    modelyard.set_alias("churn", "champion", 2)
    yield
    modelyard.set_store_uri(None)


def test_create_canary_rollback_history(churn: None) -> None:
    code, out = invoke("deploy", "create", "churn-api", "-v", "churn@champion", "--max-error-rate", "0.05",
                       "--min-requests", "50", "--auto-rollback", "--reason", "launch", "--json")  # fmt: skip
    assert code == 0, out
    created = json.loads(out)
    assert created["revision"] == 1 and created["spec"]["variants"][0]["version"] == 2
    assert created["spec"]["slo"]["max_error_rate"] == 0.05 and created["spec"]["auto_rollback"]
    code, out = invoke("deploy", "update", "churn-api", "-v", "stable=churn@champion:90", "-v", "canary=churn@3:10",
                       "--shadow", "chal=churn@1", "--reason", "canary v3")  # fmt: skip
    assert code == 0, out
    assert "canary" in out and "10%" in out and "shadow" in out
    code, out = invoke("deploy", "update", "churn-api", "-t", "stable=50", "-t", "canary=50", "--json")
    assert code == 0 and json.loads(out)["revision"] == 3
    code, out = invoke("deploy", "rollback", "churn-api", "--reason", "errors", "--json")
    assert code == 0, out
    restored = json.loads(out)
    assert restored["revision"] == 4
    assert {v["name"]: v["traffic"] for v in restored["spec"]["variants"]} == {"stable": 90, "canary": 10, "chal": 0}
    code, out = invoke("deploy", "history", "churn-api", "--json")
    events = json.loads(out)
    assert [(e["revision"], e["action"]) for e in events] == [
        (1, "create"),
        (2, "update"),
        (3, "update"),
        (4, "rollback"),
    ]
    assert events[-1]["restored_from"] == 2 and events[-1]["reason"] == "errors"
    code, out = invoke("deploy", "history", "churn-api")
    assert code == 0 and "rollback to 2" in out
    code, out = invoke("deploy", "list")
    assert code == 0 and "churn-api" in out
    code, out = invoke("deploy", "show", "churn-api")
    assert code == 0 and "revision 4" in out and "error rate <= 0.05" in out
    code, out = invoke("deploy", "show", "churn-api", "--ab")
    assert code == 0 and "nothing to compare" in out
    code, out = invoke("predictions", "show", "churn-api", "--json")
    assert code == 0 and json.loads(out) == []
    code, out = invoke("deploy", "delete", "churn-api")
    assert code == 0 and "revision 5" in out
    code, out = invoke("deploy", "show", "churn-api")
    assert code == 1 and "not found" in out


@pytest.mark.parametrize(
    "args",
    [
        ["deploy", "create", "api"],  # no variant
        ["deploy", "create", "api", "-v", "churn@1:90"],  # 90% in all
        ["deploy", "create", "api", "-v", "churn@9"],  # no such version
        ["deploy", "create", "a/b", "-v", "churn@1"],
        ["deploy", "create", "api", "-v", "churn"],
        ["deploy", "create", "api", "-v", "a=churn@1:50", "-v", "a=churn@2:50"],
        ["deploy", "create", "api", "-v", "churn@1", "--max-error-rate", "7"],
        ["deploy", "update", "nosuch", "-t", "a=10"],
        ["deploy", "update", "nosuch", "-t", "a"],
        ["deploy", "rollback", "nosuch"],
        ["deploy", "show", "nosuch", "--ab", "--since", "yesterday"],
        ["predictions", "show", "bad/name"],
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(churn: None, args: list[str]) -> None:
    code, out = invoke(*args)
    assert code != 0
    assert "Traceback" not in out and len(out.strip().splitlines()) <= 3
    code, out = invoke("deploy", "list", "--json")
    assert json.loads(out) == []


def test_sdk_deploy_creates_then_updates(churn: None) -> None:
    first = modelyard.deploy("api", "churn@champion", reason="go")
    assert first.revision == 1 and first.spec.variants[0].name == "main"
    second = modelyard.deploy("api", ["main=churn@champion:80", {"name": "canary", "model": "churn@3", "traffic": 20}])
    assert second.revision == 2 and [v.version for v in second.spec.variants] == [2, 3]
    back = modelyard.rollback("api", reason="no")
    assert back.revision == 3 and [v.version for v in back.spec.variants] == [2]
    assert [d.name for d in modelyard.deployments()] == ["api"]
    assert modelyard.deployment("api") == back
    assert [e.action for e in modelyard.deployment_history("api")] == ["create", "update", "rollback"]
    assert modelyard.predictions("api").empty
    with pytest.raises(modelyard.NotFound):
        modelyard.log_feedback({"nope": 1})


def test_predictions_compact_command(churn: None) -> None:
    code, out = invoke("predictions", "compact", "churn-api", "--older-than", "1h", "--json")
    assert code == 0 and json.loads(out)["replaced"] == 0 and json.loads(out)["written"] == 0
    code, out = invoke("predictions", "compact", "bad/name")
    assert code != 0 and "Traceback" not in out
    code, out = invoke("predictions", "compact", "api", "--older-than", "soon")
    assert code != 0 and "invalid" in out


def test_predictions_prune_command_and_its_one_line_errors(churn: None) -> None:
    from modelyard.core.tracking import now_millis
    from modelyard.serving.endpoint import PredictionRecord
    from modelyard.serving.predlog import PredictionLogger
    from modelyard.store import open_stores

    stores = open_stores(modelyard.settings.load_settings())
    now = now_millis()
    with PredictionLogger(stores.serving, stores.artifacts, flush_interval_s=60) as log:
        for i, age_days in enumerate((40, 31, 2)):
            log.offer(PredictionRecord(f"p{i}", "churn-api", "main", "churn", 2, {"x": [i]}, [0], 1.0,
                                       now - age_days * 86_400_000, False, "ok"))  # fmt: skip
            assert log.flush()
    code, out = invoke("predictions", "prune", "churn-api", "--older-than", "30d")
    assert code == 0, out
    assert "churn-api: 2 partition(s) deleted (2 row(s), 2 blob(s))" in out
    code, out = invoke("predictions", "prune", "churn-api", "--older-than", "30d", "--json")
    assert code == 0 and json.loads(out)["pruned"] == 0
    assert [p.start_ms for p in stores.serving.list_prediction_partitions("churn-api", 0, 2**62)] == [
        now - 2 * 86_400_000
    ]
    for args, words in (
        (["churn-api", "--older-than", "soon"], "invalid duration"),
        (["churn-api", "--older-than", "-3d"], "invalid duration"),
        (["bad/name", "--older-than", "30d"], "deployment name"),
    ):
        code, out = invoke("predictions", "prune", *args)
        assert code != 0 and words in out and "Traceback" not in out, out
        assert len(out.strip().splitlines()) == 1, out
    code, out = invoke("predictions", "prune", "churn-api")  # --older-than is required
    assert code == 2 and "Traceback" not in out


def test_log_retention_is_part_of_a_deployment(churn: None) -> None:
    code, out = invoke("deploy", "create", "churn-api", "-v", "churn@champion", "--log-retention-days", "30", "--json")
    assert code == 0 and json.loads(out)["spec"]["log_retention_days"] == 30, out
    code, out = invoke("deploy", "update", "churn-api", "-v", "churn@3")
    assert code == 0 and "prediction logs kept 30 day(s)" in out, out
    code, out = invoke("deploy", "rollback", "churn-api", "--json")  # what is served goes back, retention stays
    assert code == 0 and json.loads(out)["spec"]["log_retention_days"] == 30
    code, out = invoke("deploy", "update", "churn-api", "--log-retention-days", "0", "--json")
    assert code == 0 and json.loads(out)["spec"]["log_retention_days"] is None
    code, out = invoke("deploy", "update", "churn-api", "--log-retention-days", "-1")
    assert code == 2 and "Traceback" not in out
    assert modelyard.deploy("churn-api", "churn@3", log_retention_days=7).spec.log_retention_days == 7  # the SDK
    assert modelyard.deploy("churn-api", "churn@3").spec.log_retention_days == 7  # kept when not given
    assert modelyard.deploy("other-api", "churn@3", log_retention_days=3).spec.log_retention_days == 3
