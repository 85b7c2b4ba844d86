"""What both sides of the tracking benchmark share: the workloads' data, the protocol, the stats.

Standard library only: this module is imported by the modelyard side (project interpreter) and by
the peer side (the peer's own virtual environment), so both do exactly the same work.

Protocol: ``python <side>.py --spec JSON --tmp DIR``; the side does the work in ``DIR`` (a fresh
directory, so a fresh SQLite database) and prints one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

PROJECT = "bench"
SEED = 20240611
N_PARAMS = 10
N_METRICS = 10
# p0 cycles through these four values, so the search filter `params.p0 = 'a'` keeps a quarter of the runs.
P0_VALUES = ("a", "b", "c", "d")
SEARCH_FILTER = "params.p0 = 'a' AND metrics.m1 > 0.5"
SEARCH_ORDER_BY = "metrics.m2 DESC"
SEARCH_TOP = 100
BASE_TS_MS = 1_700_000_000_000


def parse_args() -> tuple[dict[str, Any], str]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True, help="the workload as a JSON object")
    parser.add_argument("--tmp", required=True, help="a fresh, empty working directory")
    args = parser.parse_args()
    os.makedirs(args.tmp, exist_ok=True)
    return json.loads(args.spec), args.tmp


def emit(result: dict[str, Any]) -> None:
    """Print the result as the last line of stdout (libraries may have printed before)."""
    sys.stdout.flush()
    sys.stdout.write("\n" + json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()


def percentile(sorted_values: list[int], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def call_stats_us(durations_ns: list[int]) -> dict[str, float]:
    """p50/p99/p99.9/max of per-call blocking times, in microseconds."""
    ordered = sorted(durations_ns)
    return {
        "call_p50_us": percentile(ordered, 50) / 1000.0,
        "call_p99_us": percentile(ordered, 99) / 1000.0,
        "call_p999_us": percentile(ordered, 99.9) / 1000.0,
        "call_max_us": (ordered[-1] / 1000.0) if ordered else math.nan,
    }


# --- workload data -------------------------------------------------------------------------------------


def per_call_value(step: int) -> float:
    """The value logged at ``step`` by the per-call workload (a decaying loss curve)."""
    return 1.0 / (1.0 + 0.01 * step)


def batch_points(run_index: int, keys: int, steps: int) -> Iterator[tuple[str, float, int, int]]:
    """The (key, value, step, timestamp_ms) points of one run of the batch workload.

    Training-loop order: every key at step 0, then every key at step 1, ...
    """
    rng = random.Random(SEED + run_index)
    names = [f"metric_{k}" for k in range(keys)]
    for step in range(steps):
        ts = BASE_TS_MS + step
        for name in names:
            yield name, rng.random(), step, ts


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def search_run_data(i: int) -> tuple[dict[str, str], dict[str, float]]:
    """Params and metrics of run ``i`` of the search workload (deterministic, same on both sides)."""
    rng = random.Random(SEED * 31 + i)
    params = {"p0": P0_VALUES[i % len(P0_VALUES)]}
    for p in range(1, N_PARAMS):
        params[f"p{p}"] = f"v{rng.randrange(100)}"
    metrics = {f"m{m}": rng.random() for m in range(N_METRICS)}
    return params, metrics


def expected_search(n_runs: int) -> dict[str, Any]:
    """What the filtered top-N query must return, computed independently of both tools."""
    matching = []
    for i in range(n_runs):
        params, metrics = search_run_data(i)
        if params["p0"] == "a" and metrics["m1"] > 0.5:
            matching.append(metrics["m2"])
    matching.sort(reverse=True)
    top = matching[:SEARCH_TOP]
    return {"rows": len(top), "m2_sum": round(sum(top), 9), "matching": len(matching)}


def time_queries(queries: dict[str, tuple[Callable[[], Any], Callable[[Any], bool]]], reps: int) -> dict[str, Any]:
    """Time each ``name: (query, check)`` once cold, then ``reps`` times warm, interleaved.

    The first query of a process pays one-off costs (imports, statement caches, cold pages); it is
    reported apart as ``<name>_cold_s``, and ``<name>_s`` lists the warm repetitions.
    """
    out: dict[str, Any] = {f"{name}_s": [] for name in queries}
    ok = True
    for rep in range(reps + 1):
        for name, (query, check) in queries.items():
            t = time.perf_counter()
            result = query()
            elapsed = time.perf_counter() - t
            if rep == 0:
                out[f"{name}_cold_s"] = elapsed
            else:
                out[f"{name}_s"].append(elapsed)
            ok = ok and bool(check(result))
    out["ok"] = ok
    return out


def check_top_frame(df: Any, expected: dict[str, Any]) -> bool:
    """The filtered top-N DataFrame holds the expected rows (same count, same ``metrics.m2`` values)."""
    if len(df) != expected["rows"] or "metrics.m2" not in df.columns:
        return False
    return round(float(df["metrics.m2"].sum()), 9) == expected["m2_sum"]
