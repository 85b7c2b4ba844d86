"""The Feast side of the feature-store benchmark (run in Feast's own virtual environment): a local
repository (file offline store, SQLite online store), the same definitions, then
``get_historical_features(...).to_df()`` timed (offline), or the in-process online read of 10
features for 1 entity after ``materialize`` (online)."""

from __future__ import annotations

import logging
import random
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from _features_common import TTL_DAYS, VIEWS, emit, parse_args, peak_rss_mb, percentiles_us

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

from feast import Entity, FeatureStore, FeatureView, Field, FileSource  # noqa: E402
from feast.types import Float64  # noqa: E402
from feast.value_type import ValueType  # noqa: E402


def definitions(spec: dict[str, Any]) -> list[Any]:
    """The entity and the two views over the spec's Parquet files."""
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    views = [
        FeatureView(
            name=view,
            entities=[driver],
            ttl=timedelta(days=TTL_DAYS),
            schema=[Field(name=f, dtype=Float64) for f in features],
            source=FileSource(path=spec["views"][view], timestamp_field="event_timestamp"),
            online=True,
        )
        for view, features in VIEWS.items()
    ]
    return [driver, *views]


def feature_store(spec: dict[str, Any], repo: Path, project: str, online_store: str) -> FeatureStore:
    """A local repository in ``repo`` (file offline store; ``online_store``: the YAML lines
    under ``online_store:``) with the definitions applied."""
    (repo / "feature_store.yaml").write_text(
        f"project: {project}\n"
        f"registry: {repo / 'registry.db'}\n"
        "provider: local\n"
        f"online_store:\n{online_store}"
        "offline_store:\n"
        "  type: file\n"
        "entity_key_serialization_version: 3\n"
    )
    store = FeatureStore(repo_path=str(repo))
    store.apply(definitions(spec))
    return store


def main() -> None:
    spec, tmp = parse_args()
    repo = Path(tmp) / "repo"
    repo.mkdir(parents=True)
    store = feature_store(spec, repo, "bench", f"  type: sqlite\n  path: {repo / 'online.db'}\n")
    refs = [f"{view}:{f}" for view, features in VIEWS.items() for f in features]
    if spec["mode"] == "offline":
        entities = pd.read_parquet(spec["entities"])
        t0 = time.perf_counter()
        frame = store.get_historical_features(entity_df=entities, features=refs).to_df()
        seconds = time.perf_counter() - t0
        frame.to_parquet(spec["out"])
        emit({"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "rows": len(frame)})
        return
    t0 = time.perf_counter()
    store.materialize(datetime(1970, 1, 2, tzinfo=UTC), datetime.fromtimestamp(spec["end_ms"] / 1000, tz=UTC))
    materialize_s = time.perf_counter() - t0
    rng = random.Random(7)
    ids = spec["online_ids"]
    for _ in range(200):
        store.get_online_features(features=refs, entity_rows=[{"driver_id": rng.choice(ids)}]).to_dict()
    durations = []
    values = {}
    for _ in range(spec["online_reads"]):
        key = rng.choice(ids)
        s = time.perf_counter_ns()
        result = store.get_online_features(features=refs, entity_rows=[{"driver_id": key}]).to_dict()
        durations.append(time.perf_counter_ns() - s)
        values[key] = [result[f.split(":")[1]][0] for f in refs]
    emit(
        {"materialize_s": materialize_s, **percentiles_us(durations), "values": {str(k): v for k, v in values.items()}}
    )


if __name__ == "__main__":
    main()
