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


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_ingest_stream_pushes_online_from_the_cli(
    backend: str, fresh_sdk: Path, tmp_path: Path, redis_client: Any, redis_url: str, redis_prefix: str
) -> None:
    """``modelyard ingest stream --online VIEW``: rows reach the online store (SQLite, the
    default, or Redis with --online-store) as each micro-batch commits; messages delivered
    again (a second consumer group reads the stream from its start) store and push nothing."""
    from typer.testing import CliRunner

    import modelyard
    from modelyard.cli.main import app
    from modelyard.sdk.datasets import service as modelyard_datasets

    online_uri = (
        f"sqlite:///{fresh_sdk / 'online.db'}" if backend == "sqlite" else f"{redis_url}?prefix={redis_prefix}online:"
    )
    driver = FeatureEntity(name="driver", join_keys=["driver_id"])
    live = FeatureView(
        name="live_trips",
        entities=[driver],
        source=FeatureSource.parquet(str(tmp_path / "unused.parquet")),
        features=[Feature(name="trips", dtype="int64")],
        transformation="SELECT driver_id, CAST(ts AS TIMESTAMPTZ) AS event_timestamp, trips FROM source",
    )
    modelyard.feature_store.apply([driver, live])
    stream = redis_prefix + "trips"
    for key, ts, trips in [(1, "2026-01-01T10:00:00+00:00", 3), (2, "2026-01-01T10:00:00+00:00", 5)]:
        redis_client.xadd(stream, {"data": orjson.dumps({"driver_id": key, "ts": ts, "trips": trips})})
    args = ["ingest", "stream", "--redis", redis_url, "--stream", stream, "--to", "trips-stream"]
    args += ["--once", "--json-field", "data", "--consumer", "c1", "--online", "live_trips"]
    if backend == "redis":
        args += ["--online-store", online_uri]  # the default (sqlite) is <home>/online.db
    runner = CliRunner()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 rows pushed online to live_trips@v1" in result.output

    online = open_online_store(online_uri)
    service = FeatureStoreService(modelyard.feature_store.service().store, online=online)
    wanted = [{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 3}]
    assert service.get_online_features(wanted, ["live_trips:trips"]).values == [[3], [5], [None]]
    # The next batch is committed, then the consumer dies before it pushed or acknowledged it...
    for key, ts, trips in [(1, "2026-01-01T11:00:00+00:00", 8), (3, "2026-01-01T11:00:00+00:00", 4)]:
        redis_client.xadd(stream, {"data": orjson.dumps({"driver_id": key, "ts": ts, "trips": trips})})

    class Crash:
        def on_read(self, count: int, window: int) -> None:
            pass

        def on_committed(self, batch: Any) -> None:
            raise RuntimeError("killed after the commit")

        def on_sealed(self, batch: Any) -> None:
            pass

    crashed = StreamIngestor(
        modelyard_datasets(),
        RedisStreamSource(redis_client, stream, "modelyard", "c1"),
        "trips-stream",
        parser=MessageParser("data"),
        listener=Crash(),
    )
    with pytest.raises(RuntimeError):
        crashed.run(once=True)
    assert service.get_online_features(wanted, ["live_trips:trips"]).values == [[3], [5], [None]]
    # ...so the messages come again: already stored (not a new version), and pushed this time.
    redis_client.xadd(stream, {"data": orjson.dumps({"driver_id": 2, "ts": "2026-01-01T12:00:00+00:00", "trips": 6})})
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "2 duplicates skipped" in again.output and "trips-stream@v3 1 rows" in again.output
    assert service.get_online_features(wanted, ["live_trips:trips"]).values == [[8], [6], [4]]
    bad = runner.invoke(app, [*args, "--online", "no_such_view"])
    assert bad.exit_code != 0 and "no_such_view" in bad.output and "Traceback" not in bad.output
    online.close()
