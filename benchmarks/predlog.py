"""Prediction logging's own CPU, in process: N records shaped like a served matrix request (30
float columns of one row, one output) offered to a ``PredictionLogger`` over a SQLite store and a
local artifact store; prints microseconds per record spent in the writer thread (which shares the
GIL with the server's event loop, so each of them is taken from serving) and on the request path
(``offer``). ``--profile`` prints the writer's cProfile, heaviest first.

    .venv/bin/python -m benchmarks.predlog [--records 50000] [--reps 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

COLUMNS = tuple(f"f{i}" for i in range(30))


def _records(n: int) -> list[Any]:
    import numpy as np

    from modelyard.serving.endpoint import MatrixColumns, PredictionRecord

    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        row = rng.random((1, len(COLUMNS)))  # what serving/decode.py builds for a matrix model
        out.append(
            PredictionRecord(
                uuid.uuid4().hex, "bench", "main", "bc", 1, MatrixColumns(row, COLUMNS),
                np.array([i % 2]), 1.25, 1_700_000_000_000 + i, False, "ok",
            )
        )  # fmt: skip
    return out


def run(n: int, profile: cProfile.Profile | None = None) -> tuple[float, float]:
    """(writer µs per record, offer µs per record) for one logger over fresh stores."""
    from modelyard.serving.predlog import PredictionLogger
    from modelyard.settings import Settings
    from modelyard.store import open_stores

    records = _records(n)
    with tempfile.TemporaryDirectory(prefix="modelyard-predlog-bench-") as tmp:
        home = Path(tmp)
        settings = Settings(home=home, store_uri=f"sqlite:///{home / 'm.db'}", artifact_uri=str(home / "a"))
        with open_stores(settings) as stores:
            log = PredictionLogger(stores.serving, stores.artifacts, max_queue=n + 10)
            write, spent = log._write, [0.0]

            def timed(batch: Any) -> None:
                start = time.perf_counter()
                if profile is not None:
                    profile.enable()
                try:
                    write(batch)
                finally:
                    if profile is not None:
                        profile.disable()
                    spent[0] += time.perf_counter() - start

            log._write = timed  # type: ignore[method-assign]
            start = time.perf_counter()
            for record in records:
                log.offer(record)
            offered = time.perf_counter() - start
            log.close(600)
            if log.written != n:
                raise SystemExit(f"wrote {log.written} of {n} records (dropped {log.dropped}, failed {log.failed})")
    return 1e6 * spent[0] / n, 1e6 * offered / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    if args.profile:
        profile = cProfile.Profile()
        run(args.records, profile)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return 0
    results = [run(args.records) for _ in range(max(1, args.reps))]
    writer = statistics.median(r[0] for r in results)
    offer = statistics.median(r[1] for r in results)
    print(f"{args.records} records, median of {len(results)}: writer {writer:.1f} us/record, offer {offer:.2f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
