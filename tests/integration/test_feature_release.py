"""The registry refuses to release a model version pinned to features that no longer hold: its
pinned views (or the dataset versions they read) no longer resolve, or the online store does not
serve what the offline join returns (``features.release.FeaturePinCheck``, a registry release
check). Through the SDK, the CLI (one line, exit 1) and the server (409 JSON); a version whose
features hold, or that has no pin, passes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from typer.testing import CliRunner

import modelyard
from modelyard.cli.main import app
from modelyard.core.errors import ReleaseBlocked
from modelyard.core.registry import ModelState
from modelyard.features import Feature, FeatureEntity, FeatureService, FeatureSource, FeatureView
from modelyard.sdk.models import RegistryClient

T0 = datetime(2024, 3, 1)
runner = CliRunner()


pytestmark = pytest.mark.usefixtures("fresh_sdk")


def definitions(root: Path, *, with_dataset: bool) -> list[object]:
    """A view over a Parquet file and, with ``with_dataset``, one over a dataset version."""
    stats_file = root / "stats.parquet"
    pd.DataFrame({"driver_id": [1, 2, 3], "event_timestamp": [T0, T0, T0], "trips": [5, 9, 2]}).to_parquet(stats_file)
    driver = FeatureEntity(name="driver", join_keys=["driver_id"])
    stats = FeatureView(
        name="stats",
        entities=[driver],
        source=FeatureSource.parquet(str(stats_file)),
        features=[Feature(name="trips", dtype="int64")],
    )
    objects: list[object] = [driver, stats]
    features: list[object] = [stats]
    if with_dataset:
        ratings_file = root / "ratings.parquet"
        pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [T0, T0], "rating": [4.5, 3.0]}).to_parquet(ratings_file)
        modelyard.datasets.add(str(ratings_file), name="ratings")
        ratings = FeatureView(
            name="ratings",
            entities=[driver],
            source=FeatureSource.dataset("ratings@v1"),
            features=[Feature(name="rating", dtype="float64")],
        )
        objects.append(ratings)
        features.append("ratings:rating")
    objects.append(FeatureService(name="churn-features", features=features))
    return objects


def model() -> DummyClassifier:
    return DummyClassifier(strategy="most_frequent").fit([[0], [1], [1]], [0, 1, 1])


def test_sdk_refuses_until_online_matches_offline_and_a_clean_version_passes(tmp_path: Path) -> None:
    modelyard.feature_store.apply(definitions(tmp_path, with_dataset=True))
    registry = RegistryClient()
    pinned = registry.log_model(model(), "churn", actor="ana", project="p")
    unpinned = registry.log_model(model(), "churn", actor="ana", project="p")
    modelyard.feature_store.pin_model("churn", pinned.version, "churn-features")
    registry.transition("churn", pinned.version, "staging", actor="ana")  # staging is not a release

    # Nothing materialised: the online store serves nothing the offline join returns.
    with pytest.raises(ReleaseBlocked, match=r"parity failed for (stats|ratings)@v1: \d+ of \d+ values differ"):
        registry.approve("churn", pinned.version, approver="bob")
    assert registry.approvals("churn", pinned.version) == []
    with pytest.raises(ReleaseBlocked, match="materialise"):
        registry.transition("churn", pinned.version, "production", actor="ana")
    assert registry.get_version("churn", pinned.version).state is ModelState.STAGING

    modelyard.feature_store.materialize(T0, datetime(2024, 3, 2))
    registry.approve("churn", pinned.version, approver="bob")
    assert registry.transition("churn", pinned.version, "production", actor="ana").state is ModelState.PRODUCTION
    # A version with no pin has nothing to check.
    registry.transition("churn", unpinned.version, "staging", actor="ana")
    assert registry.transition("churn", unpinned.version, "production", actor="ana").state is ModelState.PRODUCTION


def test_a_version_whose_pinned_views_no_longer_resolve_is_refused(tmp_path: Path) -> None:
    modelyard.feature_store.apply(definitions(tmp_path, with_dataset=True))
    modelyard.feature_store.materialize(T0, datetime(2024, 3, 2))
    registry = RegistryClient()
    version = registry.log_model(model(), "churn", actor="ana", project="p").version
    modelyard.feature_store.pin_model("churn", version, "churn-features")
    registry.transition("churn", version, "staging", actor="ana")
    modelyard.datasets.remove("ratings@v1")  # the data ratings@v1 was trained on is gone

    with pytest.raises(ReleaseBlocked, match=r"no longer resolve: ratings@v1 reads ratings@v1: .*removed"):
        registry.approve("churn", version, approver="bob")
    result = runner.invoke(app, ["models", "transition", "churn", str(version), "production", "--user", "ana"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "no longer resolve" in lines[0] and "Traceback" not in result.output, result.output
    result = runner.invoke(app, ["models", "approve", "churn", str(version), "--user", "bob"])
    assert result.exit_code == 1 and "cannot be released" in result.output
    assert registry.get_version("churn", version).state is ModelState.STAGING
    assert registry.approvals("churn", version) == []


def test_the_server_refuses_with_a_409_json_body(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelyard.features import FeatureStoreService
    from modelyard.features.online import open_online_store
    from modelyard.store import open_stores
    from tests.fixtures.live_server import sqlite_server

    online_uri = f"sqlite:///{tmp_path / 'online.db'}"
    monkeypatch.setenv("MODELYARD_ONLINE_STORE_URI", online_uri)
    with sqlite_server(tmp_path / "server") as (url, _app), open_stores(url) as stores:
        online = open_online_store(online_uri)
        features = FeatureStoreService(stores.features, online=online)
        features.apply(definitions(tmp_path, with_dataset=False))  # type: ignore[arg-type]
        registry = RegistryClient(stores=stores)
        assert stores.remote and registry.release_checks == []  # over HTTP the server checks
        version = registry.log_model(model(), "churn", actor="ana", project="p").version
        features.pin_model("churn", version, "churn-features")
        registry.transition("churn", version, "staging", actor="ana")

        path = f"{url}/api/v1/models/churn/versions/{version}/transitions"
        response = httpx.post(path, json={"to_state": "production", "actor": "ana"})
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "RELEASE_BLOCKED" and "parity failed for stats@v1" in error["message"]
        with pytest.raises(ReleaseBlocked):  # the client gets the type back
            registry.approve("churn", version, approver="bob")

        features.materialize(T0, datetime(2024, 3, 2))  # recorded on the server, written to the shared store
        assert registry.transition("churn", version, "production", actor="ana").state is ModelState.PRODUCTION
        online.close()
