"""The modelyard side of the tracking benchmark (run with the project's python).

Usage: ``python modelyard_tracking.py --spec JSON --tmp DIR``; prints one JSON line. See ``_common.py``.
modelyard uses its SQL store on a fresh SQLite file in ``DIR``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import _common as c


def _setup(tmp: str) -> Any:
    # Point everything at the fresh directory before modelyard reads its settings.
    os.environ["MODELYARD_HOME"] = str(Path(tmp) / "home")
    import modelyard

    modelyard.set_store_uri(f"sqlite:///{Path(tmp) / 'modelyard.db'}")
    modelyard.set_artifact_uri(str(Path(tmp) / "artifacts"))
    modelyard.set_project(c.PROJECT)
    return modelyard


def _stored_points(my: Any, run_id: str, key: str) -> int | None:
    """How many points of ``key`` the store holds, when the SDK offers a way to ask (else None)."""
    client = my.TrackingClient()
    history = getattr(client, "get_metric_history", None)
    if history is None:
        return None
    return len(history(run_id, key))


def log_metric(spec: dict[str, Any], tmp: str) -> dict[str, Any]:
    my = _setup(tmp)
    n = int(spec["points"])
    values = [c.per_call_value(step) for step in range(n)]
    durations = [0] * n
    clock = time.perf_counter_ns
    log = my.log_metric
    with my.start_run(name="per-call") as run:
        t0 = clock()
        for step in range(n):
            c0 = clock()
            log("loss", values[step], step=step)
            durations[step] = clock() - c0
    # Leaving the block ends the run and flushes the buffer: part of the timing.
    total_s = (clock() - t0) / 1e9
    stored = _stored_points(my, run.id, "loss")
    if stored is None:
        # No history API: at least check the run's latest value is the last one logged.
        df = my.search_runs(project=c.PROJECT, max_results=10)
        ok = len(df) == 1 and abs(float(df["metrics.loss"].iloc[0]) - values[-1]) < 1e-12
    else:
        ok = stored == n
    return {
        "points": n,
        "seconds": total_s,
        "points_per_s": n / total_s,
        "stored_points": stored,
        "ok": bool(ok),
        **c.call_stats_us(durations),
    }


def log_batch(spec: dict[str, Any], tmp: str) -> dict[str, Any]:
    my = _setup(tmp)
    client = my.TrackingClient()
    runs, keys, steps, size = (int(spec[k]) for k in ("runs", "keys", "steps", "batch"))
    # Build the request objects before the clock starts: the same rule on both sides.
    metric = my.Metric
    batches = [
        list(c.chunks([metric(k, v, s, ts) for k, v, s, ts in c.batch_points(r, keys, steps)], size))
        for r in range(runs)
    ]
    run_ids: list[str] = []
    t0 = time.perf_counter()
    for r in range(runs):
        run_id = client.create_run(c.PROJECT, name=f"batch-{r}").id
        for batch in batches[r]:
            client.log_batch(run_id, metrics=batch)
        client.end_run(run_id)
        run_ids.append(run_id)
    total_s = time.perf_counter() - t0
    points = runs * keys * steps
    counts = [_stored_points(my, run_ids[0], f"metric_{k}") for k in range(keys)]
    stored = None if None in counts else sum(counts) * runs  # run 0 checked in full, others alike
    return {
        "points": points,
        "seconds": total_s,
        "points_per_s": points / total_s,
        "stored_points": stored,
        "ok": stored is None or stored == points,
    }


def search(spec: dict[str, Any], tmp: str) -> dict[str, Any]:
    my = _setup(tmp)
    client = my.TrackingClient()
    n, reps = int(spec["runs"]), int(spec["reps"])
    metric = my.Metric
    t0 = time.perf_counter()
    for i in range(n):
        params, metrics = c.search_run_data(i)
        run_id = client.create_run(c.PROJECT, name=f"run-{i}").id
        client.log_batch(run_id, metrics=[metric(k, v, 0, c.BASE_TS_MS) for k, v in metrics.items()], params=params)
        client.end_run(run_id)
    populate_s = time.perf_counter() - t0

    expected = c.expected_search(n)
    timings = c.time_queries(
        {
            "top": (
                lambda: my.search_runs(
                    project=c.PROJECT,
                    filter=c.SEARCH_FILTER,
                    order_by=[c.SEARCH_ORDER_BY],
                    max_results=c.SEARCH_TOP,
                ),
                lambda df: c.check_top_frame(df, expected),
            ),
            "all": (
                lambda: my.search_runs(project=c.PROJECT, max_results=max(n, 10_000)),
                lambda df: len(df) == n,
            ),
        },
        reps,
    )
    return {"runs": n, "populate_s": populate_s, "expected": expected, **timings}


def main() -> None:
    spec, tmp = c.parse_args()
    workload = {"log_metric": log_metric, "log_batch": log_batch, "search": search}[spec["workload"]]
    result = workload(spec, tmp)
    my = sys.modules["modelyard"]
    result.update(tool="modelyard", version=my.__version__, workload=spec["workload"])
    c.emit(result)


if __name__ == "__main__":
    main()
