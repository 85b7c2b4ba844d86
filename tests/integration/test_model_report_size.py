"""The model report of a version evaluated on a million rows stays small: it holds aggregates
(metrics, slices, curves of at most ``MAX_CURVE_POINTS`` points, the confusion matrix, one
importance number per feature), never rows, so the page is under 1 MB (plotly.js, shared beside it,
aside) and so is its JSON form, whatever the number of rows evaluated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from modelyard.evaluation import evaluate
from modelyard.reports.model import build_model_report
from modelyard.sdk.models import RegistryClient

ROWS = 1_000_000


def test_a_million_row_evaluation_gives_a_report_under_a_megabyte(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"f{i}": rng.normal(size=ROWS) for i in range(8)})
    logit = frame["f0"] - 0.5 * frame["f1"] + 0.2 * frame["f2"] + rng.logistic(size=ROWS) * 0.5
    frame["label"] = (logit > 0).astype(int)
    registry = RegistryClient(f"sqlite:///{tmp_path / 'store.db'}", str(tmp_path / "artifacts"))
    try:
        features = frame.drop(columns=["label"])
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression().fit(features.head(5_000), frame["label"].head(5_000))  # scores: ROC and PR
        version = registry.log_model(model, "big", actor="ana", project="reports", input_example=features.head())
        region = (frame["f3"] > 0).to_numpy()
        result = evaluate(
            f"big@{version.version}", frame, target="label", registry=registry, actor="ana",
            slices={"f3 high": region, "f3 low": ~region}, importance_rows=2_000,
        )  # fmt: skip
        assert result.n_rows == ROWS and result.metrics["roc_auc"] > 0.8
        report = build_model_report(registry, "big", version.version)
        html = report.write_html(tmp_path / "report.html")
    finally:
        registry.tracking.close()
    assert report.evaluation is not None and report.evaluation["n_rows"] == ROWS
    assert {"roc", "pr"} <= set(report.evaluation["curves"])
    size = html.stat().st_size
    assert size < 1_000_000, size
    assert (tmp_path / "plotly.min.js").stat().st_size > 1_000_000  # the library is beside it, not inside
    assert len(report.to_json()) < 1_000_000  # what `modelyard models report -o x.json` writes
