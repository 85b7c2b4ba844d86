"""The modelyard side of the feature-store benchmark: definitions applied to a fresh store, then
``get_training_set(...).to_pandas()`` timed (offline; ``spec["engine"]`` forces an engine, else
the default choice), or the in-process online read of 10 features for 1 entity after a
materialisation into the default SQLite online store (online)."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb  # noqa: F401  (imported before the clock starts, as the other sides import theirs)
from _features_common import TTL_DAYS, VIEWS, emit, parse_args, peak_rss_mb, percentiles_us

from modelyard.features import Feature, FeatureEntity, FeatureSource, FeatureStoreService, FeatureView
from modelyard.features.offline import DuckConfig
from modelyard.features.online import open_online_store
from modelyard.store import open_stores


def definitions(spec: dict[str, Any]) -> list[Any]:
    """The entity and the two views over the spec's Parquet files."""
    driver = FeatureEntity(name="driver", join_keys=["driver_id"])
    views = [
        FeatureView(
            name=view,
            entities=[driver],
            source=FeatureSource.parquet(spec["views"][view]),
            features=[Feature(name=f, dtype="float64") for f in features],
            ttl_seconds=int(timedelta(days=TTL_DAYS).total_seconds()),
        )
        for view, features in VIEWS.items()
    ]
    return [driver, *views]


def main() -> None:
    spec, tmp = parse_args()
    root = Path(tmp)
    stores = open_stores(f"sqlite:///{root / 'm.db'}", artifacts=None)
    online = open_online_store(f"sqlite:///{root / 'online.db'}")
    duck = DuckConfig(temp_directory=root / "spill", engine=spec.get("engine", "auto"))
    service = FeatureStoreService(stores.features, duck=duck, online=online)
    service.apply(definitions(spec))
    refs = [f"{view}:{f}" for view, features in VIEWS.items() for f in features]
    if spec["mode"] == "offline":
        t0 = time.perf_counter()
        with service.get_training_set(spec["entities"], refs) as ts:
            frame = ts.to_pandas()
            engine = ts.engine
        seconds = time.perf_counter() - t0
        frame.to_parquet(spec["out"])
        emit({"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "rows": len(frame), "engine": engine})
        return
    t0 = time.perf_counter()
    service.materialize(0, spec["end_ms"])
    materialize_s = time.perf_counter() - t0
    rng = random.Random(7)
    ids = spec["online_ids"]
    for _ in range(200):  # warm: the prepared plan, the statement cache
        service.get_online_features([{"driver_id": rng.choice(ids)}], refs)
    durations = []
    values = {}
    for _ in range(spec["online_reads"]):
        key = rng.choice(ids)
        s = time.perf_counter_ns()
        result = service.get_online_features([{"driver_id": key}], refs)
        durations.append(time.perf_counter_ns() - s)
        values[key] = result.values[0]
    emit(
        {"materialize_s": materialize_s, **percentiles_us(durations), "values": {str(k): v for k, v in values.items()}}
    )


if __name__ == "__main__":
    main()
