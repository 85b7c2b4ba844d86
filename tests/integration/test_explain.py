"""Explanations end to end on a SQLite store (modelyard.explain, modelyard.evaluation,
modelyard.sdk.explain, ``modelyard explain``): importance computed at evaluation and stored with
the version, read back, per-prediction explanations of a registered version, importance drift
between two versions, and one-line CLI errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.core.errors import InvalidArgument
from modelyard.evaluation import evaluate, latest_evaluation, latest_importance
from modelyard.sdk.explain import explain_model, importance_drift
from modelyard.sdk.models import RegistryClient
from modelyard.tracking.service import TrackingService

runner = CliRunner()


@pytest.fixture
def registry(tmp_path: Path, modelyard_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RegistryClient]:
    store_uri = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("MODELYARD_STORE_URI", store_uri)
    monkeypatch.setenv("MODELYARD_ARTIFACT_URI", str(tmp_path / "artifacts"))  # what the CLI opens
    client = RegistryClient(store_uri, str(tmp_path / "artifacts"))
    try:
        yield client
    finally:
        client.tracking.close()


def data(signal: str = "tenure", n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"tenure": rng.normal(30, 10, n), "spend": rng.normal(50, 10, n), "visits": rng.normal(5, 2, n)}
    )
    z = (frame[signal] - frame[signal].mean()) / frame[signal].std()
    return frame.assign(churned=(z + rng.normal(0, 0.3, n) > 0).astype(int))


def log(registry: RegistryClient, model_kind: str, frame: pd.DataFrame) -> int:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    tracking = TrackingService(registry.tracking, registry.artifacts)
    run = tracking.create_run("churn-team", name=model_kind)
    X = frame.drop(columns=["churned"])
    model = (
        RandomForestClassifier(n_estimators=30, random_state=0) if model_kind == "forest" else LogisticRegression()
    ).fit(X, frame["churned"])
    tracking.end_run(run.id)
    return registry.log_model(model, "churn", actor="ana", run_id=run.id, input_example=X.head()).version


def test_importance_is_computed_at_evaluation_and_stored_with_the_version(registry: RegistryClient) -> None:
    frame = data()
    version = log(registry, "forest", frame)
    result = evaluate(f"churn@{version}", frame, target="churned", registry=registry, actor="ana")
    assert set(result.importance) == {"permutation", "shap"}
    assert result.importance["permutation"]["features"][0]["feature"] == "tenure"
    stored = latest_importance(registry, "churn", version)
    assert stored["permutation"].ranked()[0] == "tenure" and stored["shap"].ranked()[0] == "tenure"
    assert stored["permutation"].metric == "accuracy" and set(stored["permutation"].baseline) == {
        "tenure", "spend", "visits",
    }  # fmt: skip
    assert registry.store.list_model_evaluations("churn", version)[0].summary["top_features"][0] == "tenure"

    again = evaluate(f"churn@{version}", frame, target="churned", registry=registry, importance=False)
    assert again.importance == {} and latest_importance(registry, "churn", version) == {}
    assert latest_evaluation(registry, "churn", version) is not None
    with pytest.raises(InvalidArgument, match="importance rows"):
        evaluate(f"churn@{version}", frame, target="churned", registry=registry, importance_rows=0)


def test_explaining_a_registered_version_uses_its_stored_baseline(registry: RegistryClient) -> None:
    frame = data()
    version = log(registry, "linear", frame)
    evaluate(f"churn@{version}", frame, target="churned", registry=registry)
    baseline = latest_importance(registry, "churn", version)["permutation"].baseline
    one = frame.drop(columns=["churned"]).head(1)
    explanation = explain_model(registry, f"churn@{version}", one)
    assert explanation.model == f"churn@{version}" and explanation.rows.method == "occlusion"
    model = registry.load(f"churn@{version}")
    at_baseline = model.predict_proba(pd.DataFrame([baseline])[one.columns])[0, 1]
    assert explanation.rows.base_values[0] == pytest.approx(at_baseline)
    assert explanation.rows.outputs[0] == pytest.approx(model.predict_proba(one)[0, 1])

    with_labels = explain_model(registry, f"churn@{version}", frame, rows=5, target="churned")
    assert len(with_labels.rows) == 5 and with_labels.importance.method == "permutation"
    assert with_labels.importance.ranked()[0] == "tenure"
    with pytest.raises(InvalidArgument, match="rows must be"):
        explain_model(registry, f"churn@{version}", frame, rows=0)


def test_importance_drift_between_two_versions(registry: RegistryClient) -> None:
    first, second = data("tenure"), data("spend")
    v1, v2 = log(registry, "forest", first), log(registry, "forest", second)
    for version, frame in ((v1, first), (v2, second)):
        evaluate(f"churn@{version}", frame, target="churned", registry=registry)
    diff = importance_drift(registry, f"churn@{v1}", f"churn@{v2}", top=1)
    assert diff.method == "shap" and diff.rank_correlation is not None and diff.rank_correlation < 0.9
    assert {s.feature for s in diff.shifts[:2]} == {"tenure", "spend"}
    assert diff.left_top == ["tenure"] and diff.entered_top == ["spend"]
    assert importance_drift(registry, f"churn@{v1}", f"churn@{v2}", method="permutation").method == "permutation"

    v3 = log(registry, "forest", first)  # never evaluated
    with pytest.raises(InvalidArgument, match="no stored importance"):
        importance_drift(registry, f"churn@{v1}", f"churn@{v3}")


def test_cli(registry: RegistryClient, tmp_path: Path) -> None:
    first, second = data("tenure"), data("spend")
    v1, v2 = log(registry, "forest", first), log(registry, "linear", second)
    for version, frame in ((v1, first), (v2, second)):
        evaluate(f"churn@{version}", frame, target="churned", registry=registry)
    path = tmp_path / "rows.parquet"
    first.drop(columns=["churned"]).to_parquet(path)

    done = runner.invoke(app, ["explain", f"churn@{v1}", "--data", str(path), "--rows", "3", "--json"])
    assert done.exit_code == 0, done.output
    body = json.loads(done.output)
    assert body["explanations"]["method"] == "shap" and len(body["explanations"]["rows"]) == 3
    row = body["explanations"]["rows"][0]
    assert row["base_value"] + sum(row["attributions"].values()) == pytest.approx(row["output"], abs=1e-6)

    done = runner.invoke(app, ["explain", f"churn@{v1}", "--data", str(path), "--rows", "2"])
    assert done.exit_code == 0 and "shap attributions" in done.output and "tenure" in done.output

    done = runner.invoke(app, ["explain", "diff", f"churn@{v1}", f"churn@{v2}", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["method"] == "permutation"  # the one both have
    done = runner.invoke(app, ["explain", "diff", f"churn@{v1}", f"churn@{v2}"])
    assert done.exit_code == 0 and "Spearman" in done.output

    labelled = tmp_path / "labelled.csv"
    first.to_csv(labelled, index=False)
    done = runner.invoke(app, ["evaluate", f"churn@{v1}", "--data", str(labelled), "--target", "churned"])
    assert done.exit_code == 0 and "permutation" in done.output and "tenure" in done.output, done.output
    args = ["evaluate", f"churn@{v1}", "--data", str(labelled), "--target", "churned", "--no-importance", "--json"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0 and json.loads(done.output)["importance"] == {}, done.output
    done = runner.invoke(app, ["evaluate", f"churn@{v1}", "--data", str(labelled), "--target", "churned", "--json",
                               "--importance-rows", "50"])  # fmt: skip
    assert json.loads(done.output)["importance"]["permutation"]["n_rows"] == 50

    bad = [
        (["explain", f"churn@{v1}"], "missing --data"),
        (["explain", f"churn@{v1}", "--data", str(tmp_path / "none.csv")], "does not exist"),
        (["explain", f"churn@{v1}", "--data", str(path), "--method", "lime"], "invalid --method"),
        (["explain", f"churn@{v1}", "--data", str(path), "--rows", "0"], "--rows"),
        (["explain", f"churn@{v1}", "--data", str(path), "--target", "nope"], "target column 'nope'"),
        (["explain", "churn@99", "--data", str(path)], "99"),
        (["explain", "diff", f"churn@{v1}"], "usage: modelyard explain diff"),
        (["explain", f"churn@{v1}", "extra", "--data", str(path)], "unexpected argument"),
    ]
    for args, message in bad:
        done = runner.invoke(app, args)
        assert done.exit_code != 0, args
        assert message in done.output, (args, done.output)
        assert "Traceback" not in done.output


def test_model_report_holds_aggregates_only(registry: RegistryClient, tmp_path: Path) -> None:
    from modelyard.reports.model import build_model_report

    frame = data()
    frame["tenure"] = frame["tenure"].round(6) + 0.123456  # values easy to look for in the page
    version = log(registry, "forest", frame)
    high = (frame["spend"] > 50).to_numpy()
    evaluate(f"churn@{version}", frame, target="churned", registry=registry, slices={"high spend": high, "low": ~high})
    report = build_model_report(registry, "churn", version)
    assert report.evaluation is not None and set(report.importance) == {"permutation", "shap"}
    assert set(report.figures()) == {
        "metrics", "slices", "roc", "pr", "confusion", "importance-permutation", "importance-shap",
    }  # fmt: skip
    assert set(report.evaluation["slices"]) == {"high spend", "low"}
    html = report.to_html()
    assert html.count('class="plotly-graph-div') == 7 and "<script src=" not in html  # plotly.js inlined
    for value in frame["tenure"].head(20):
        assert repr(float(value)) not in html  # no raw row reaches the page
    data_json = json.loads(report.to_json())
    assert data_json["importance"]["permutation"]["features"][0]["feature"] == "tenure"
    assert "residuals" not in data_json["evaluation"]["curves"]

    fresh = build_model_report(registry, "churn", log(registry, "linear", frame))  # never evaluated
    assert fresh.evaluation is None and fresh.importance == {} and fresh.figures() == {}
    assert "Not evaluated yet" in fresh.to_html() and "plotly" not in fresh.to_html().lower()

    out = tmp_path / "report.html"
    done = runner.invoke(app, ["models", "report", f"churn@{version}", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert out.read_text().startswith("<!doctype html>") and 'data-plot="importance-shap"' in out.read_text()
    # as the drift and monitoring reports: plotly.min.js shared beside the page, or inlined
    assert '<script src="plotly.min.js">' in out.read_text() and (tmp_path / "plotly.min.js").stat().st_size > 1e6
    alone = tmp_path / "alone" / "report.html"
    alone.parent.mkdir()
    done = runner.invoke(app, ["models", "report", f"churn@{version}", "-o", str(alone), "--self-contained"])
    assert done.exit_code == 0, done.output
    assert "<script src=" not in alone.read_text() and not (alone.parent / "plotly.min.js").exists()
    assert alone.stat().st_size > out.stat().st_size + 1_000_000
    assert (
        fresh.write_html(tmp_path / "fresh" / "r.html").exists() and not (tmp_path / "fresh" / "plotly.min.js").exists()
    )
    done = runner.invoke(app, ["models", "report", f"churn@{version}", "--json"])
    assert done.exit_code == 0 and json.loads(done.output)["card"]["model_name"] == "churn"
    for args, message in [
        (["models", "report", f"churn@{version}"], "missing --output"),
        (["models", "report", f"churn@{version}", "-o", str(tmp_path / "no" / "r.html")], "no such directory"),
        (["models", "report", "churn@42", "-o", str(out)], "42"),
        (["models", "report", f"churn@{version}", "--json", "--self-contained"], "not the JSON form"),
        (["models", "report", f"churn@{version}", "-o", str(out), "--shared-plotly"], "No such option"),
    ]:
        done = runner.invoke(app, args)
        assert done.exit_code != 0 and message in done.output and "Traceback" not in done.output, done.output
