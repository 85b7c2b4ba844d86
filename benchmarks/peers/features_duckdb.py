"""The floor of the feature-store benchmark: the point-in-time join written by hand as one DuckDB
query (two ASOF LEFT JOINs, TTL as a CASE), over the same Parquet files."""

from __future__ import annotations

import time

import duckdb
from _features_common import TTL_DAYS, VIEWS, emit, parse_args, peak_rss_mb


def main() -> None:
    spec, tmp = parse_args()
    con = duckdb.connect()
    con.execute(f"SET temp_directory = '{tmp}/spill'")
    selects = ["e.row_id", "e.driver_id", "e.event_timestamp"]
    joins = []
    for alias, (view, features) in zip(("a", "b"), VIEWS.items(), strict=True):
        fresh = f"{alias}.event_timestamp >= e.event_timestamp - INTERVAL {TTL_DAYS} DAY"
        selects += [f"CASE WHEN {fresh} THEN {alias}.{f} END AS {f}" for f in features]
        joins.append(
            f"ASOF LEFT JOIN read_parquet('{spec['views'][view]}') {alias} "
            f"ON e.driver_id = {alias}.driver_id AND e.event_timestamp >= {alias}.event_timestamp"
        )
    sql = f"SELECT {', '.join(selects)} FROM read_parquet('{spec['entities']}') e {' '.join(joins)}"
    t0 = time.perf_counter()
    frame = con.sql(sql).df()
    seconds = time.perf_counter() - t0
    frame.to_parquet(spec["out"])
    emit({"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "rows": len(frame)})


if __name__ == "__main__":
    main()
