"""Evidently's side of the drift benchmark (run from its own virtual environment): read the two
Parquet files, run ``Report([DataDriftPreset()])`` and read each column's verdict off the snapshot
(its ValueDrift metrics: the score, the method and its threshold)."""

from __future__ import annotations

import time

from _drift_common import emit, parse_spec, peak_rss_mb


def main() -> None:
    spec = parse_spec()
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    start = time.perf_counter()
    reference = pd.read_parquet(spec["reference"])
    current = pd.read_parquet(spec["current"])
    definition = DataDefinition(numerical_columns=spec["numeric"], categorical_columns=spec["categorical"])
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    drifted, methods = [], set()
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config.get("type", "").endswith("ValueDrift"):
            continue
        method, threshold, value = config["method"], config["threshold"], metric["value"]
        methods.add(method)
        is_p_value = "p_value" in method
        if (value < threshold) if is_p_value else (value >= threshold):
            drifted.append(config["column"])
    seconds = time.perf_counter() - start
    emit({"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "drifted": sorted(drifted), "methods": sorted(methods)})


if __name__ == "__main__":
    main()
