"""The drift report opens in Chromium and draws one plotly chart per column, from a file (no
server): the HTML with the shared plotly.min.js beside it, and the self-contained variant. The
report of a million rows stays under 1 MB (plotly.js itself aside)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from modelyard.monitoring.drift import compute_drift
from modelyard.reports.drift import write_drift_report


def _frames(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(6)})
    cur = pd.DataFrame({f"x{i}": rng.normal(0.4 if i < 2 else 0.0, 1.0, size=rows) for i in range(6)})
    ref["plan"] = rng.choice(["free", "pro", "team"], size=rows, p=[0.6, 0.3, 0.1])
    cur["plan"] = rng.choice(["free", "pro", "team"], size=rows, p=[0.3, 0.3, 0.4])
    return ref, cur


def test_drift_report_draws_every_column(tmp_path: Path, new_page, screenshot) -> None:
    ref, cur = _frames(1_000_000)
    result = compute_drift(ref, cur)
    shared = write_drift_report(result, tmp_path / "shared" / "drift.html", title="Drift of the test data")
    inline = write_drift_report(result, tmp_path / "inline" / "drift.html", self_contained=True)
    assert shared.stat().st_size < 1_000_000
    assert (shared.parent / "plotly.min.js").exists() and not (inline.parent / "plotly.min.js").exists()
    for path in (shared, inline):
        page = new_page(f"file://{path.parent}/")
        page.goto(f"file://{path}")
        page.wait_for_selector("body[data-plots-ready='7']")
        assert page.locator(".plot .main-svg").count() >= 7
        assert page.locator(".plot .bars path").count() > 7 * 2  # bars of both sides
        rows = page.locator("#summary tr[data-column]")
        assert rows.count() == 7
        assert "drifted" in page.locator("#summary tr[data-column='x0']").inner_text()
        assert "stable" in page.locator("#summary tr[data-column='x4']").inner_text()
    screenshot(page, "drift-report")
