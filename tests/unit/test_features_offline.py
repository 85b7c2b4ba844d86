"""Point-in-time-correct training sets (``modelyard.features.offline`` through the service).

The rules: never a value from after the entity row's timestamp; nothing older than the view's
TTL; every entity row kept, in order, with the features of each view it has; bad input is one
clear error. A brute-force pandas reference checks the join on random data.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modelyard.core.errors import InvalidArgument, UnknownFeature
from modelyard.features import (
    DuckConfig,
    Feature,
    FeatureEntity,
    FeatureService,
    FeatureSource,
    FeatureStoreService,
    FeatureView,
)
from modelyard.store import Stores, open_stores

T0 = datetime(2024, 1, 1)
DRIVER = FeatureEntity(name="driver", join_keys=["driver_id"])


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    with open_stores(f"sqlite:///{tmp_path / 'm.db'}", artifacts=None) as opened:
        yield opened


@pytest.fixture(params=["numpy", "duckdb"])
def service(stores: Stores, tmp_path: Path, request: pytest.FixtureRequest) -> FeatureStoreService:
    """Each test runs on both engines: the in-memory one and the DuckDB ASOF query."""
    duck = DuckConfig(temp_directory=tmp_path / "spill", memory_limit="1GB", engine=request.param)
    return FeatureStoreService(stores.features, duck=duck)


def write(tmp_path: Path, name: str, frame: pd.DataFrame) -> str:
    path = tmp_path / f"{name}.parquet"
    frame.to_parquet(path)
    return str(path)


def stats_view(path: str, *, name: str = "stats", ttl: int | None = None, dtype: str = "int64") -> FeatureView:
    return FeatureView(
        name=name,
        entities=[DRIVER],
        source=FeatureSource.parquet(path),
        features=[Feature(name=f"{name}_value", dtype=dtype)],  # type: ignore[arg-type]
        ttl_seconds=ttl,
    )


def test_a_value_from_after_the_entity_row_never_leaks(service: FeatureStoreService, tmp_path: Path) -> None:
    source = pd.DataFrame(
        {
            "driver_id": [1, 1, 1],
            "event_timestamp": [at(1), at(3), at(5)],
            "stats_value": [10, 30, 50],
        }
    )
    service.apply([DRIVER, stats_view(write(tmp_path, "s", source))])
    entities = pd.DataFrame({"driver_id": [1, 1, 1, 1], "event_timestamp": [at(2), at(3), at(0.5), at(9)]})
    naive = entities.merge(source.drop_duplicates("driver_id", keep="last"), on="driver_id")
    assert list(naive["stats_value"]) == [50, 50, 50, 50]  # a plain join by key leaks the future
    result = service.get_training_set(entities, ["stats:stats_value"]).to_pandas()
    assert list(result["event_timestamp"]) == list(entities["event_timestamp"])  # the entity frame's order
    assert result["stats_value"].tolist()[:2] == [10, 30]  # at t=3 the row stamped t=3 is already known
    assert pd.isna(result["stats_value"][2])  # nothing was known before t=1
    assert result["stats_value"][3] == 50


def test_ttl_is_respected(service: FeatureStoreService, tmp_path: Path) -> None:
    source = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [at(0), at(0)], "stats_value": [7, 8]})
    service.apply([DRIVER, stats_view(write(tmp_path, "s", source), ttl=3600)])
    entities = pd.DataFrame(
        {
            "driver_id": [1, 1, 2],
            "event_timestamp": [at(1), at(1) + timedelta(seconds=1), at(0.5)],
        }
    )
    values = service.get_training_set(entities, ["stats:stats_value"]).to_pandas()["stats_value"].tolist()
    assert values[0] == 7 and pd.isna(values[1]) and values[2] == 8  # exactly the TTL is still fresh


def test_a_row_keeps_one_views_features_when_another_has_none(service: FeatureStoreService, tmp_path: Path) -> None:
    a = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [at(0), at(0)], "a_value": [1.5, 2.5]})
    b = pd.DataFrame({"driver_id": [2], "event_timestamp": [at(0)], "b_value": [20.0]})
    service.apply(
        [
            DRIVER,
            stats_view(write(tmp_path, "a", a), name="a", dtype="float64"),
            stats_view(write(tmp_path, "b", b), name="b", dtype="float64", ttl=60),
        ]
    )
    entities = pd.DataFrame(
        {
            "driver_id": [1, 2, 3, 2, 2],
            "event_timestamp": [at(1), at(0), at(1), at(0), at(2)],
            "label": [0, 1, 0, 1, 1],
        }
    )
    result = service.get_training_set(entities, ["a:a_value", "b:b_value"]).to_pandas()
    assert len(result) == 5  # duplicates and unknown entities are kept
    assert result["label"].tolist() == [0, 1, 0, 1, 1]
    assert result["a_value"].tolist()[:2] == [1.5, 2.5] and pd.isna(result["a_value"][2])
    assert pd.isna(result["b_value"][0]) and result["b_value"][1] == 20.0 and pd.isna(result["b_value"][4])
    assert result["a_value"][4] == 2.5  # b expired (TTL) but a has no TTL


def test_equal_to_a_brute_force_reference_on_random_data(service: FeatureStoreService, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    views = []
    sources = {}
    for name, ttl in (("x", None), ("y", 5 * 3600)):
        n = 400
        # Distinct timestamps per key (ties are unspecified): a permutation of minutes.
        minutes = rng.permutation(48 * 60)[:n]
        frame = pd.DataFrame(
            {
                "driver_id": rng.integers(0, 15, n),
                "event_timestamp": [T0 + timedelta(minutes=int(m)) for m in minutes],
                f"{name}_value": rng.normal(size=n),
            }
        )
        sources[name] = (frame, ttl)
        views.append(stats_view(write(tmp_path, name, frame), name=name, ttl=ttl, dtype="float64"))
    service.apply([DRIVER, *views])
    entities = pd.DataFrame(
        {
            "driver_id": rng.integers(0, 18, 300),
            "event_timestamp": [T0 + timedelta(minutes=int(m), seconds=30) for m in rng.integers(-60, 50 * 60, 300)],
        }
    )
    result = service.get_training_set(entities, ["x:x_value", "y:y_value"]).to_pandas()
    assert len(result) == len(entities)
    for name, (frame, ttl) in sources.items():
        expected = []
        for key, ts in zip(entities["driver_id"], entities["event_timestamp"], strict=True):
            rows = frame[(frame["driver_id"] == key) & (frame["event_timestamp"] <= ts)]
            if ttl is not None:
                rows = rows[rows["event_timestamp"] >= ts - timedelta(seconds=ttl)]
            expected.append(rows.sort_values("event_timestamp")[f"{name}_value"].iloc[-1] if len(rows) else np.nan)
        np.testing.assert_array_equal(result[f"{name}_value"].to_numpy(dtype=float), np.array(expected, dtype=float))
    assert result[["x_value", "y_value"]].notna().any().all()  # the data exercised both outcomes
    assert result[["x_value", "y_value"]].isna().any().all()


def test_inputs_arrow_parquet_and_outputs(service: FeatureStoreService, tmp_path: Path) -> None:
    source = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [at(0), at(0)], "stats_value": [3, 4]})
    service.apply([DRIVER, stats_view(write(tmp_path, "s", source)), FeatureService(name="model", features=["stats"])])
    entities = pd.DataFrame({"driver_id": [2, 1], "event_timestamp": [at(1), at(1)]})
    arrow = service.get_training_set(pa.Table.from_pandas(entities), "model").to_arrow()
    assert arrow.column("stats_value").to_pylist() == [4, 3]
    entity_file = write(tmp_path, "entities", entities)
    with service.get_training_set(entity_file, ["stats@v1:stats_value"], full_feature_names=True) as ts:
        out = ts.to_parquet(tmp_path / "out" / "train.parquet")
        batches = list(ts.to_batches(1))
    assert pd.read_parquet(out)["stats__stats_value"].tolist() == [4, 3]
    assert sum(b.num_rows for b in batches) == 2


def test_transformation_and_sql_sources(service: FeatureStoreService, tmp_path: Path) -> None:
    path = write(tmp_path, "raw", pd.DataFrame({"driver_id": [1], "event_timestamp": [at(0)], "trips": [4]}))
    doubled = FeatureView(
        name="doubled",
        entities=[DRIVER],
        source=FeatureSource.parquet(path),
        features=[Feature(name="trips2", dtype="int64")],
        transformation="SELECT driver_id, event_timestamp, trips * 2 AS trips2 FROM source",
    )
    query = FeatureView(
        name="query",
        entities=[DRIVER],
        source=FeatureSource.sql(f"SELECT driver_id, event_timestamp, trips + 1 AS plus FROM read_parquet('{path}')"),
        features=[Feature(name="plus", dtype="float64")],
    )
    service.apply([DRIVER, doubled, query])
    entities = pd.DataFrame({"driver_id": [1], "event_timestamp": [at(1)]})
    result = service.get_training_set(entities, ["doubled:trips2", "query:plus"]).to_pandas()
    assert result["trips2"].tolist() == [8] and result["plus"].tolist() == [5]


def test_bad_input_is_one_clear_error(service: FeatureStoreService, tmp_path: Path) -> None:
    source = pd.DataFrame({"driver_id": [1], "event_timestamp": [at(0)], "stats_value": ["7"]})
    path = write(tmp_path, "s", source)
    service.apply([DRIVER, stats_view(path, dtype="string")])
    good = pd.DataFrame({"driver_id": [1], "event_timestamp": [at(1)]})
    with pytest.raises(UnknownFeature, match="closest: stats_value"):
        service.get_training_set(good, ["stats:stats_valu"])
    with pytest.raises(UnknownFeature, match="closest: stats"):
        service.get_training_set(good, ["stat:stats_value"])
    with pytest.raises(InvalidArgument, match="no join key 'driver_id'"):
        service.get_training_set(good.rename(columns={"driver_id": "id"}), ["stats:stats_value"])
    with pytest.raises(InvalidArgument, match="no timestamp column 'event_timestamp'"):
        service.get_training_set(good.drop(columns=["event_timestamp"]), ["stats:stats_value"])
    aware = good.assign(event_timestamp=[datetime(2024, 1, 1, 1, tzinfo=UTC)])
    with pytest.raises(InvalidArgument, match="time zones mixed"):
        service.get_training_set(aware, ["stats:stats_value"])
    with pytest.raises(InvalidArgument, match="join key 'driver_id' is VARCHAR"):
        service.get_training_set(good.assign(driver_id=["1"]), ["stats:stats_value"])
    with pytest.raises(InvalidArgument, match="a pandas DataFrame"):
        service.get_training_set([1, 2], ["stats:stats_value"])
    with pytest.raises(InvalidArgument, match="invalid feature reference"):
        service.get_training_set(good, ["stats"])
    # The source disagrees with the declared schema.
    service.apply([stats_view(path, dtype="int64")])
    with pytest.raises(InvalidArgument, match="declared int64 but its source column is VARCHAR"):
        service.get_training_set(good, ["stats:stats_value"])
    service.apply([stats_view(str(tmp_path / "missing.parquet"), name="gone")])
    with pytest.raises(InvalidArgument, match="cannot read the source of gone@v1"):
        service.get_training_set(good, ["gone:gone_value"])
    with pytest.raises(InvalidArgument, match="full_feature_names"):
        service.get_training_set(good.assign(stats_value=1), ["stats@v1:stats_value"])


def test_ties_nulls_and_two_keys(service: FeatureStoreService, tmp_path: Path) -> None:
    """Two join keys (a number and a text), a tie on equal timestamps, null keys and times on both
    sides, a null feature value: nulls match nothing, a tie takes one of the tied rows."""
    trip = FeatureEntity(name="trip", join_keys=["driver_id", "city"])
    source = pa.table(
        {
            "driver_id": pa.array([1, 1, 1, 1, 2, None, 1], pa.int64()),
            "city": ["a", "a", "b", "a", "a", "a", None],
            "event_timestamp": pa.array([at(0), at(2), at(0), at(2), at(0), at(0), at(0)], pa.timestamp("us")),
            "v": pa.array([1.0, 2.0, 3.0, 2.5, None, 9.0, 9.0]),
        }
    )
    path = tmp_path / "trips.parquet"
    import pyarrow.parquet as pq

    pq.write_table(source, path)
    view = FeatureView(
        name="trips",
        entities=[trip],
        source=FeatureSource.parquet(str(path)),
        features=[Feature(name="v", dtype="float64")],
    )
    service.apply([trip, view])
    entities = pa.table(
        {
            "driver_id": pa.array([1, 1, 1, 2, None, 1, 1, 3], pa.int64()),
            "city": ["a", "a", "b", "a", "a", None, "a", "a"],
            "event_timestamp": pa.array([at(1), at(3), at(5), at(1), at(1), at(1), None, at(1)], pa.timestamp("us")),
        }
    )
    result = service.get_training_set(entities, ["trips:v"]).to_arrow()
    values = result.column("v").to_pylist()
    assert result.num_rows == 8
    assert values[0] == 1.0  # (1, a) at hour 1: the row at hour 0
    assert values[1] in (2.0, 2.5)  # the tie at hour 2: one of the two
    assert values[2] == 3.0  # (1, b): the other city's row
    assert values[3] is None  # the value itself is null
    assert values[4:] == [None, None, None, None]  # null key, null key, null time, unknown key
    assert result.column("city").to_pylist() == entities.column("city").to_pylist()  # order kept


def test_time_zones_compare_instants_and_precisions_mix(service: FeatureStoreService, tmp_path: Path) -> None:
    """Aware times in different zones compare as instants; naive nanosecond and microsecond times mix."""
    utc = pd.Timestamp("2024-01-01 12:00", tz="UTC")
    source = pd.DataFrame(
        {
            "driver_id": [1, 1],
            "event_timestamp": pd.DatetimeIndex([utc, utc + pd.Timedelta(hours=2)]).as_unit("us"),
            "stats_value": [1, 2],
        }
    )
    service.apply([DRIVER, stats_view(write(tmp_path, "s", source), ttl=3 * 3600)])
    times = pd.DatetimeIndex([utc + pd.Timedelta(hours=h) for h in (1, 2, 5)])
    entities = pd.DataFrame({"driver_id": [1, 1, 1], "event_timestamp": times.tz_convert("Europe/Berlin")})
    values = service.get_training_set(entities, ["stats:stats_value"]).to_pandas()["stats_value"].tolist()
    assert values == [1, 2, 2]  # 14:00 Berlin is 13:00 UTC; at 17:00 UTC the 14:00 row is within 3 h
    naive = source.assign(event_timestamp=source["event_timestamp"].dt.tz_localize(None).dt.as_unit("ns"))
    naive.loc[1, "event_timestamp"] += pd.Timedelta(nanoseconds=1)
    service.apply([stats_view(write(tmp_path, "n", naive), name="stats", ttl=3 * 3600)])
    at_14 = pd.Timestamp("2024-01-01 14:00")
    entities = pd.DataFrame({"driver_id": [1, 1], "event_timestamp": [at_14, at_14 + pd.Timedelta(microseconds=1)]})
    entities["event_timestamp"] = entities["event_timestamp"].dt.as_unit("us")
    values = service.get_training_set(entities, ["stats:stats_value"]).to_pandas()["stats_value"].tolist()
    assert values == [1, 2]  # the row 1 ns after 14:00 is not known at 14:00, it is 1 µs later


def test_the_engine_is_chosen_by_size_and_source(stores: Stores, tmp_path: Path) -> None:
    n = 200_000  # 200,000 rows x 3 values x 8 bytes = 4.8 MB: over a quarter of 16 MB, under one of 1 GB
    source = pd.DataFrame(
        {"driver_id": np.arange(n) + 1, "event_timestamp": [at(0)] * n, "stats_value": np.arange(n) + 5}
    )
    path = write(tmp_path, "s", source)
    query = FeatureView(
        name="query",
        entities=[DRIVER],
        source=FeatureSource.sql(f"SELECT * FROM read_parquet('{path}')"),
        features=[Feature(name="stats_value", dtype="int64")],
    )
    entities = pd.DataFrame({"driver_id": [1], "event_timestamp": [at(1)]})
    chosen = {}
    for limit in ("1GB", "16MB"):
        service = FeatureStoreService(stores.features, duck=DuckConfig(memory_limit=limit))
        service.apply([DRIVER, stats_view(path), query])
        for ref in ("stats:stats_value", "query:stats_value"):
            with service.get_training_set(entities, [ref]) as ts:
                chosen[limit, ref] = ts.engine
                assert ts.to_pandas()["stats_value"].tolist() == [5]
    assert chosen == {
        ("1GB", "stats:stats_value"): "numpy",  # Parquet that fits a quarter of the memory
        ("1GB", "query:stats_value"): "duckdb",  # a SQL source: its size is unknown beforehand
        ("16MB", "stats:stats_value"): "duckdb",  # too big for the memory: DuckDB spills
        ("16MB", "query:stats_value"): "duckdb",
    }
    with pytest.raises(InvalidArgument, match="invalid engine"):
        FeatureStoreService(stores.features, duck=DuckConfig(engine="spark")).get_training_set(entities, [ref])


def test_a_pandas_utc_nanosecond_parquet_source_is_time_zone_aware(
    service: FeatureStoreService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pandas writes ``datetime64[ns, UTC]`` as Parquet timestamps annotated isAdjustedToUTC, which
    DuckDB reads as TIMESTAMPTZ_NS: aware, so it joins aware entity rows (at any precision, to the
    nanosecond), naive ones are refused, and materialisation takes its instants whatever the
    session's time zone."""
    from modelyard.features.offline import source_sql
    from modelyard.features.serving import read_rows_for_window

    utc = pd.Timestamp("2024-01-01 12:00", tz="UTC")
    times = pd.DatetimeIndex([utc, utc + pd.Timedelta(hours=2), utc + pd.Timedelta(hours=4, nanoseconds=1)])
    source = pd.DataFrame({"driver_id": [1, 1, 1], "event_timestamp": times.as_unit("ns"), "stats_value": [1, 2, 3]})
    service.apply([DRIVER, stats_view(write(tmp_path, "s", source), ttl=3 * 3600)])
    hours = pd.DatetimeIndex([utc + pd.Timedelta(hours=h) for h in (1, 2, 5, 1)])
    for unit in ("us", "ns"):
        entities = pd.DataFrame({"driver_id": [1, 1, 1, 2], "event_timestamp": hours.as_unit(unit)})
        frame = service.get_training_set(entities, ["stats:stats_value"]).to_pandas()
        values = frame["stats_value"].tolist()
        assert values[:3] == [1, 2, 3] and pd.isna(values[3])
        assert frame["event_timestamp"].dt.tz is not None  # still aware, on both engines
        assert frame["event_timestamp"].tolist() == entities["event_timestamp"].tolist()
    at_16 = pd.DatetimeIndex([utc + pd.Timedelta(hours=4)]).as_unit("ns")
    entities = pd.DataFrame({"driver_id": [1], "event_timestamp": at_16})
    assert service.get_training_set(entities, ["stats:stats_value"]).to_pandas()["stats_value"].tolist() == [2]
    for naive in (hours.tz_localize(None).as_unit("ns"), hours.tz_localize(None).as_unit("us")):
        entities = pd.DataFrame({"driver_id": [1, 1, 1, 2], "event_timestamp": naive})
        with pytest.raises(InvalidArgument, match="time zones mixed: the timestamps of stats@v1 are time-zone aware"):
            service.get_training_set(entities, ["stats:stats_value"])
    monkeypatch.setenv("TZ", "America/New_York")  # DuckDB's session time zone
    view = service.view("stats")
    start = int(utc.timestamp() * 1000)
    rows = list(read_rows_for_window(view, source_sql(view, None), start, start + 3 * 3_600_000, service.duck))
    assert [(r[1], r[2]) for r in rows] == [(start + 2 * 3_600_000, [2])]


