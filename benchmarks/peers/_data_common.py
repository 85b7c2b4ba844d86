"""What both sides of the data benchmark share (standard library only: imported by the modelyard
side and by DVC's own virtual environment).

Protocol: ``python <side>.py --spec JSON --tmp DIR``; the side works on the files named in the
spec (the same files for both tools), keeps its own state in ``DIR`` and prints one JSON object
as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any


def parse_args() -> tuple[dict[str, Any], str]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True)
    parser.add_argument("--tmp", required=True)
    args = parser.parse_args()
    os.makedirs(args.tmp, exist_ok=True)
    return json.loads(args.spec), args.tmp


def emit(result: dict[str, Any]) -> None:
    sys.stdout.flush()
    sys.stdout.write("\n" + json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value
