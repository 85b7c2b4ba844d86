"""modelyard's side of the drift benchmark: ``modelyard.drift(reference, current)`` where the
reference is the Parquet file (profiled as it is read) or its precomputed profile."""

from __future__ import annotations

import time

from _drift_common import emit, parse_spec, peak_rss_mb


def main() -> None:
    spec = parse_spec()
    # imports before the clock, as on Evidently's side (modelyard imports these lazily)
    import datasketches  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import scipy.stats  # noqa: F401

    import modelyard
    import modelyard.monitoring.drift

    start = time.perf_counter()
    result = modelyard.drift(spec["reference"], spec["current"])
    seconds = time.perf_counter() - start
    emit(
        {
            "seconds": seconds,
            "peak_rss_mb": peak_rss_mb(),
            "drifted": sorted(result.drifted_columns),
            "methods": sorted({c.method for c in result.columns}),
        }
    )


if __name__ == "__main__":
    main()
