"""Model cards and recorded evaluations on SQLite and PostgreSQL (modelyard.reports.cards,
modelyard.evaluation): a card generated from a real logged model and run, edits that
persist and are audited, Markdown and HTML exports (sharing one plotly.min.js beside them, or
self-contained), evaluations logged to a run and recorded on the version, and the CLI
(``modelyard models card``, ``modelyard evaluate``) with one-line errors that change nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.core.registry import EventKind
from modelyard.core.tracking import RunInput
from modelyard.evaluation import EVALUATION_ARTIFACT, evaluate, latest_evaluation
from modelyard.reports.cards import build_card, update_card
from modelyard.sdk.models import RegistryClient
from modelyard.tracking.service import TrackingService

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgres"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("postgres_uri"))


@pytest.fixture
def registry(
    store_uri: str, tmp_path: Path, modelyard_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RegistryClient]:
    monkeypatch.setenv("MODELYARD_ARTIFACT_URI", str(tmp_path / "artifacts"))  # what the CLI opens
    client = RegistryClient(store_uri, str(tmp_path / "artifacts"))
    try:
        yield client
    finally:
        client.tracking.close()


def churn_data(seed: int = 0, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(0, 60, n),
            "spend": rng.normal(50, 10, n),
            "region": rng.choice(["north", "south"], n),
        }
    )
    noise = rng.random(n) < 0.1
    return frame.assign(churned=((frame["tenure"] < 20) ^ noise).astype(int))


def train_and_log(registry: RegistryClient, C: float, data: pd.DataFrame, *, useless: bool = False) -> int:
    """Log a logistic regression; ``useless`` trains it on shuffled labels (a champion to beat)."""
    from sklearn.linear_model import LogisticRegression

    tracking = TrackingService(registry.tracking, registry.artifacts)
    run = tracking.create_run("churn-team", name=f"C={C}")
    tracking.log_params(run.id, {"C": C, "max_iter": 500})
    tracking.log_inputs(
        run.id, [RunInput(name="customers", version="v3", digest="sha256:" + "ab" * 32, context="training")]
    )
    X = data[["tenure", "spend"]]
    y = data["churned"].sample(frac=1, random_state=0).to_numpy() if useless else data["churned"]
    model = LogisticRegression(C=C, max_iter=500).fit(X, y)
    tracking.log_metric(run.id, "train_accuracy", model.score(X, data["churned"]))
    tracking.end_run(run.id)
    version = registry.log_model(model, "churn", actor="ana", run_id=run.id, input_example=X.head())
    return version.version


def test_card_is_generated_from_the_version_and_its_run(registry: RegistryClient) -> None:
    data = churn_data()
    version = train_and_log(registry, 1.0, data)
    card = build_card(registry, "churn", version)
    assert (card.model_name, card.version, card.project, card.state, card.flavor) == (
        "churn", 1, "churn-team", "draft", "sklearn"
    )  # fmt: skip
    assert card.features == [{"name": "tenure", "dtype": "int64"}, {"name": "spend", "dtype": "float64"}]
    assert card.run is not None
    assert card.run["params"] == {"C": "1.0", "max_iter": "500"}
    assert set(card.run["metrics"]) == {"train_accuracy"}
    assert card.run["inputs"][0]["name"] == "customers" and card.run["inputs"][0]["version"] == "v3"
    assert card.fields == {} and card.evaluation is None
    markdown = card.to_markdown()
    assert "# Model card: churn version 1" in markdown
    assert "| customers | v3 |" in markdown and "| tenure | int64 |" in markdown
    assert "_Not evaluated yet" in markdown


def test_edits_persist_are_audited_and_validated(registry: RegistryClient, store_uri: str, tmp_path: Path) -> None:
    version = train_and_log(registry, 1.0, churn_data())
    update_card(registry, "churn", version, {"intended_use": "Rank customers for retention calls."}, actor="ana")
    update_card(registry, "churn", version, {"owners": "ana, bob", "limitations": "EU customers only"}, actor="bob")
    update_card(registry, "churn", version, {"limitations": None}, actor="bob")
    again = RegistryClient(store_uri, str(tmp_path / "artifacts"))  # a fresh process's view
    try:
        card = build_card(again, "churn", version)
    finally:
        again.tracking.close()
    assert card.fields == {"intended_use": "Rank customers for retention calls.", "owners": "ana, bob"}
    assert card.fields_updated_by == "bob"
    edits = [e for e in registry.history("churn", version) if e.kind is EventKind.CARD_UPDATED]
    assert [e.actor for e in edits] == ["ana", "bob", "bob"]
    before = registry.history("churn")
    with pytest.raises(InvalidArgument, match="unknown model card field 'colour'"):
        update_card(registry, "churn", version, {"colour": "blue"}, actor="ana")
    with pytest.raises(NotFound):
        update_card(registry, "churn", 9, {"owners": "x"}, actor="ana")
    with pytest.raises(InvalidArgument, match="user name"):
        update_card(registry, "churn", version, {"owners": "x"}, actor=" ")
    assert registry.history("churn") == before


def test_evaluation_is_logged_recorded_and_shown_on_the_card(registry: RegistryClient) -> None:
    data = churn_data()
    champion = train_and_log(registry, 1.0, data, useless=True)
    candidate = train_and_log(registry, 1.0, data)
    registry.set_alias("churn", "champion", champion, actor="ana")
    holdout = churn_data(seed=1)
    result = evaluate(
        f"churn@{candidate}", holdout, target="churned", slices=["region"], champion="churn@champion",
        registry=registry, actor="ana",
    )  # fmt: skip
    assert result.model == "churn@2" and result.run_id is not None and result.digest is not None
    assert set(result.slices) == {"region=north", "region=south"}
    c = result.comparison
    assert c is not None and c.champion == "churn@1" and c.test == "mcnemar"
    assert c.better is True and c.p_value < 0.05  # a champion trained on shuffled labels loses clearly

    run = registry.tracking.get_run(result.run_id)
    assert run.name == "evaluation" and run.status.value == "FINISHED"
    assert run.tags["modelyard.evaluation.model"] == "churn@2"
    assert run.tags["modelyard.evaluation.champion"] == "churn@1"
    assert run.metrics["eval/accuracy"].value == pytest.approx(result.metrics["accuracy"])
    assert "eval/slice/region:north/accuracy" in run.metrics and "eval/compare/p_value" in run.metrics
    paths = {a.path for a in registry.tracking.list_artifacts(run.id)}
    assert {EVALUATION_ARTIFACT, "evaluation/plots/roc.json", "evaluation/plots/pr.json"} <= paths
    assert "evaluation/plots/confusion_matrix.json" in paths and "evaluation/plots/index.html" in paths

    records = registry.store.list_model_evaluations("churn", candidate)
    assert len(records) == 1 and records[0].digest == result.digest and records[0].run_id == run.id
    assert records[0].summary["champion"]["reference"] == "churn@1"
    stored = latest_evaluation(registry, "churn", candidate)
    assert stored is not None and stored.to_dict() == result.to_dict()
    assert any(e.kind is EventKind.EVALUATED for e in registry.history("churn", candidate))

    card = build_card(registry, "churn", candidate)
    markdown = card.to_markdown()
    assert "### Slices" in markdown and "| region=north |" in markdown
    assert "better than** champion churn@1" in markdown
    html = card.to_html()
    assert html.count("<script") >= 2 and "Plotly.newPlot" in html
    assert 'src="http' not in html and "src='http" not in html  # self-contained: nothing fetched
    assert html.count("/*! For license information") <= 1  # plotly.js inlined once


def test_evaluating_the_champion_itself_and_a_regression_model(registry: RegistryClient) -> None:
    from sklearn.linear_model import LinearRegression

    data = churn_data()
    version = train_and_log(registry, 1.0, data)
    registry.set_alias("churn", "champion", version, actor="ana")
    result = evaluate("churn@champion", data, target="churned", champion="churn@champion", registry=registry)
    assert result.comparison is None and result.model == "churn@1"

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=200)}).assign(y=lambda f: 3 * f["x"] + rng.normal(0, 0.1, 200))
    tracking = TrackingService(registry.tracking, registry.artifacts)
    run = tracking.create_run("forecast")
    registry.log_model(LinearRegression().fit(frame[["x"]], frame["y"]), "demand", actor="ana", run_id=run.id,
                       input_example=frame[["x"]].head())  # fmt: skip
    result = evaluate("demand@1", frame, target="y", registry=registry)
    assert result.task == "regression" and result.metrics["r2"] > 0.99
    paths = {a.path for a in registry.tracking.list_artifacts(result.run_id or "")}
    assert "evaluation/plots/residuals.json" in paths
    assert "Regression on 200 rows" in build_card(registry, "demand", 1).to_markdown()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_cli_card_and_evaluate(registry: RegistryClient, store_uri: str, tmp_path: Path) -> None:
    data = churn_data()
    train_and_log(registry, 1.0, data, useless=True)
    train_and_log(registry, 1.0, data)
    registry.set_alias("churn", "champion", 1, actor="ana")
    csv = tmp_path / "holdout.csv"
    churn_data(seed=2).to_csv(csv, index=False)
    parquet = tmp_path / "holdout.parquet"
    churn_data(seed=2).to_parquet(parquet)

    code, out = invoke(
        "evaluate", "churn@2", "--data", str(csv), "--target", "churned", "--slice", "region",
        "--champion", "churn@champion", "--json", "--store", store_uri,
    )  # fmt: skip
    assert code == 0, out
    result = json.loads(out)
    assert result["model"] == "churn@2" and result["comparison"]["test"] == "mcnemar"
    assert set(result["slices"]) == {"region=north", "region=south"}
    code, out = invoke("evaluate", "churn@2", "-d", str(parquet), "-t", "churned", "--store", store_uri)
    assert code == 0 and "accuracy" in out, out

    code, out = invoke(
        "models", "card", "churn", "2", "--set", "intended_use=Retention calls", "--set", "owners=ana",
        "--user", "ana", "--store", store_uri,
    )  # fmt: skip
    assert code == 0 and "Retention calls" in out, out
    code, out = invoke("models", "card", "churn", "2", "--json", "--store", store_uri)
    card = json.loads(out)
    assert card["fields"] == {"intended_use": "Retention calls", "owners": "ana"}
    assert card["evaluation"]["n_rows"] == 300
    md, html = tmp_path / "card.md", tmp_path / "card.html"
    code, out = invoke("models", "card", "churn", "2", "--markdown", str(md), "--html", str(html), "--store", store_uri)
    assert code == 0, out
    assert "Retention calls" in md.read_text() and "Plotly.newPlot" in html.read_text()
    code, out = invoke("models", "card", "churn", "2", "--markdown", "-", "--store", store_uri)
    assert out.startswith("# Model card: churn version 2")


def test_html_cards_share_one_plotly_js_unless_self_contained(
    registry: RegistryClient, store_uri: str, tmp_path: Path
) -> None:
    from plotly.offline import get_plotlyjs

    data = churn_data()
    version = train_and_log(registry, 1.0, data)
    evaluate(f"churn@{version}", churn_data(seed=1), target="churned", registry=registry, actor="ana")
    library = get_plotlyjs().encode()
    cards = tmp_path / "cards"
    cards.mkdir()
    first, second = cards / "churn-v1.html", cards / "again.html"
    code, out = invoke("models", "card", "churn", "1", "--html", str(first), "--store", store_uri)
    assert code == 0, out
    shared = cards / "plotly.min.js"
    html = first.read_text()
    assert first.stat().st_size < 500_000 < len(library)  # the card without the library
    assert '<script src="plotly.min.js"></script>' in html and "Plotly.newPlot" in html
    assert get_plotlyjs() not in html and shared.read_bytes() == library
    before = shared.stat()
    code, out = invoke("models", "card", "churn", "1", "--html", str(second), "--store", store_uri)
    assert code == 0, out
    after = shared.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # unchanged: not rewritten
    assert sorted(p.name for p in cards.iterdir()) == ["again.html", "churn-v1.html", "plotly.min.js"]

    shared.write_bytes(b"// some other plotly.js")
    build_card(registry, "churn", 1).write_html(first)  # the SDK's face of the same option
    assert shared.read_bytes() == library  # a different copy is replaced

    alone = tmp_path / "alone" / "card.html"
    alone.parent.mkdir()
    code, out = invoke("models", "card", "churn", "1", "--html", str(alone), "--self-contained", "--store", store_uri)
    assert code == 0, out
    html = alone.read_text()
    assert "<script src" not in html and get_plotlyjs()[:2000] in html and "Plotly.newPlot" in html
    assert [p.name for p in alone.parent.iterdir()] == ["card.html"]
    assert build_card(registry, "churn", 1).write_html(tmp_path / "sdk.html", self_contained=True).stat().st_size > len(
        library
    )


def test_a_card_without_charts_writes_no_plotly_js(registry: RegistryClient, tmp_path: Path) -> None:
    version = train_and_log(registry, 1.0, churn_data())
    target = build_card(registry, "churn", version).write_html(tmp_path / "cards" / "card.html")
    assert "<script" not in target.read_text()
    assert [p.name for p in target.parent.iterdir()] == ["card.html"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evaluate", "churn@1", "--data", "{missing}", "--target", "churned"], "does not exist"),
        (["evaluate", "churn@1", "--data", "{csv}", "--target", "nope"], "target column 'nope'"),
        (["evaluate", "churn@7", "--data", "{csv}", "--target", "churned"], "version 7 of model 'churn' not found"),
        (["evaluate", "churn@1", "--data", "{csv}", "--target", "churned", "--slice", "zz"], "slice column 'zz'"),
        (["evaluate", "churn@1", "--data", "{csv}", "--target", "churned", "--champion", "churn@ghost"], "ghost"),
        (["evaluate", "churn@1", "--data", "{csv}", "--target", "churned", "--task", "ranking"], "invalid --task"),
        (["models", "card", "churn", "1", "--set", "colour=blue"], "unknown model card field 'colour'"),
        (["models", "card", "churn", "1", "--set", "owners"], "expected FIELD=TEXT"),
        (["models", "card", "churn", "5"], "version 5 of model 'churn' not found"),
        (["models", "card", "churn", "1", "--html", "/nonexistent/dir/card.html"], "does not exist"),
        (["models", "card", "churn", "1", "--self-contained"], "--self-contained needs --html FILE"),
    ],
)
def test_cli_errors_are_one_line_and_change_nothing(
    registry: RegistryClient, store_uri: str, tmp_path: Path, args: list[str], message: str
) -> None:
    data = churn_data()
    train_and_log(registry, 1.0, data)
    csv = tmp_path / "holdout.csv"
    data.to_csv(csv, index=False)
    args = [a.format(csv=csv, missing=tmp_path / "missing.csv") for a in args]
    tracking = TrackingService(registry.tracking, registry.artifacts)
    before = (registry.history("churn"), tracking.search_runs()[0], build_card(registry, "churn", 1).fields)
    code, out = invoke(*args, "--store", store_uri)
    assert code != 0 and message in out and out.strip().count("\n") == 0, out
    assert (registry.history("churn"), tracking.search_runs()[0], build_card(registry, "churn", 1).fields) == before


def test_sdk_face_logs_to_the_active_run(modelyard_home: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    import modelyard
    from modelyard.sdk import evaluation as sdk

    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    modelyard.set_project("churn-team")
    data = churn_data()
    model = LogisticRegression(max_iter=500).fit(data[["tenure", "spend"]], data["churned"])
    try:
        with modelyard.start_run(name="train") as run:
            modelyard.log_model(model, "churn", input_example=data[["tenure", "spend"]].head())
            result = sdk.evaluate("churn@1", data, target="churned")
            assert result.run_id == run.id and modelyard.active_run() is not None
        assert modelyard.get_run(run.id).metrics["eval/accuracy"].value == pytest.approx(result.metrics["accuracy"])
        outside = sdk.evaluate(model, data, target="churned", slices=["region"])  # a new "evaluation" run
        assert outside.run_id != run.id and modelyard.get_run(outside.run_id or "").name == "evaluation"
        card = sdk.update_model_card("churn", 1, owners="ana", actor="ana")
        assert sdk.model_card("churn", 1).fields == {"owners": "ana"} == card.fields
        assert sdk.model_card("churn", 1).evaluation is not None
        unlogged = sdk.evaluate(model, data, target="churned", log=False)
        assert unlogged.run_id is None and unlogged.metrics == outside.metrics
    finally:
        while modelyard.active_run() is not None:
            modelyard.end_run()
        modelyard.set_store_uri(None)
