"""Great Expectations side of the validation benchmark (runs in its own venv): the same frame and
the same 10 expectations as benchmarks/validation.py; prints one JSON line."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def main() -> None:
    import great_expectations as gx
    import pandas as pd

    frame = pd.read_parquet(sys.argv[1])
    reps = int(sys.argv[2])
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("bench")
    asset = source.add_dataframe_asset("frame")
    batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    ex = gx.expectations
    suite = context.suites.add(gx.ExpectationSuite(name="bench"))
    for expectation in (
        ex.ExpectColumnValuesToNotBeNull(column="id"),
        ex.ExpectColumnValuesToBeUnique(column="id"),
        ex.ExpectColumnValuesToBeBetween(column="num0", min_value=-100, max_value=200),
        ex.ExpectColumnValuesToBeBetween(column="num1", min_value=-100, max_value=200),
        ex.ExpectColumnValuesToBeBetween(column="age", min_value=0, max_value=120),
        ex.ExpectColumnValuesToNotBeNull(column="num2"),
        ex.ExpectColumnValuesToBeInSet(column="cat0", value_set=["a", "b", "c", "d"]),
        ex.ExpectColumnValuesToBeInSet(column="cat1", value_set=["a", "b", "c", "d"]),
        ex.ExpectColumnValuesToMatchRegex(column="email", regex="^[^@]+@[^@]+$"),
        ex.ExpectTableRowCountToBeBetween(min_value=1),
    ):
        suite.add_expectation(expectation)
    timings = []
    success = True
    for _ in range(reps):
        start = time.perf_counter()
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite)
        timings.append(time.perf_counter() - start)
        success = success and bool(result.success)
    print(json.dumps({"median_s": statistics.median(timings), "success": success, "timings": timings}))


if __name__ == "__main__":
    main()
