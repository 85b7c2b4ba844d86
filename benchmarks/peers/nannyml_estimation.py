"""NannyML side of the estimation benchmark (runs in its own venv): CBPE fitted on the same
reference and run on the same analysis chunks as benchmarks/estimation.py; prints one JSON line
with its estimates and bands per chunk and the median time of fit + estimate.

    python nannyml_estimation.py DATA.npz REPS
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import warnings

METRICS = ["roc_auc", "f1", "accuracy", "precision", "recall"]


def main() -> None:
    import numpy as np
    import pandas as pd

    warnings.filterwarnings("ignore")
    import nannyml as nml

    with np.load(sys.argv[1]) as data:
        arrays = {k: data[k] for k in data.files}
    reps = int(sys.argv[2])
    chunk = int(arrays["chunk_size"])
    reference = pd.DataFrame({
        "y_pred_proba": arrays["ref_score"], "y_pred": arrays["ref_pred"], "y_true": arrays["ref_label"],
    })  # fmt: skip
    analysis = pd.DataFrame({"y_pred_proba": arrays["ana_score"], "y_pred": arrays["ana_pred"]})
    timings = []
    frame = None
    for _ in range(reps):
        start = time.perf_counter()
        estimator = nml.CBPE(
            y_pred_proba="y_pred_proba",
            y_pred="y_pred",
            y_true="y_true",
            problem_type="classification_binary",
            metrics=METRICS,
            chunk_size=chunk,
        )
        estimator.fit(reference)
        results = estimator.estimate(analysis)
        frame = results.filter(period="analysis").to_df()
        timings.append(time.perf_counter() - start)
    assert frame is not None
    out: dict[str, dict[str, list[float]]] = {}
    for metric in METRICS:
        out[metric] = {
            "value": frame[(metric, "value")].astype(float).tolist(),
            "lower": frame[(metric, "lower_confidence_boundary")].astype(float).tolist(),
            "upper": frame[(metric, "upper_confidence_boundary")].astype(float).tolist(),
        }
    print(json.dumps({"version": nml.__version__, "median_s": statistics.median(timings), "estimates": out}))


if __name__ == "__main__":
    main()
