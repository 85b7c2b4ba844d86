"""Feature statistics per materialisation: each run records the profile of the rows it wrote,
runs merge into the view's current profile, and ``modelyard features drift`` compares it with the
training set's profile (``monitoring.drift.compute_drift``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import modelyard
from modelyard.cli.main import app
from modelyard.stats.profile import CategoricalProfile, NumericProfile

runner = CliRunner()
T0 = datetime(2024, 3, 1)
DRIVERS = 300

DEFINITIONS = """
from modelyard.features import Feature, FeatureEntity, FeatureSource, FeatureView

driver = FeatureEntity(name="driver", join_keys=["driver_id"])
stats = FeatureView(
    name="stats",
    entities=[driver],
    source=FeatureSource.parquet("stats.parquet"),
    features=[
        Feature(name="trips", dtype="int64"),
        Feature(name="rating", dtype="float64"),
        Feature(name="city", dtype="string"),
        Feature(name="active", dtype="bool"),
    ],
)
"""


@pytest.fixture(autouse=True)
def fresh_sdk(modelyard_home: Path) -> Iterator[Path]:
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    yield modelyard_home
    modelyard.set_store_uri(None)


def invoke(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return str(result.output)


def day(n: int, shift: float = 0.0) -> pd.DataFrame:
    """One row per driver on day ``n`` (some ratings missing); ``shift`` moves trips."""
    rng = np.random.default_rng(n)
    rating = rng.normal(4.0, 0.5, DRIVERS)
    rating[::10] = np.nan
    return pd.DataFrame(
        {
            "driver_id": np.arange(DRIVERS),
            "event_timestamp": [T0 + timedelta(days=n, minutes=i) for i in range(DRIVERS)],
            "trips": rng.poisson(10, DRIVERS) + int(shift),
            "rating": rating,
            "city": rng.choice(["paris", "rome", "oslo"], DRIVERS),
            "active": rng.random(DRIVERS) < 0.7,
        }
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    day(0).to_parquet(tmp_path / "stats.parquet")
    (tmp_path / "features.py").write_text(DEFINITIONS)
    modelyard.feature_store.apply(tmp_path / "features.py")
    return tmp_path


def test_a_run_records_the_profile_of_the_rows_it_wrote(repo: Path) -> None:
    runs = modelyard.feature_store.materialize(T0, T0 + timedelta(days=1))
    assert runs[0].rows == DRIVERS and runs[0].profile is not None
    svc = modelyard.feature_store.service()
    prof = svc.run_profile(runs[0])
    assert prof is not None and prof.rows == DRIVERS
    frame = day(0)
    trips, rating, city, active = (prof.columns[c] for c in ("trips", "rating", "city", "active"))
    assert isinstance(trips, NumericProfile) and isinstance(rating, NumericProfile)
    assert trips.n == DRIVERS and trips.mean == pytest.approx(frame["trips"].mean())
    assert (trips.min, trips.max) == (frame["trips"].min(), frame["trips"].max())
    assert rating.missing == int(frame["rating"].isna().sum()) == 30
    assert rating.mean == pytest.approx(frame["rating"].mean())
    assert isinstance(city, CategoricalProfile) and city.counts == frame["city"].value_counts().to_dict()
    assert isinstance(active, CategoricalProfile) and active.kind == "boolean"
    assert active.counts["True"] == int(frame["active"].sum())
    # the run (with its profile) is what the registry lists
    listed = svc.store.list_materializations("stats", 1)
    assert [r.profile for r in listed] == [runs[0].profile]


def test_incremental_runs_merge_into_the_profile_of_all_rows(repo: Path) -> None:
    pd.concat([day(0), day(1)]).to_parquet(repo / "stats.parquet")
    first = modelyard.feature_store.materialize_incremental(T0 + timedelta(days=1))
    second = modelyard.feature_store.materialize_incremental(T0 + timedelta(days=2))
    assert first[0].rows == second[0].rows == DRIVERS
    merged = modelyard.feature_store.profile("stats")
    both = pd.concat([day(0), day(1)])
    assert merged.rows == 2 * DRIVERS
    trips = merged.columns["trips"]
    rating = merged.columns["rating"]
    assert isinstance(trips, NumericProfile) and isinstance(rating, NumericProfile)
    assert trips.n == 2 * DRIVERS and trips.mean == pytest.approx(both["trips"].mean())
    assert trips.variance == pytest.approx(both["trips"].var(ddof=0))
    assert (trips.min, trips.max) == (both["trips"].min(), both["trips"].max())
    assert rating.missing == 60
    city = merged.columns["city"]
    assert isinstance(city, CategoricalProfile) and city.counts == both["city"].value_counts().to_dict()
    shown = json.loads(invoke("features", "show", "stats", "--json"))
    assert shown["profile"]["rows"] == 2 * DRIVERS and shown["profile"]["runs"] == 2
    by_name = {f["name"]: f for f in shown["profile"]["features"]}
    assert by_name["rating"]["missing_share"] == pytest.approx(0.1)
    assert by_name["trips"]["max"] == both["trips"].max()
    assert "materialised profile: 600 rows in 2 run(s)" in invoke("features", "show", "stats")


def test_drift_flags_a_shifted_feature(repo: Path, tmp_path: Path) -> None:
    entities = tmp_path / "entities.parquet"
    pd.DataFrame({"driver_id": np.arange(DRIVERS), "event_timestamp": [T0 + timedelta(days=1)] * DRIVERS}).to_parquet(
        entities
    )
    invoke("features", "training-set", str(entities), "-f", "stats:trips", "-f", "stats:rating", "--save", "train")
    # the saved training set keeps the profile of the view's features in it
    svc = modelyard.feature_store.service()
    (link,) = svc.store.list_views_of_training_set("train", 1)
    assert link.profile is not None
    ref, kept = svc.training_profile(svc.view("stats"), "train@v1")
    assert ref == "train@v1" and kept.rows == DRIVERS and list(kept.columns) == ["trips", "rating"]
    trips = kept.columns["trips"]
    assert isinstance(trips, NumericProfile) and trips.mean == pytest.approx(day(0)["trips"].mean())
    invoke("features", "materialize", "--end", "2024-03-02T00:00:00")
    same = json.loads(invoke("features", "drift", "stats", "--json"))  # default: the newest training set
    assert same["against"] == "train@v1" and not same["dataset_drift"]
    assert {c["column"] for c in same["columns"]} == {"trips", "rating"}
    # later rows come with trips shifted by 20: served trips drift, ratings do not
    pd.concat([day(0), day(1, shift=20)]).to_parquet(repo / "stats.parquet")
    invoke("features", "materialize", "--end", "2024-03-03T00:00:00")
    out = invoke("features", "drift", "stats", "--against", "train@v1", "--json", code=3)
    shifted = json.loads(out)
    assert shifted["drifted_columns"] == ["trips"] and shifted["dataset_drift"]
    assert shifted["current_rows"] == 2 * DRIVERS and shifted["reference_rows"] == DRIVERS
    assert "drift" in invoke("features", "drift", "stats", code=3)
    result = modelyard.feature_store.drift("stats", "train@v1")
    assert result.drifted_columns == ["trips"]


def test_bad_input_is_one_line(repo: Path) -> None:
    for args in (
        ["features", "drift", "stats"],  # not materialised yet
        ["features", "drift", "nosuch"],
        ["features", "drift", "stats:trips"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code not in (0, 3), (args, result.output)
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    invoke("features", "materialize", "--end", "2024-03-02T00:00:00")
    for args, text in (
        (["features", "drift", "stats"], "no training set"),
        (["features", "drift", "stats", "--against", "missing@v1"], "missing"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code not in (0, 3), (args, result.output)
        assert text in result.output and len(result.output.strip().splitlines()) == 1, result.output


CHECKED = (
    DEFINITIONS
    + """
