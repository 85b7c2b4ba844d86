"""The quickstart (what `make quickstart` runs) end to end, and scikit-learn autologging."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import modelyard


def _quickstart(home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``modelyard quickstart`` as ``make quickstart`` runs it: a fresh process, only MODELYARD_HOME set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    proc = subprocess.run(
        [sys.executable, "-m", "modelyard.cli.main", "quickstart"],
        cwd=cwd,
        env={**env, "MODELYARD_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def _sweeps(client: modelyard.TrackingClient) -> list[list[modelyard.Run]]:
    """The candidate runs of each quickstart, oldest quickstart first."""
    runs, _ = client.search_runs(["quickstart"], max_results=1000)
    sweeps = sorted((r for r in runs if r.name == "quickstart-sweep"), key=lambda r: r.start_time)
    return [[r for r in runs if r.parent_run_id == sweep.id] for sweep in sweeps]


def test_quickstart_runs_the_lifecycle_and_again_in_the_same_home(modelyard_home: Path, tmp_path: Path) -> None:
    from modelyard.data.validation.records import TAG_SUCCESS, find_validation_runs

    first = _quickstart(modelyard_home, tmp_path)
    for heading in ("1/5 Data", "2/5 Training", "3/5 Governance", "4/5 Use", "5/5 Lineage", "Try next"):
        assert heading in first.stdout
    assert "/ui/models/breast-cancer@production" in first.stdout

    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    registry = modelyard.RegistryClient()
    client = modelyard.TrackingClient()
    try:
        # Data: two versions with the split's row counts, the test one validated and recorded.
        train = modelyard.datasets.get("breast-cancer-train", log_input=False)
        test = modelyard.datasets.get("breast-cancer-test", log_input=False)
        assert (train.ref, test.ref) == ("breast-cancer-train@v1", "breast-cancer-test@v1")
        assert len(train.to_pandas()) == 426 and len(test.to_pandas()) == 143
        assert list(train.to_pandas().columns) == list(test.to_pandas().columns)
        project_id = client.store.get_project_by_name("quickstart").id
        validations = find_validation_runs(client.store, test.record, [project_id])
        assert len(validations) == 1 and validations[0].tags[TAG_SUCCESS] == "true"

        # Training: every candidate run read both versions, with their digests, and registered a draft.
        [candidates] = _sweeps(client)
        assert len(candidates) == 5
        for run in candidates:
            assert run.status == modelyard.RunStatus.FINISHED
            assert {(i.name, i.version, i.digest, i.context) for i in run.inputs} == {
                ("breast-cancer-train", "v1", train.manifest_digest, "training"),
                ("breast-cancer-test", "v1", test.manifest_digest, "evaluation"),
            }
            assert len(client.get_metric_history(run.id, "cv_roc_auc")) == 5
            assert 0.5 < run.metrics["test_roc_auc"].value <= 1.0
        versions = registry.list_versions("breast-cancer")
        assert sorted(v.version for v in versions) == [1, 2, 3, 4, 5]
        assert {v.run_id for v in versions} == {r.id for r in candidates}

        # Governance: the best by cross-validation is in production, champion, evaluated.
        production = registry.resolve("breast-cancer@production")
        best = max(candidates, key=lambda r: r.metrics["cv_roc_auc_mean"].value)
        assert production.run_id == best.id
        assert "champion" in production.aliases
        assert [v.version for v in versions if v.state.value == "draft"] == sorted(
            {1, 2, 3, 4, 5} - {production.version}, reverse=True
        )
        [evaluation] = registry.store.list_model_evaluations("breast-cancer", production.version)
        assert evaluation.summary["n_rows"] == 143 and evaluation.summary["metrics"]["accuracy"] > 0.9
        cards = modelyard_home / "quickstart" / "cards"
        assert (cards / f"breast-cancer-v{production.version}.md").read_text().startswith("#")
        card_html = cards / f"breast-cancer-v{production.version}.html"
        assert card_html.stat().st_size < 500_000  # plotly.js is not repeated in every card
        assert '<script src="plotly.min.js"></script>' in card_html.read_text()
        assert (cards / "plotly.min.js").stat().st_size > 1_000_000  # the one shared copy, beside the cards

        # Use: the production version loads (hash-verified) and predicts the held-out rows.
        frame = test.to_pandas()
        predicted = modelyard.load_model("breast-cancer@production").predict(frame.drop(columns=["benign"]))
        assert float(np.mean(np.asarray(predicted) == frame["benign"].to_numpy())) > 0.9
    finally:
        client.store.close()
        registry.tracking.close()

    # Again in the same home: same dataset versions, five new model versions, production moved and
    # the version it replaced archived by the state machine.
    second = _quickstart(modelyard_home, tmp_path)
    assert "unchanged: the same version" in second.stdout
    registry = modelyard.RegistryClient()
    client = modelyard.TrackingClient()
    try:
        assert [v.ref for v in modelyard.datasets.versions("breast-cancer-train")] == ["breast-cancer-train@v1"]
        assert [v.ref for v in modelyard.datasets.versions("breast-cancer-test")] == ["breast-cancer-test@v1"]
        assert len(registry.list_versions("breast-cancer")) == 10
        moved = registry.resolve("breast-cancer@production")
        assert moved.version > 5 and "champion" in moved.aliases
        assert moved.run_id in {r.id for r in _sweeps(client)[1]}
        old = registry.get_version("breast-cancer", production.version)
        assert old.state.value == "archived" and "champion" not in old.aliases
        assert any(
            e.version == production.version and e.reason == f"replaced by version {moved.version}"
            for e in registry.history("breast-cancer")
        )
        assert registry.store.list_model_evaluations("breast-cancer", moved.version)
        assert client.store.check() == []
    finally:
        client.store.close()
        registry.tracking.close()


def test_quickstart_keeps_a_candidate_that_fails_the_gate_in_staging(
    modelyard_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelyard.cli import quickstart_steps
    from modelyard.cli.quickstart import run_quickstart

    monkeypatch.setattr(quickstart_steps, "MIN_TEST_ACCURACY", 1.01)  # no model can pass
    from modelyard.sdk.session import _session

    monkeypatch.setattr(_session, "project", _session.project)  # restored after
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    result = run_quickstart()
    out = capsys.readouterr().out
    assert not result.promotion.promoted and "kept in staging" in result.promotion.gate
    registry = modelyard.RegistryClient()
    try:
        staged = registry.resolve("breast-cancer@staging")
        assert staged.version == result.promotion.version and not staged.aliases
        with pytest.raises(modelyard.NotFound):
            registry.resolve("breast-cancer@production")
        assert registry.store.list_model_evaluations("breast-cancer", staged.version)
    finally:
        registry.tracking.close()
    assert f"loaded breast-cancer@{staged.version}" in out  # the demo goes on with the staged version


@pytest.fixture
def sdk(modelyard_home: Path):
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    modelyard.set_project("autolog")
    modelyard.autolog()
    yield
    modelyard.autolog(disable=True)
    while modelyard.active_run() is not None:
        modelyard.end_run()
    modelyard.set_store_uri(None)


def test_autolog_records_params_metrics_and_model(sdk: None) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    model.fit(X, y)  # no active run: autolog starts and ends one
    frame = modelyard.search_runs()
    assert len(frame) == 1  # the pipeline's inner fits are not separate runs
    run = modelyard.get_run(frame["run_id"][0])
    assert run.status == modelyard.RunStatus.FINISHED
    assert run.tags["estimator_name"] == "Pipeline"
    assert run.metrics["training_accuracy_score"].value > 0.9
    assert "training_f1_score" in run.metrics and "training_log_loss" in run.metrics
    blob = modelyard.TrackingClient().read_artifact(run.id, "model/model.pkl")
    restored = pickle.loads(blob)
    assert np.array_equal(restored.predict(X), model.predict(X))


def test_autolog_inside_a_run_and_regressor(sdk: None) -> None:
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = X @ np.array([1.0, 2.0, 3.0])
    with modelyard.start_run(name="mine") as run:
        Ridge(alpha=0.5).fit(X, y)
    stored = modelyard.get_run(run.id)
    assert stored.params["alpha"] == "0.5"
    assert stored.metrics["training_r2_score"].value > 0.99
    assert len(modelyard.search_runs()) == 1


def test_autolog_disable_restores_fit(sdk: None) -> None:
    from sklearn.linear_model import Ridge

    modelyard.autolog(disable=True)
    Ridge().fit(np.ones((4, 2)), np.arange(4.0))
    assert modelyard.active_run() is None
    with pytest.raises(modelyard.NotFound):
        modelyard.search_runs()