def test_a_key_column_of_nulls_only_keeps_its_rows_with_nulls(service: FeatureStoreService, tmp_path: Path) -> None:
    """pandas makes an all-None key column an object column that Arrow and DuckDB type as NULL: not
    a type mismatch, a null key — it matches nothing and its rows are kept, with null features."""
    trip = FeatureEntity(name="trip", join_keys=["driver_id", "city"])
    source = pd.DataFrame({"driver_id": [1, 2], "city": ["a", "b"], "event_timestamp": [at(0), at(0)], "v": [1, 2]})
    view = FeatureView(
        name="trips",
        entities=[trip],
        source=FeatureSource.parquet(write(tmp_path, "trips", source)),
        features=[Feature(name="v", dtype="int64")],
    )
    service.apply([DRIVER, trip, view, stats_view(write(tmp_path, "s", source.rename(columns={"v": "stats_value"})))])
    for null_key in ("driver_id", "city"):
        entities = pd.DataFrame({"driver_id": [1, 2], "city": ["a", "b"], "event_timestamp": [at(1), at(1)]})
        entities[null_key] = pd.Series([None, None], dtype=object)
        result = service.get_training_set(entities.assign(label=[7, 8]), ["trips:v", "stats:stats_value"]).to_arrow()
        assert result.column("label").to_pylist() == [7, 8]  # kept, in order
        assert result.column("v").to_pylist() == [None, None]
        expected = [None, None] if null_key == "driver_id" else [1, 2]  # the other view still matches
        assert result.column("stats_value").to_pylist() == expected


