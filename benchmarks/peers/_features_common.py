"""What every side of the feature-store benchmark shares (standard library only: the Feast side
imports it from Feast's own virtual environment).

Protocol: ``python <side>.py --spec JSON --tmp DIR``; the side reads the generated Parquet files
named in the spec, writes its training set to ``spec["out"]`` (Parquet, with the entity frame's
``row_id``) and prints one JSON object as the last line of stdout: seconds, peak memory, rows.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
from typing import Any

VIEWS = {"driver_stats": ("s0", "s1", "s2", "s3", "s4"), "driver_trips": ("t0", "t1", "t2", "t3", "t4")}
TTL_DAYS = 7


def parse_args() -> tuple[dict[str, Any], str]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True)
    parser.add_argument("--tmp", required=True)
    args = parser.parse_args()
    os.makedirs(args.tmp, exist_ok=True)
    return json.loads(args.spec), args.tmp


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(result: dict[str, Any]) -> None:
    sys.stdout.flush()
    sys.stdout.write("\n" + json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()


def percentiles_us(durations_ns: list[int]) -> dict[str, float]:
    ordered = sorted(durations_ns)

    def pick(q: float) -> float:
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1] / 1000

    return {"p50_us": pick(50), "p99_us": pick(99), "max_us": ordered[-1] / 1000, "n": len(ordered)}
