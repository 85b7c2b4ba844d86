"""Streaming push (``modelyard.features.streaming.OnlinePush``): micro-batches a Redis Streams
consumer commits reach the online store at once, through the view's transformation, newest row
per entity winning, and a redelivered batch changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from modelyard.data import DatasetService
from modelyard.data.streaming import MessageParser, StreamIngestor
from modelyard.data.streaming.redis_source import RedisStreamSource
from modelyard.features import Feature, FeatureEntity, FeatureSource, FeatureStoreService, FeatureView
from modelyard.features.online import open_online_store
from modelyard.features.streaming import OnlinePush
from modelyard.store import Stores, open_stores


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    with open_stores(f"sqlite:///{tmp_path / 'm.db'}", artifacts=None) as opened:
        yield opened


def test_committed_batches_are_pushed_to_the_online_store(
    stores: Stores, tmp_path: Path, redis_client: Any, redis_prefix: str
) -> None:
    from modelyard.artifacts import open_artifact_store

    datasets = DatasetService(stores.datasets, open_artifact_store(str(tmp_path / "artifacts")), tmp_path / "cache")
    online = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
    service = FeatureStoreService(stores.features, datasets, online=online)
    driver = FeatureEntity(name="driver", join_keys=["driver_id"])
    live = FeatureView(
        name="live_trips",
        entities=[driver],
        source=FeatureSource.parquet(str(tmp_path / "unused.parquet")),  # offline, the stream's archive
        features=[Feature(name="trips", dtype="int64")],
        transformation="SELECT driver_id, CAST(ts AS TIMESTAMPTZ) AS event_timestamp, trips FROM source",
    )
    service.apply([driver, live])
    stream = redis_prefix + "trips"
    events = [
        (1, "2026-01-01T10:00:00+00:00", 3),
        (2, "2026-01-01T10:00:00+00:00", 5),
        (1, "2026-01-01T09:00:00+00:00", 1),
    ]
    for key, ts, trips in events:
        redis_client.xadd(stream, {"data": orjson.dumps({"driver_id": key, "ts": ts, "trips": trips})})
    push = OnlinePush(service, ["live_trips"])
    source = RedisStreamSource(redis_client, stream, "features", "c1")
    ingestor = StreamIngestor(
        datasets, source, "trips-stream", max_rows=2, every=None, parser=MessageParser("data"), listener=push
    )
    sealed = ingestor.run(once=True)
    assert [b.rows for b in sealed] == [2, 1] and push.rows == 3
    result = service.get_online_features([{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 3}], ["live_trips:trips"])
    assert result.values == [[3], [5], [None]]  # driver 1's 09:00 row came later but is older: 3 stays
    push.on_committed(sealed[0])  # a redelivered batch: nothing changes
    assert service.get_online_features([{"driver_id": 1}], ["live_trips:trips"]).values == [[3]]
    online.close()
    datasets.close()