def test_a_parquet_file_read_in_memory_gives_duckdbs_types_and_values(stores: Stores, tmp_path: Path) -> None:
    """The in-memory engine reads a one-file Parquet view with Arrow's reader, cast to the schema
    DuckDB gives the same query: a categorical (dictionary) text feature, a nullable integer and a
    nanosecond UTC timestamp feature come out as the DuckDB engine's do, value for value."""
    utc = pd.Timestamp("2024-01-01", tz="UTC")
    source = pd.DataFrame(
        {
            "driver_id": [1, 1, 2],
            "event_timestamp": pd.DatetimeIndex([utc, utc + pd.Timedelta(hours=1), utc]).as_unit("ns"),
            "city": pd.Categorical(["a", "b", "c"]),
            "trips": pd.array([1, None, 3], dtype="Int64"),
            "seen": pd.DatetimeIndex([utc, utc, utc + pd.Timedelta(seconds=1)]).as_unit("ns"),
        }
    )
    view = FeatureView(
        name="rich",
        entities=[DRIVER],
        source=FeatureSource.parquet(write(tmp_path, "rich", source)),
        features=[
            Feature(name="city", dtype="string"),
            Feature(name="trips", dtype="int64"),
            Feature(name="seen", dtype="timestamp"),
        ],
    )
    entities = pd.DataFrame(
        {"driver_id": [1, 2, 1, 3], "event_timestamp": [utc + pd.Timedelta(hours=h) for h in (2, 1, 0.5, 1)]}
    )
    tables = {}
    for engine in ("numpy", "duckdb"):
        duck = DuckConfig(temp_directory=tmp_path / "spill", engine=engine)
        service = FeatureStoreService(stores.features, duck=duck)
        service.apply([DRIVER, view])
        with service.get_training_set(entities, ["rich:city", "rich:trips", "rich:seen"]) as ts:
            assert ts.engine == engine
            tables[engine] = ts.to_arrow()
    features = ["city", "trips", "seen"]  # (the entity columns keep the frame's own Arrow types)
    assert tables["numpy"].select(features).schema == tables["duckdb"].select(features).schema
    assert tables["numpy"].select(features).to_pylist() == tables["duckdb"].select(features).to_pylist()
    assert tables["numpy"].column("city").to_pylist() == ["b", "c", "a", None]
    assert tables["numpy"].column("trips").to_pylist() == [None, 3, 1, None]
