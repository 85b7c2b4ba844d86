from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import modelyard


def test_quickstart_tracks_every_model(tmp_path: Path) -> None:
    env = {**os.environ, "MODELYARD_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-m", "modelyard.cli.main", "quickstart"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Models ranked by test ROC AUC" in proc.stdout
    client = modelyard.TrackingClient(str(tmp_path / "home" / "modelyard.db"), str(tmp_path / "home" / "artifacts"))
    runs, _ = client.search_runs(["quickstart"], max_results=100)
    children = [r for r in runs if r.parent_run_id]
    assert len(children) == 5 and len(runs) == 6
    for run in children:
        assert run.status == modelyard.RunStatus.FINISHED
        assert 0.5 < run.metrics["test_roc_auc"].value <= 1.0
        assert len(client.get_metric_history(run.id, "cv_roc_auc")) == 5
        assert [a.path for a in client.list_artifacts(run.id)] == ["model/model.pkl"]
    assert client.store.check() == []


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
    assert run.metrics["training_accuracy"].value > 0.9
    assert "training_f1" in run.metrics and "training_log_loss" in run.metrics
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
    assert stored.metrics["training_r2"].value > 0.99
    assert len(modelyard.search_runs()) == 1


def test_autolog_disable_restores_fit(sdk: None) -> None:
    from sklearn.linear_model import Ridge

    modelyard.autolog(disable=True)
    Ridge().fit(np.ones((4, 2)), np.arange(4.0))
    assert modelyard.active_run() is None
    with pytest.raises(modelyard.NotFound):
        modelyard.search_runs()
