"""Validation benchmark: 1,000,000 rows x 20 columns against 10 expectations.

Prints modelyard's absolute time (median of --reps, without the profile and with it) and, when
Great Expectations installs beside the project in its own environment (.bench/venvs), its time on
the same frame and the same 10 expectations, and the ratio.

    .venv/bin/python -m benchmarks.validation [--rows 1000000] [--reps 3] [--no-peer]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

GX_VERSION = "1.24.1"
PEER_SCRIPT = Path(__file__).resolve().parent / "peers" / "gx_validation.py"


def make_frame(rows: int, seed: int = 0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data: dict[str, object] = {"id": np.arange(rows)}
    for i in range(12):
        data[f"num{i}"] = rng.normal(50, 10, rows)
    for i in range(5):
        data[f"cat{i}"] = rng.choice(["a", "b", "c", "d"], rows)
    data["email"] = pd.Series(rng.integers(0, 10**6, rows)).map(lambda n: f"user{n}@example.org")
    data["age"] = rng.integers(0, 100, rows)
    return pd.DataFrame(data)


SUITE = """
name: bench
expectations:
  - {expect: not_null, column: id}
  - {expect: unique, column: id}
  - {expect: between, column: num0, min: -100, max: 200}
  - {expect: between, column: num1, min: -100, max: 200}
  - {expect: between, column: age, min: 0, max: 120}
  - {expect: not_null, column: num2}
  - {expect: in_set, column: cat0, values: [a, b, c, d]}
  - {expect: in_set, column: cat1, values: [a, b, c, d]}
  - {expect: regex, column: email, pattern: '[^@]+@[^@]+'}
  - {expect: row_count, min: 1}
"""


def main(argv: list[str] | None = None) -> int:
    from modelyard.data.validation import Suite, validate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-peer", action="store_true", help="skip Great Expectations")
    args = parser.parse_args(argv)
    console = Console()
    frame = make_frame(args.rows)
    suite = Suite.from_yaml(SUITE)
    timings: dict[str, list[float]] = {"checks": [], "checks+profile": []}
    for _ in range(args.reps):
        start = time.perf_counter()
        report = validate(frame, suite, with_profile=False)
        timings["checks"].append(time.perf_counter() - start)
        assert report.success, [r.expectation for r in report.failed]
        start = time.perf_counter()
        validate(frame, suite, with_profile=True)
        timings["checks+profile"].append(time.perf_counter() - start)
    peer_s: float | None = None
    peer_note = "skipped (--no-peer)"
    if not args.no_peer:
        peer_s, peer_note = run_peer(frame, args.reps, console)
    table = Table(
        title=f"Validation: {args.rows:,} rows x {frame.shape[1]} columns, 10 expectations (median of {args.reps})"
    )
    for col in ("what", "seconds", "rows/s"):
        table.add_column(col, justify="left" if col == "what" else "right")
    for name, values in timings.items():
        med = statistics.median(values)
        table.add_row(f"modelyard {name}", f"{med:.3f}", f"{args.rows / med:,.0f}")
    if peer_s is not None:
        table.add_row(f"Great Expectations {GX_VERSION}", f"{peer_s:.3f}", f"{args.rows / peer_s:,.0f}")
    console.print(table)
    if peer_s is not None:
        ratio = peer_s / statistics.median(timings["checks"])
        console.print(f"ratio (GX / modelyard checks): [bold]{ratio:.1f}x[/bold]")
    else:
        console.print(f"Great Expectations: {peer_note}")
    return 0


def run_peer(frame, reps: int, console: Console) -> tuple[float | None, str]:
    from benchmarks._venv import ensure_peer_env

    try:
        env = ensure_peer_env(f"gx-{GX_VERSION}", (f"great_expectations=={GX_VERSION}", "pyarrow"), console=console)
    except Exception as exc:  # the peer is optional: say why it is missing
        return None, f"could not be installed ({type(exc).__name__}: {exc})"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frame.parquet"
        frame.to_parquet(path)
        proc = subprocess.run(
            [str(env.python), str(PEER_SCRIPT), str(path), str(reps)],
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return None, f"failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}"
    result = json.loads(lines[-1])
    if not result.get("success"):
        return None, f"its checks did not pass: {result}"
    return float(result["median_s"]), "ok"


if __name__ == "__main__":
    sys.exit(main())