checked = FeatureView(
    name="checked",
    entities=[driver],
    source=FeatureSource.parquet("stats.parquet"),
    features=[Feature(name="trips", dtype="int64"), Feature(name="rating", dtype="float64")],
    expectations=[
        {{"expect": "between", "column": "trips", "min": 0, "max": {top}}},
        {{"expect": "not_null", "column": "rating"}},
    ],
)
"""
)


def test_expectations_are_checked_per_run_and_reported_on_it(repo: Path) -> None:
    (repo / "features.py").write_text(CHECKED.format(top=12))
    modelyard.feature_store.apply(repo / "features.py")
    out = json.loads(invoke("features", "materialize", "--end", "2024-03-02T00:00:00", "-v", "checked", "--json"))
    frame = day(0)
    over = int((frame["trips"] > 12).sum())
    assert over > 0
    assert out[0]["failed_checks"] == [
        f"0 <= trips <= 12: {over} of {DRIVERS} rows failed",
        f"rating is never null: 30 of {DRIVERS} rows failed",
    ]
    (run,) = modelyard.feature_store.service().store.list_materializations("checked", 1)
    assert list(run.failed_checks) == out[0]["failed_checks"] and run.rows == DRIVERS  # written anyway
    # a view without expectations (or whose rows pass) records none
    (plain,) = modelyard.feature_store.materialize(T0, T0 + timedelta(days=1), views=["stats"])
    assert plain.failed_checks == ()


def test_expectations_materialisation_cannot_check_are_refused(repo: Path) -> None:
    for bad, text in (
        ('{"expect": "unique", "column": "trips"}', "not row-level"),
        ('{"expect": "not_null", "column": "nope"}', "not a feature of the view"),
        ('{"expect": "shiny", "column": "trips"}', "unknown expectation"),
        ('"not_null"', "'expect' key"),
    ):
        source = DEFINITIONS.replace(
            '        Feature(name="active", dtype="bool"),\n    ],',
            f'        Feature(name="active", dtype="bool"),\n    ],\n    expectations=[{bad}],',
        )
        (repo / "features.py").write_text(source)
        result = runner.invoke(app, ["features", "apply", str(repo / "features.py")])
        assert result.exit_code != 0 and text in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
    assert len(modelyard.feature_store.service().store.list_view_versions("stats")) == 1


def test_profile_and_drift_over_a_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the store a server, ``features show``/``drift`` and the SDK read the profile and the
    drift the server computes (``GET .../profile``, ``GET .../drift``) over the runs into its
    online store and the training set where its files are."""
    import httpx

    from tests.fixtures.live_server import sqlite_server

    monkeypatch.setenv("MODELYARD_ONLINE_STORE_URI", f"sqlite:///{tmp_path / 'online.db'}")
    day(0).to_parquet(tmp_path / "stats.parquet")
    (tmp_path / "features.py").write_text(DEFINITIONS)
    entities = tmp_path / "entities.parquet"
    pd.DataFrame({"driver_id": np.arange(DRIVERS), "event_timestamp": [T0 + timedelta(days=1)] * DRIVERS}).to_parquet(
        entities
    )
    with sqlite_server(tmp_path / "server") as (url, _app):
        store = ("--store", url)
        invoke("features", "apply", str(tmp_path / "features.py"), *store)
        bare = httpx.get(f"{url}/api/v1/features/views/stats/versions/1/profile")
        assert bare.status_code == 400 and "materialise it first" in bare.json()["error"]["message"]
        invoke("features", "training-set", str(entities), "-f", "stats:trips", "--save", "train", *store)
        invoke("features", "materialize", "--end", "2024-03-02T00:00:00", *store)
        profile = httpx.get(f"{url}/api/v1/features/views/stats/versions/1/profile").json()
        assert profile["view"] == "stats@v1" and profile["rows"] == DRIVERS and profile["runs"] == 1
        assert [f["name"] for f in profile["features"]] == ["trips", "rating", "city", "active"]
        shown = json.loads(invoke("features", "show", "stats", "--json", *store))
        assert shown["profile"]["rows"] == DRIVERS
        same = json.loads(invoke("features", "drift", "stats", "--json", *store))
        assert same["against"] == "train@v1" and not same["dataset_drift"]
        pd.concat([day(0), day(1, shift=20)]).to_parquet(tmp_path / "stats.parquet")
        invoke("features", "materialize", "--end", "2024-03-03T00:00:00", *store)
        shifted = json.loads(invoke("features", "drift", "stats", "--json", *store, code=3))
        assert shifted["drifted_columns"] == ["trips"] and shifted["current_rows"] == 2 * DRIVERS
        raw = httpx.get(f"{url}/api/v1/features/views/stats/versions/1/drift", params={"against": "train@v1"}).json()
        assert raw["view"] == "stats@v1" and raw["dataset_drift"] and raw["columns"][0]["column"] == "trips"
        modelyard.set_store_uri(url)
        assert modelyard.feature_store.drift("stats").drifted_columns == ["trips"]
        assert modelyard.feature_store.profile("stats").rows == 2 * DRIVERS
        missing = runner.invoke(app, ["features", "drift", "stats", "--against", "missing@v1", *store])
        assert missing.exit_code not in (0, 3) and len(missing.output.strip().splitlines()) == 1, missing.output
