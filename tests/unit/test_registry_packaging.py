"""Packaging (modelyard.registry.packaging and flavors): every flavor round-trips through the
artifact store with its signature enforced; tampered packages are refused before deserialising."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.artifacts import open_artifact_store
from modelyard.artifacts.interfaces import ArtifactStore
from modelyard.core.errors import IntegrityError, InvalidArgument, SignatureError
from modelyard.registry import flavors
from modelyard.registry.packaging import (
    MLMODEL_FILE,
    load_directory,
    load_stored,
    package_model,
    store_model,
)


class Doubler:
    """A plain Python model for the generic flavor."""

    def predict(self, data: Any) -> Any:
        return np.asarray(data)[:, 0] * 2


@pytest.fixture
def artifacts(tmp_path: Path) -> ArtifactStore:
    return open_artifact_store(str(tmp_path / "artifacts"))


@pytest.fixture
def table() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 4)), columns=["a", "b", "c", "d"])
    y = (X["a"] + X["b"] > 0).astype(int).to_numpy()
    return X, y


def roundtrip(artifacts: ArtifactStore, model: Any, example: Any, **options: Any) -> Any:
    stored = store_model(artifacts, model, input_example=example, **options)
    return load_stored(artifacts, stored.digest)


def test_sklearn_round_trip_with_signature(artifacts: ArtifactStore, table: tuple[pd.DataFrame, np.ndarray]) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = table
    model = LogisticRegression().fit(X, y)
    loaded = roundtrip(artifacts, model, X.head())
    assert loaded.flavor == "sklearn"
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.array_equal(loaded.predict(X[["d", "c", "b", "a"]]), model.predict(X))  # reordered for the model
    with pytest.raises(SignatureError, match="column 'c' must be float64, got string"):
        loaded.predict(X.head(2).assign(c=["x", "y"]))
    requirements = loaded.environment["requirements"]
    import sklearn

    assert f"scikit-learn=={sklearn.__version__}" in requirements and loaded.environment["python"]


def test_python_flavor_round_trip(artifacts: ArtifactStore) -> None:
    data = np.arange(6, dtype=np.float64).reshape(3, 2)
    loaded = roundtrip(artifacts, Doubler(), data)
    assert loaded.flavor == "python"
    assert loaded.predict(data).tolist() == [0.0, 4.0, 8.0]
    with pytest.raises(SignatureError, match=r"shape \(-1, 2\)"):
        loaded.predict(np.zeros((2, 5)))


def test_xgboost_round_trip(artifacts: ArtifactStore, table: tuple[pd.DataFrame, np.ndarray]) -> None:
    xgboost = pytest.importorskip("xgboost")
    X, y = table
    model = xgboost.XGBClassifier(n_estimators=10, max_depth=2).fit(X, y)
    loaded = roundtrip(artifacts, model, X.head())
    assert loaded.flavor == "xgboost"
    assert np.array_equal(loaded.predict(X), model.predict(X))
    booster = model.get_booster()
    loaded_booster = roundtrip(artifacts, booster, X.head())
    assert np.allclose(loaded_booster.predict(X), booster.predict(xgboost.DMatrix(X)))
    with pytest.raises(SignatureError, match="column 'a'"):
        loaded.predict(X.drop(columns="a"))


def test_lightgbm_round_trip(artifacts: ArtifactStore, table: tuple[pd.DataFrame, np.ndarray]) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    X, y = table
    model = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y)
    loaded = roundtrip(artifacts, model, X.head())
    assert loaded.flavor == "lightgbm"
    assert np.array_equal(loaded.predict(X), model.predict(X))
    booster = model.booster_
    loaded_booster = roundtrip(artifacts, booster, X.head())
    assert loaded_booster.mlmodel["flavor"]["format"] == "text"
    assert np.allclose(loaded_booster.predict(X), booster.predict(X))


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_sklearn_to_onnx_predictions_match(
    artifacts: ArtifactStore, table: tuple[pd.DataFrame, np.ndarray], kind: str
) -> None:
    pytest.importorskip("skl2onnx")
    pytest.importorskip("onnxruntime")
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelyard.registry.onnx_export import sklearn_to_onnx

    X, y = table
    if kind == "classifier":
        model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    else:
        model = RandomForestRegressor(n_estimators=5, max_depth=3, random_state=0).fit(X, X["a"] * 2)
    onnx_model = sklearn_to_onnx(model, X)
    loaded = roundtrip(artifacts, onnx_model, X.to_numpy(dtype=np.float32)[:5])
    assert loaded.flavor == "onnx"
    got = np.asarray(loaded.predict(X.to_numpy(dtype=np.float32))).ravel()
    if kind == "classifier":
        assert np.array_equal(got, model.predict(X))
        probabilities = loaded.native.run(X.to_numpy(dtype=np.float32))[1]
        assert np.allclose(probabilities, model.predict_proba(X), atol=1e-5)
    else:
        assert np.allclose(got, model.predict(X), atol=1e-4)


def test_onnx_export_refuses_non_numeric_examples() -> None:
    pytest.importorskip("skl2onnx")
    from sklearn.linear_model import LinearRegression

    from modelyard.registry.onnx_export import sklearn_to_onnx

    with pytest.raises(InvalidArgument, match="numeric"):
        sklearn_to_onnx(LinearRegression(), np.array([["a"]]))


def test_flavor_detection_and_errors(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    assert flavors.detect_flavor(LinearRegression()).name == "sklearn"
    assert flavors.detect_flavor(Doubler()).name == "python"
    with pytest.raises(InvalidArgument, match="matches no flavor"):
        flavors.detect_flavor(object())
    with pytest.raises(InvalidArgument, match="unknown model flavor"):
        flavors.get_flavor("tensorflow")
    with pytest.raises(InvalidArgument, match="not a sklearn model"):
        package_model(Doubler(), tmp_path / "p", flavor="sklearn")


def test_tampered_blob_is_refused_before_deserialising(
    artifacts: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.linear_model import LinearRegression

    stored = store_model(artifacts, LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), input_example=[[0.0]])
    entry = next(e for e in stored.manifest.entries if e.path == "model.pkl")
    algorithm, hex_digest = entry.digest.split(":")
    blob = tmp_path / "artifacts" / "blobs" / algorithm / hex_digest[:2] / hex_digest[2:4] / hex_digest
    os.chmod(blob, 0o644)
    blob.write_bytes(blob.read_bytes()[:-1] + b"\x00")
    calls: list[Any] = []
    monkeypatch.setattr(pickle, "load", lambda *a, **k: calls.append(a))
    with pytest.raises(IntegrityError, match="corrupt"):
        load_stored(artifacts, stored.digest)
    assert calls == []  # nothing was unpickled


def test_edited_package_directory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package_model(Doubler(), tmp_path / "pkg", input_example=np.zeros((1, 2)))
    assert load_directory(tmp_path / "pkg").predict(np.ones((1, 2))).tolist() == [2.0]
    (tmp_path / "pkg" / "model.pkl").write_bytes(pickle.dumps(Doubler()) + b" ")
    calls: list[Any] = []
    monkeypatch.setattr(pickle, "load", lambda *a, **k: calls.append(a))
    with pytest.raises(IntegrityError, match=r"model\.pkl hashes to"):
        load_directory(tmp_path / "pkg")
    assert calls == []


def test_unlisted_and_missing_files_are_refused(tmp_path: Path) -> None:
    package_model(Doubler(), tmp_path / "pkg")
    (tmp_path / "pkg" / "extra.py").write_text("print('hi')")
    with pytest.raises(IntegrityError, match=r"does not list: extra\.py"):
        load_directory(tmp_path / "pkg")
    (tmp_path / "pkg" / "extra.py").unlink()
    (tmp_path / "pkg" / "requirements.txt").unlink()
    with pytest.raises(IntegrityError, match=r"missing requirements\.txt"):
        load_directory(tmp_path / "pkg")


def test_manifest_contents(tmp_path: Path) -> None:
    mlmodel = package_model(Doubler(), tmp_path / "pkg", input_example=np.zeros((2, 2)), metadata={"k": "v"})
    on_disk = json.loads((tmp_path / "pkg" / MLMODEL_FILE).read_text())
    assert on_disk == mlmodel
    assert set(mlmodel["files"]) == {"model.pkl", "requirements.txt", "input_example.json"}
    assert all(v.startswith("sha256:") for v in mlmodel["files"].values())
    assert mlmodel["flavor"]["name"] == "python" and mlmodel["metadata"] == {"k": "v"}
    with pytest.raises(InvalidArgument, match="not empty"):
        package_model(Doubler(), tmp_path / "pkg")
    with pytest.raises(InvalidArgument, match="not a model package"):
        load_directory(tmp_path)
