"""The MLflow side of the tracking benchmark (run with the MLflow peer environment's python).

Usage: ``python mlflow_tracking.py --spec JSON --tmp DIR``; prints one JSON line. See ``_common.py``.
MLflow uses its SQLAlchemy store on a fresh SQLite file in ``DIR``.
"""

from __future__ import annotations

import os

# No telemetry and no network look-ups from inside a measurement.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import sqlite3
import time
from pathlib import Path
from typing import Any

import _common as c
import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient


def _setup(tmp: str) -> tuple[MlflowClient, str, str]:
    db = Path(tmp) / "mlflow.db"
    uri = f"sqlite:///{db}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri)
    exp_id = client.create_experiment(c.PROJECT, artifact_location=(Path(tmp) / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=exp_id)
    return client, exp_id, str(db)


def log_metric(spec: dict[str, Any], tmp: str) -> dict[str, Any]:
    client, _exp_id, _db = _setup(tmp)
    n = int(spec["points"])
    synchronous = not spec.get("async", False)
    values = [c.per_call_value(step) for step in range(n)]
    durations = [0] * n
    clock = time.perf_counter_ns
    log = mlflow.log_metric
    with mlflow.start_run(run_name="per-call") as run:
        t0 = clock()
        for step in range(n):
            c0 = clock()
            log("loss", values[step], step=step, synchronous=synchronous)
            durations[step] = clock() - c0
    # Leaving the block ends the run (and, in async mode, waits for the queue): part of the timing.
    total_s = (clock() - t0) / 1e9
    stored = len(client.get_metric_history(run.info.run_id, "loss"))
    return {
        "points": n,
        "seconds": total_s,
        "points_per_s": n / total_s,
        "stored_points": stored,
        "ok": stored == n,
        **c.call_stats_us(durations),
    }


def log_batch(spec: dict[str, Any], tmp: str) -> dict[str, Any]:
    client, exp_id, db = _setup(tmp)
    runs, keys, steps, size = (int(spec[k]) for k in ("runs", "keys", "steps", "batch"))
    # Build the request objects before the clock starts: the same rule on both sides.
    batches = [
        list(c.chunks([Metric(k, v, ts, s) for k, v, s, ts in c.batch_points(r, keys, steps)], size))
        for r in range(runs)
    ]
    t0 = time.perf_counter()
    for r in range(runs):
        run_id = client.create_run(exp_id, run_name=f"batch-{r}").info.run_id
        for batch in batches[r]:
            client.log_batch(run_id, metrics=batch)
        client.set_terminated(run_id)
    total_s = time.perf_counter() - t0
    points = runs * keys * steps
    with sqlite3.connect(db) as con:
        stored = con.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
    return {
        "points": points,
        "seconds": total_s,
        "points_per_s": points / total_s,
        "stored_points": stored,
        "ok": stored == points,
    }


def search(spec: dict[str, Any], tmp: str) -> dict[str, Any]:
    client, exp_id, _db = _setup(tmp)
    n, reps = int(spec["runs"]), int(spec["reps"])
    # Populate (untimed for the result, reported for information): create_run + one log_batch + end.
    t0 = time.perf_counter()
    for i in range(n):
        params, metrics = c.search_run_data(i)
        run_id = client.create_run(exp_id, run_name=f"run-{i}").info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, c.BASE_TS_MS, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
        )
        client.set_terminated(run_id)
    populate_s = time.perf_counter() - t0

    expected = c.expected_search(n)
    timings = c.time_queries(
        {
            "top": (
                lambda: mlflow.search_runs(
                    experiment_ids=[exp_id],
                    filter_string=c.SEARCH_FILTER,
                    order_by=[c.SEARCH_ORDER_BY],
                    max_results=c.SEARCH_TOP,
                ),
                lambda df: c.check_top_frame(df, expected),
            ),
            "top_client": (
                lambda: client.search_runs(
                    [exp_id], filter_string=c.SEARCH_FILTER, order_by=[c.SEARCH_ORDER_BY], max_results=c.SEARCH_TOP
                ),
                lambda runs: len(runs) == expected["rows"],
            ),
            "all": (
                lambda: mlflow.search_runs(experiment_ids=[exp_id], max_results=max(n, 10_000)),
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
    result.update(tool="mlflow", version=mlflow.__version__, workload=spec["workload"])
    c.emit(result)


if __name__ == "__main__":
    main()
