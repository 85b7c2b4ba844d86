"""The OnlineStore contract (``modelyard.features.online.base``): SQLite and Redis pass one suite.

Then the service over each: materialisation (windowed and incremental), online reads with
unknown entities, TTL and freshness. Redis runs on 127.0.0.1:6379 with a key prefix of its own
per test, removed afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from modelyard.core.errors import InvalidArgument
from modelyard.core.features import (
    Feature,
    FeatureEntity,
    FeatureSource,
    FeatureView,
    FeatureViewVersion,
)
from modelyard.features import FeatureStoreService
from modelyard.features.online import OnlineStore, encode_key, open_online_store
from modelyard.store import Stores, open_stores

ONLINE = ["sqlite", "redis"]


@pytest.fixture(params=ONLINE)
def online(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    if request.param == "sqlite":
        store = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
        yield store
        store.close()
        return
    pytest.importorskip("redis")
    prefix = f"modelyard-test:{uuid.uuid4().hex}:"
    store = open_online_store(f"redis://127.0.0.1:6379/0?prefix={prefix}")
    yield store
    client = store.client  # type: ignore[attr-defined]
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    store.close()


def version(name: str = "v", number: int = 1, features: tuple[str, ...] = ("a", "b", "c")) -> FeatureViewVersion:
    definition = FeatureView(
        name=name,
        entities=["e"],
        source=FeatureSource.parquet("/x.parquet"),
        features=[Feature(name=f, dtype="float64") for f in features],
    )
    return FeatureViewVersion(
        name=name, version=number, digest="sha256:" + "0" * 64, created_at=0, definition=definition, join_keys=("k",)
    )


def test_newest_row_wins_in_any_order(online: OnlineStore) -> None:
    view = version()
    k1, k2 = encode_key([1]), encode_key(["1"])
    assert online.write(view, [(k1, 20, [2.0, "x", None]), (k1, 10, [1.0, "old", 1]), (k2, 5, [5.0, True, 3])]) == 3
    lookup = online.reader(view, ["c", "a"])
    assert lookup([k1, k2, encode_key([3])]) == [(20, (None, 2.0)), (5, (3, 5.0)), None]
    online.write(view, [(k1, 15, [9.0, "late", 9])])  # older than what is stored: ignored
    assert lookup([k1]) == [(20, (None, 2.0))]
    online.write(view, [(k1, 20, [7.0, "same time", 7])])  # an equal time replaces
    assert lookup([k1]) == [(20, (7, 7.0))]
    assert online.reader(view, ["b"])([k1]) == [(20, ("same time",))]


def test_versions_are_apart_and_drop_removes_one(online: OnlineStore) -> None:
    v1, v2 = version(number=1), version(number=2, features=("a",))
    key = encode_key([1, "x"])
    online.write(v1, [(key, 1, [1.0, 2.0, 3.0])])
    assert online.reader(v2, ["a"])([key]) == [None]  # nothing materialised for v2 yet
    online.write(v2, [(key, 1, [10.0])])
    assert online.reader(v1, ["a"])([key]) == [(1, (1.0,))]
    assert online.reader(v2, ["a"])([key]) == [(1, (10.0,))]
    online.drop(v1)
    assert online.reader(v1, ["a"])([key]) == [None]
    assert online.reader(v2, ["a"])([key]) == [(1, (10.0,))]


def test_several_views_read_together(online: OnlineStore) -> None:
    """``readers``: one key list per view in, one hit list per view out, each view's keys under
    its own version (the same key in two views is two rows), a view with no keys gets none."""
    v1, v2, v3 = version(number=1), version(name="other", features=("a", "b")), version(number=3)
    k1, k2 = encode_key([1]), encode_key([2])
    online.write(v1, [(k1, 1, [1.0, "x", 1])])
    online.write(v2, [(k1, 2, [10.0, 20.0]), (k2, 3, [30.0, 40.0])])
    lookup = online.readers([(v1, ["b", "a"]), (v2, ["b"]), (v3, ["a"])])
    assert lookup([[k1, k2], [k2, k1, k2], []]) == [
        [(1, ("x", 1.0)), None],
        [(3, (40.0,)), (2, (20.0,)), (3, (40.0,))],
        [],
    ]
    assert lookup([[], [], [k1]]) == [[], [], [None]]


def test_a_row_of_the_wrong_width_is_refused(online: OnlineStore) -> None:
    with pytest.raises(InvalidArgument, match="3 features"):
        online.write(version(), [(encode_key([1]), 1, [1.0])])


def test_keys_keep_their_types() -> None:
    assert encode_key([1]) == encode_key([1.0]) != encode_key(["1"]) != encode_key([True])
    assert encode_key([1, "a"]) != encode_key(["1\x1fsa"])


# --- the service over each online store -------------------------------------------------------

T0 = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    with open_stores(f"sqlite:///{tmp_path / 'm.db'}", artifacts=None) as opened:
        yield opened


def test_materialize_and_read_online(online: OnlineStore, stores: Stores, tmp_path: Path) -> None:
    path = tmp_path / "stats.parquet"
    frame = pd.DataFrame(
        {
            "driver_id": [1, 1, 2, 3],
            "event_timestamp": [T0, T0 + timedelta(hours=2), T0 + timedelta(hours=1), T0 + timedelta(days=3)],
            "trips": [1, 2, 20, 30],
            "when": [T0, T0, T0, T0],
        }
    )
    frame.to_parquet(path)
    driver = FeatureEntity(name="driver", join_keys=["driver_id"])
    stats = FeatureView(
        name="stats",
        entities=[driver],
        source=FeatureSource.parquet(str(path)),
        features=[Feature(name="trips", dtype="int64"), Feature(name="when", dtype="timestamp")],
    )
    service = FeatureStoreService(stores.features, online=online)
    service.apply([driver, stats])
    runs = service.materialize(T0, T0 + timedelta(days=1))
    assert [(r.view, r.rows, r.target) for r in runs] == [("stats", 2, online.name)]
    rows = [{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 3}, {"driver_id": None}, {"driver_id": "1"}]
    result = service.get_online_features(rows, ["stats:trips", "stats:when"])
    assert result.features == ["trips", "when"] and result.views == ["stats@v1"]
    assert result.values[:2] == [[2, T0.isoformat()], [20, T0.isoformat()]]
    assert result.values[2:] == [[None, None]] * 3
    assert [f[0] for f in result.found] == [True, True, False, False, False]
    assert result.to_dict()["trips"] == [2, 20, None, None, None]
    # Incremental: only what came after the last run's end.
    later = service.materialize_incremental(T0 + timedelta(days=4))
    assert [(r.start, r.rows) for r in later] == [(runs[0].end, 1)]
    assert service.materialize_incremental(T0 + timedelta(days=4)) == []  # nothing new
    assert service.get_online_features([{"driver_id": 3}], ["stats:trips"]).values == [[30]]
    fresh = service.freshness()
    assert fresh[0].view == "stats@v1" and fresh[0].rows == 3
    assert fresh[0].materialized_until == int((T0 + timedelta(days=4)).timestamp() * 1000)
    assert fresh[0].lag_seconds is not None and fresh[0].lag_seconds >= 0
    with pytest.raises(InvalidArgument, match="no join key 'driver_id'"):
        service.get_online_features([{"id": 1}], ["stats:trips"])


def test_online_reads_respect_the_ttl(online: OnlineStore, stores: Stores, tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    now = datetime.now(UTC)
    pd.DataFrame(
        {
            "driver_id": [1, 2],
            "event_timestamp": [now - timedelta(hours=3), now - timedelta(minutes=1)],
            "x": [1.0, 2.0],
        }
    ).to_parquet(path)
    driver = FeatureEntity(name="driver", join_keys=["driver_id"])
    view = FeatureView(
        name="recent",
        entities=[driver],
        source=FeatureSource.parquet(str(path)),
        features=[Feature(name="x", dtype="float64")],
        ttl_seconds=3600,
    )
    service = FeatureStoreService(stores.features, online=online)
    service.apply([driver, view])
    service.materialize_incremental()
    result = service.get_online_features([{"driver_id": 1}, {"driver_id": 2}], ["recent:x"])
    assert result.values == [[None], [2.0]] and result.found == [[False], [True]]


def test_enrich_and_parity_of_a_pinned_model(online: OnlineStore, stores: Stores, tmp_path: Path) -> None:
    from modelyard.core.features import FeatureService

    path = tmp_path / "s.parquet"
    now = datetime.now(UTC).replace(microsecond=0)
    frame = pd.DataFrame(
        {
            "driver_id": [1, 2],
            "event_timestamp": [now - timedelta(minutes=5), now - timedelta(minutes=3)],
            "x": [1.5, 2.5],
            "when": [T0, T0],
        }
    )
    frame.to_parquet(path)
    driver = FeatureEntity(name="driver", join_keys=["driver_id"])
    view = FeatureView(
        name="live",
        entities=[driver],
        source=FeatureSource.parquet(str(path)),
        features=[Feature(name="x", dtype="float64"), Feature(name="when", dtype="timestamp")],
        ttl_seconds=3600,
    )
    service = FeatureStoreService(stores.features, online=online)
    service.apply([driver, view, FeatureService(name="model", features=[view])])
    service.pin_model("churn", 1, "model")
    service.materialize_incremental()
    rows = [{"driver_id": 2}, {"driver_id": 1}, {"driver_id": 7}]
    enriched = service.enrich(rows, "churn", 1)
    assert enriched.values == [[2.5, T0.isoformat()], [1.5, T0.isoformat()], [None, None]]
    report = service.parity(rows, "model@v1")
    assert report.ok and report.compared == 6
    # A newer row the online store has not seen yet: parity reports the stale value.
    pd.concat(
        [
            frame,
            pd.DataFrame({"driver_id": [1], "event_timestamp": [now - timedelta(minutes=1)], "x": [9.0], "when": [T0]}),
        ]
    ).to_parquet(path)
    stale = service.parity(rows, "model@v1")
    assert stale.mismatches == [(1, "x", 9.0, 1.5)]
