"""The model report (modelyard.reports.model) opened from disk in a real browser (Debian's
Chromium through Playwright), both as written by default (loading the shared plotly.min.js beside
it) and self-contained: it fetches nothing from the network, and its plotly charts (metrics,
slices, curves, confusion matrix, importance) really render."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.evaluation import evaluate
from modelyard.reports.model import build_model_report
from modelyard.sdk.models import RegistryClient

pytestmark = pytest.mark.slow

NewPage = Callable[[str], Any]
Shot = Callable[[Any, str], Path]


def _report(root: Path) -> tuple[Path, Path]:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"tenure": rng.normal(30, 10, 300), "spend": rng.normal(50, 10, 300)})
    frame["churned"] = (frame["tenure"] + rng.normal(0, 3, 300) < 30).astype(int)
    registry = RegistryClient(f"sqlite:///{root / 'store.db'}", str(root / "artifacts"))
    try:
        X = frame[["tenure", "spend"]]
        model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, frame["churned"])
        version = registry.log_model(model, "churn", actor="ana", project="reports", input_example=X.head())
        high = (frame["spend"] > 50).to_numpy()
        evaluate(
            f"churn@{version.version}", frame, target="churned", registry=registry, actor="ana",
            slices={"high spend": high, "low spend": ~high},
        )  # fmt: skip
        report = build_model_report(registry, "churn", version.version)
        return report.write_html(root / "shared" / "report.html"), report.write_html(
            root / "inline" / "report.html", self_contained=True
        )
    finally:
        registry.tracking.close()


def test_model_report_renders_its_charts(new_page: NewPage, screenshot: Shot, tmp_path: Path) -> None:
    shared, inline = _report(tmp_path)
    assert (shared.parent / "plotly.min.js").exists() and not (inline.parent / "plotly.min.js").exists()
    assert '<script src="plotly.min.js">' in shared.read_text() and "<script src=" not in inline.read_text()
    expected = ["metrics", "slices", "roc", "pr", "confusion", "importance-permutation", "importance-shap"]
    for path in (shared, inline):
        page = new_page(path.parent.as_uri() + "/")  # file:// only: anything else would be an outside request
        page.goto(path.as_uri())
        for name in expected:
            page.wait_for_selector(f"#plot-{name} .main-svg")
        drawn = page.evaluate(
            """() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(el => ({
                id: el.id, traces: (el.data || []).map(t => t.type),
                marks: el.querySelectorAll('.main-svg path, .main-svg rect, .main-svg image').length}))"""
        )
        assert [d["id"] for d in drawn] == [f"plot-{n}" for n in expected]
        assert all(d["marks"] > 0 for d in drawn), drawn
        types = {d["id"]: d["traces"] for d in drawn}
        assert types["plot-confusion"] == ["heatmap"] and types["plot-importance-shap"] == ["bar"]
        bars = page.evaluate("() => document.getElementById('plot-importance-permutation').data[0].y")
        assert bars[-1] == "tenure"  # horizontal bars, the most important on top
        assert page.locator("h1").inner_text() == "Model report: churn version 1"
    screenshot(page, "model-report")
