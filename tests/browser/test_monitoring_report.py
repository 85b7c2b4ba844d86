"""The monitoring period report opens in Chromium from a file and draws one chart per signal
view (health, quality, drift and its per-column scores, realized performance with its band), with
the windows' and the alerts' tables; built from stored window results only, it stays small (a
thousand windows: well under 1 MB, plotly.js aside)."""

from __future__ import annotations

from pathlib import Path

from modelyard.core.monitoring import AlertEvent, Monitor, MonitorSpec, WindowResult, WindowSpec
from modelyard.reports.monitoring import write_monitoring_report

MINUTE = 60_000


def _results(count: int) -> list[WindowResult]:
    out = []
    for i in range(count):
        shifted = count // 2 <= i < count // 2 + 20
        values = {
            "health": {"requests": 100 + i % 7, "errors": 1, "error_rate": 0.01, "p50_ms": 4.0, "p95_ms": 9.5,
                       "p99_ms": 14.0, "throughput_rps": 1.7, "variants": {}},
            "quality": {"rows": 400, "missing_share": 0.0, "out_of_range_share": 0.2 if shifted else 0.0,
                        "unseen_category_share": 0.3 if shifted else 0.0, "null_violation_share": 0.0},
            "drift": {"share_drifted": 1.0 if shifted else 0.0, "dataset_drift": shifted,
                      "columns": {"age": {"score": 0.4 if shifted else 0.03},
                                  "plan": {"score": 0.2 if shifted else 0.01}}},
            "performance": {"accuracy": 0.6 if shifted else 0.92, "accuracy_lower": 0.55 if shifted else 0.9,
                            "accuracy_upper": 0.65 if shifted else 0.94},
        }  # fmt: skip
        status = "no_traffic" if i % 50 == 49 else "ok"
        out.append(WindowResult(
            monitor="churn-mon", window_start=i * MINUTE, window_end=(i + 1) * MINUTE, status=status,
            rows=0 if status == "no_traffic" else 100, values={} if status == "no_traffic" else values,
            evaluated_at=(i + 1) * MINUTE, evaluated_by="test",
        ))  # fmt: skip
    return out


def test_monitoring_report_draws_every_chart(tmp_path: Path, new_page, screenshot) -> None:
    spec = MonitorSpec(window=WindowSpec(size=MINUTE), signals=("health", "quality", "drift", "performance"))
    monitor = Monitor(name="churn-mon", deployment="churn-api", spec=spec, created_at=0, created_by="ana",
                      updated_at=0, updated_by="ana")  # fmt: skip
    results = _results(1000)
    events = [
        AlertEvent(fingerprint="ab12", monitor="churn-mon", rule="drift", kind="firing", at=500 * MINUTE, value=1.0),
        AlertEvent(
            fingerprint="ab12",
            monitor="churn-mon",
            rule="drift",
            kind="action",
            at=500 * MINUTE,
            detail={"action": "rollback", "revision": 3},
        ),
        AlertEvent(fingerprint="ab12", monitor="churn-mon", rule="drift", kind="resolved", at=521 * MINUTE, value=0.0),
    ]
    shared = write_monitoring_report(monitor, results, events, tmp_path / "shared" / "monitoring.html")
    inline = write_monitoring_report(monitor, results, events, tmp_path / "inline" / "m.html", self_contained=True)
    data = write_monitoring_report(monitor, results, events, tmp_path / "monitoring.json")
    assert shared.stat().st_size < 1_000_000 and data.stat().st_size < 5_000_000
    assert (shared.parent / "plotly.min.js").exists() and not (inline.parent / "plotly.min.js").exists()
    charts = 7  # traffic, error rate, latency, quality, drift share, drift per column, performance
    for path in (shared, inline):
        page = new_page(f"file://{path.parent}/")
        page.goto(f"file://{path}")
        page.wait_for_selector(f"body[data-charts-ready='{charts}']")
        assert page.locator(".plot .main-svg").count() >= charts
        assert page.locator(".plot .scatterlayer .trace").count() > charts
        assert page.locator("#windows tr[data-status='ok']").count() == 980
        assert page.locator("#windows tr[data-status='no_traffic']").count() == 20
        assert page.locator("#alerts tr[data-kind='firing']").count() == 1
        assert "rollback" in page.locator("#alerts").inner_text()
    screenshot(page, "monitoring-report")
