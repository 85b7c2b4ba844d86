"""The monitoring period report opens in Chromium from a file (plotly.js shared beside it, or
inlined) and draws every chart of a monitor's signal views (service health, quality, drift per
column and its share, realized performance with its band) and the alert history, with the
alerts', the history's and the windows' tables; built from stored window results only, it stays
small (a thousand windows: well under 1 MB, plotly.js aside)."""

from __future__ import annotations

import json
from pathlib import Path

from modelyard.core.monitoring import Alert, AlertEvent, MonitorSpec, WindowResult, WindowSpec, fingerprint
from modelyard.reports.monitoring_period import TABLE_WINDOWS, build_monitoring_report, write_monitoring_report
from tests.fixtures.stores import joined_store

MINUTE = 60_000


def _results(count: int) -> list[WindowResult]:
    """``count`` one-minute windows: every 50th without traffic, 20 shifted ones in the middle."""
    out = []
    for i in range(count):
        shifted = count // 2 <= i < count // 2 + 20
        values = {
            "health": {"requests": 100 + i % 7, "errors": 1, "error_rate": 0.01, "p50_ms": 4.0, "p95_ms": 9.5,
                       "p99_ms": 14.0, "throughput_rps": 1.7, "variants": {}},
            "quality": {"rows": 400, "missing_share": 0.0, "out_of_range_share": 0.2 if shifted else 0.0,
                        "unseen_category_share": 0.3 if shifted else 0.0, "null_violation_share": 0.0,
                        "failed_expectations": int(shifted), "schema_violations": 0, "missing_columns": 0},
            "drift": {"share_drifted": 1.0 if shifted else 0.0, "dataset_drift": shifted,
                      "columns": {"age": {"score": 0.4 if shifted else 0.03, "drifted": shifted},
                                  "plan": {"score": 0.2 if shifted else 0.01, "drifted": shifted}}},
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


def test_period_report_draws_every_chart_and_lists_the_windows(tmp_path: Path, new_page, screenshot) -> None:
    store = joined_store(f"sqlite:///{tmp_path / 'm.db'}")
    monitoring = store.stores.monitoring
    spec = MonitorSpec(window=WindowSpec(size=MINUTE), signals=("health", "quality", "drift", "performance"))
    monitoring.create_monitor("churn-mon", "churn-api", spec, actor="ana", at=0)
    for result in _results(1000):
        monitoring.claim_window("churn-mon", result.window_start, result.window_end, owner="test", at=0, lease_ms=1000)
        monitoring.complete_window(result)
    fp = fingerprint("churn-mon", "drift")
    alert = Alert(fingerprint=fp, monitor="churn-mon", rule="drift", signal="drift.share_drifted", severity="critical",
                  state="resolved", value=0.0, threshold=0.5, first_seen=500 * MINUTE, last_seen=521 * MINUTE,
                  resolved_at=521 * MINUTE, window_start=520 * MINUTE, window_end=521 * MINUTE)  # fmt: skip
    monitoring.save_alert(alert, [
        AlertEvent(fingerprint=fp, monitor="churn-mon", rule="drift", kind="firing", at=500 * MINUTE, value=1.0),
        AlertEvent(fingerprint=fp, monitor="churn-mon", rule="drift", kind="action", at=500 * MINUTE,
                   detail={"action": "rollback", "revision": 3}),
        AlertEvent(fingerprint=fp, monitor="churn-mon", rule="drift", kind="resolved", at=521 * MINUTE, value=0.0),
    ])  # fmt: skip
    report = build_monitoring_report(monitoring, "churn-mon", start_ms=0, end_ms=1000 * MINUTE, now_ms=1001 * MINUTE)
    store.close()
    shared = write_monitoring_report(report, tmp_path / "shared" / "monitoring.html")
    inline = write_monitoring_report(report, tmp_path / "inline" / "m.html", self_contained=True)
    data = json.loads(write_monitoring_report(report, tmp_path / "monitoring.json").read_text())
    assert shared.stat().st_size < 1_000_000
    assert (shared.parent / "plotly.min.js").exists() and not (inline.parent / "plotly.min.js").exists()
    # the windows' table: the newest TABLE_WINDOWS, newest first, each with its status and values
    table = data["monitors"][0]["recent_windows"]
    assert len(table) == TABLE_WINDOWS and table[0]["window_start"] == 999 * MINUTE
    assert [w["status"] for w in table].count("no_traffic") == TABLE_WINDOWS // 50
    assert data["summary"] == {"windows": 1000, "with_traffic": 980, "no_traffic": 20, "errors": 0,
                               "requests": 98_000, "alerts_fired": 1, "alerts_resolved": 1}  # fmt: skip
    # health (latency, errors, throughput), quality and its breaches, drift per column and its share,
    # accuracy with its band, the alert history
    expected = len(report.figures())
    assert expected == 9
    for path in (shared, inline):
        page = new_page(f"file://{path.parent}/")
        page.goto(f"file://{path}")
        page.wait_for_selector(f"body[data-plots-ready='{expected}']")
        assert page.locator("[data-figure] .main-svg").count() >= expected
        assert page.locator("[data-figure='0-performance-accuracy'] .scatterlayer .trace").count() >= 3
        assert page.locator("#windows-0 tr[data-status='ok']").count() == TABLE_WINDOWS - TABLE_WINDOWS // 50
        assert page.locator("#windows-0 tr[data-status='no_traffic']").count() == TABLE_WINDOWS // 50
        assert "drifted 0.0%" in page.locator("#windows-0 tr[data-status='ok']").first.inner_text()
        assert page.locator("#alerts-table tr[data-state='resolved']").count() == 1
        assert page.locator("#events-table tr[data-kind='firing']").count() == 1
        assert "rollback" in page.locator("#events-table").inner_text()
    screenshot(page, "monitoring-report")
