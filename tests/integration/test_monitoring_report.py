"""The monitoring period report over a real monitor run on a real prediction log (drift, quality,
health, realized performance from feedback, alerts with their history, a silence), its period
bounds, its JSON form, bad input, the CLI and the SDK; and the size bound: windows covering a
million logged predictions give a page under 1 MB when plotly.js is shared."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.core.serving import Feedback
from modelyard.core.tracking import now_millis
from modelyard.reports.monitoring_period import DEFAULT_MAX_POINTS, build_monitoring_report, write_monitoring_report
from tests.integration.test_monitoring_service import MINUTE, World, current, log, reference, world  # noqa: F401

runner = CliRunner()


def _monitored(world: World) -> dict[str, Any]:  # noqa: F811
    """m@1 monitored by "api-mon" over three minutes: normal, empty, shifted with errors and
    wrong-way labels; a silence on a second monitor's alert."""
    service = world.service()
    service.set_reference("m", 1, reference(), actor="t")
    service.create(
        "api-mon", "api", window={"size": MINUTE, "delay_ms": 0}, signals=["health", "quality", "drift", "performance"],
        rules=[{"name": "drift", "signal": "drift.share_drifted", "threshold": 0.4, "severity": "critical"},
               {"name": "errors", "signal": "health.error_rate", "threshold": 0.2}],
        options={"performance": {"task": "classification", "metrics": ["accuracy"]}}, start=0, actor="ana",
    )  # fmt: skip
    log(world, 0, current(400, 1))
    shifted = log(world, 2 * MINUTE, current(400, 2, shift=3.0, unseen=True), errors=15)
    world.stores.serving.record_feedback([Feedback(request_id=rid, value=[0] * 10, at=1) for rid in shifted[15:]])
    world.clock.now = 3 * MINUTE + 1
    run = service.run()
    assert {a.rule for a in run.fired} == {"drift", "errors"}
    silence = service.silence({"rule": "errors"}, duration_ms=60 * MINUTE, actor="ana", comment="known incident")
    return {"shifted": shifted, "silence": silence.id}


def test_period_report_of_a_deployment(world: World, tmp_path: Path) -> None:  # noqa: F811
    seeded = _monitored(world)
    # the alerts fired when the windows were evaluated (just after 3 minutes): inside [0, 4 min)
    report = build_monitoring_report(world.stores.monitoring, "api", start_ms=0, end_ms=4 * MINUTE,
                                     now_ms=world.clock.now)  # fmt: skip
    (section,) = report.monitors
    assert section["monitor"] == "api-mon" and report.deployment == "api"
    assert section["windows"] == {"total": 3, "ok": 2, "no_traffic": 1, "error": 0, "requests": 80}
    assert section["buckets"] == 3 and len(section["x"]) == 3 and section["x"][0] == "1970-01-01T00:01:00.000Z"
    # the windows' table: one by one, newest first, with a headline of each window's values
    table = section["recent_windows"]
    assert [w["status"] for w in table] == ["ok", "no_traffic", "ok"] and table[0]["window_start"] == 2 * MINUTE
    assert table[0]["rows"] == 40 and "errors 37.5%" in table[0]["headline"] and table[1]["headline"] == ""
    drift = section["drift"]
    assert drift["columns"][0] == "a" and drift["column_drifted"][0] == [0.0, None, 1.0]
    assert drift["share_drifted"][1] is None and drift["share_drifted"][2] > 0.4
    assert section["quality"]["unseen_category_share"][2] > 0.2 and section["quality"]["failed_expectations"][2] >= 2
    health = section["health"]
    assert health["requests"] == [40, None, 40] and health["error_rate"] == [0.0, None, 15 / 40]
    assert health["variants"]["main"]["error_rate"][2] == 15 / 40
    accuracy = section["performance"]["accuracy"]
    assert accuracy["value"][2] is not None and accuracy["lower"][2] <= accuracy["value"][2] <= accuracy["upper"][2]
    assert accuracy["value"][0] is None  # no labels for the first window
    # alerts: firing first, the silence applies to "errors", the history of the period
    assert [(a["rule"], a["state"]) for a in report.alerts] == [("drift", "firing"), ("errors", "firing")]
    assert [a["silenced_now"] for a in report.alerts] == [False, True]
    assert [s["id"] for s in report.silences] == [seeded["silence"]]
    assert report.counts()["firing"] == 2 and {e["kind"] for e in report.events} == {"firing"}
    figures = report.figures()
    assert {"0-drift-columns", "0-drift-share", "0-quality", "0-quality-breaches", "0-performance-accuracy",
            "0-health-latency", "0-health-errors", "0-health-throughput", "alerts"} <= set(figures)  # fmt: skip
    # HTML (shared plotly.js beside it) and JSON: aggregates only, no request id nor logged value
    page = write_monitoring_report(report, tmp_path / "week.html")
    html = page.read_text()
    assert (tmp_path / "plotly.min.js").stat().st_size > 1_000_000 and '<script src="plotly.min.js">' in html
    assert "api-mon" in html and 'data-state="firing"' in html and "known incident" in html
    assert html.count('<tr data-status="ok">') == 2 and 'id="windows-0"' in html
    data = json.loads(write_monitoring_report(report, tmp_path / "week.json").read_text())
    assert data["monitors"][0]["drift"]["columns"][0] == "a" and data["period"]["end_ms"] == 4 * MINUTE
    for text in (html, json.dumps(data)):
        assert not any(rid in text for rid in seeded["shifted"])
    alone = report.to_html()  # self-contained: plotly.js inlined
    assert "plotly.min.js" not in alone and len(alone) > 3_000_000


def test_period_bounds_monitor_subject_and_bad_input(world: World) -> None:  # noqa: F811
    _monitored(world)
    store = world.stores.monitoring
    later = build_monitoring_report(store, "api-mon", start_ms=2 * MINUTE, end_ms=10 * MINUTE, now_ms=world.clock.now)
    assert later.subject == "api-mon" and later.deployment == "api"
    assert later.monitors[0]["windows"]["total"] == 1 and later.monitors[0]["drift"]["column_drifted"][0] == [1.0]
    before = build_monitoring_report(store, "api", start_ms=10 * MINUTE, end_ms=20 * MINUTE, now_ms=world.clock.now)
    assert before.monitors[0]["windows"]["total"] == 0 and before.events == []
    assert [a["state"] for a in before.alerts] == ["firing", "firing"]  # still firing in that period
    assert "No window of this monitor was evaluated" in before.to_html(plotly_src="plotly.min.js")
    with pytest.raises(NotFound, match="no monitor is named 'nope'"):
        build_monitoring_report(store, "nope", start_ms=0, end_ms=1)
    with pytest.raises(InvalidArgument, match="ends"):
        build_monitoring_report(store, "api", start_ms=5, end_ms=5)
    with pytest.raises(InvalidArgument, match="table_windows"):
        build_monitoring_report(store, "api", start_ms=0, end_ms=5, table_windows=-1)
    untabled = build_monitoring_report(store, "api", start_ms=0, end_ms=4 * MINUTE, table_windows=0)
    assert untabled.monitors[0]["recent_windows"] == [] and untabled.monitors[0]["windows"]["total"] == 3


def test_size_of_a_report_over_a_million_predictions(world: World, tmp_path: Path) -> None:  # noqa: F811
    """2,000 one-minute windows of 500 predictions each (1M rows), 25 drift columns, quality,
    health with two variants, realized and estimated performance: the page stays under 1 MB
    (plotly.js shared) and every series has at most DEFAULT_MAX_POINTS points."""
    service = world.service()
    service.create("big", "api", window={"size": MINUTE, "delay_ms": 0}, start=0, actor="ana",
                   signals=["health", "quality", "drift", "performance", "estimated"])  # fmt: skip
    store = world.stores.monitoring
    rng = np.random.default_rng(0)
    windows, rows = 2000, 500
    columns = [f"feature_{i:02d}" for i in range(25)]
    from modelyard.core.monitoring import WindowResult

    for k in range(windows):
        drifted = rng.random(25) < (0.6 if 1200 <= k < 1300 else 0.05)
        metric = float(rng.normal(0.9, 0.01))
        values = {
            "drift": {"share_drifted": float(drifted.mean()), "dataset_drift": bool(drifted.mean() > 0.5),
                      "drifted_columns": int(drifted.sum()), "prediction_drift": False,
                      "columns": {c: {"drifted": bool(d), "score": float(rng.random()), "statistic": 0.1,
                                      "method": "wasserstein", "psi": 0.01}
                                  for c, d in zip(columns, drifted, strict=True)}},
            "quality": {"rows": rows, "missing_share": 0.01, "out_of_range_share": float(rng.random() / 50),
                        "unseen_category_share": 0.0, "null_violation_share": 0.0,
                        "failed_expectations": int(k % 97 == 0), "schema_violations": 0, "missing_columns": 0},
            "health": {"requests": rows, "errors": int(rng.integers(0, 5)), "error_rate": 0.004, "p50_ms": 3.0,
                       "p95_ms": 9.0, "p99_ms": float(rng.normal(20, 2)), "throughput_rps": rows / 60,
                       "variants": {v: {"requests": rows // 2, "errors": 1, "p95_ms": 9.0, "throughput_rps": rows / 120}
                                    for v in ("blue", "green")}},
            "performance": {"labelled": 100, "accuracy": metric, "accuracy_lower": metric - 0.05,
                            "accuracy_upper": metric + 0.05, "accuracy_baseline": 0.91},
            "estimated": {"accuracy": metric, "accuracy_lower": metric - 0.03, "accuracy_upper": metric + 0.03,
                          "roc_auc": 0.95, "roc_auc_lower": 0.93, "roc_auc_upper": 0.97},
        }  # fmt: skip
        start = k * MINUTE
        assert store.claim_window("big", start, start + MINUTE, owner="seed", at=1, lease_ms=10**9) is not None
        store.complete_window(WindowResult(
            monitor="big", window_start=start, window_end=start + MINUTE, status="ok", rows=rows, first_ms=start,
            last_ms=start + MINUTE - 1, values=values, evaluated_at=start + MINUTE, evaluated_by="seed",
        ))  # fmt: skip
    report = build_monitoring_report(store, "big", start_ms=0, end_ms=windows * MINUTE, now_ms=windows * MINUTE + 1)
    (section,) = report.monitors
    assert section["windows"]["requests"] == 1_000_000 and section["windows"]["total"] == windows
    assert section["buckets"] == DEFAULT_MAX_POINTS and len(section["x"]) == DEFAULT_MAX_POINTS
    assert len(section["drift"]["columns"]) == 25 and not section["truncated"]
    # the drifting stretch (windows 1200-1299) stands out in the per-column heatmap
    heat = np.array(section["drift"]["column_drifted"], dtype=float)
    hot = heat[:, 180:195].mean()
    assert hot > 0.4 and heat[:, :150].mean() < 0.15
    assert (
        set(section["estimated"]) == {"accuracy", "roc_auc"} and section["performance"]["accuracy"]["baseline"] == 0.91
    )
    assert sum(section["quality"]["failed_expectations"]) == len(range(0, windows, 97))
    page = write_monitoring_report(report, tmp_path / "big.html")
    size = page.stat().st_size
    assert size < 1_000_000, size
    assert (tmp_path / "big.json").exists() is False
    assert write_monitoring_report(report, tmp_path / "big.json").stat().st_size < 1_000_000


def test_cli_and_sdk(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    _monitored(world)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    monkeypatch.setenv("MODELYARD_ARTIFACT_URI", str(tmp_path / "a"))
    # the windows are at the epoch: a period given in epoch milliseconds
    result = runner.invoke(app, ["monitor", "report", "api", "--since", "0", "--until", str(10 * MINUTE),
                                 "-o", str(tmp_path / "r.html"), "--store", uri])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 monitor(s), 3 window(s), 2 alert(s) firing" in result.output
    assert (tmp_path / "plotly.min.js").exists() and "drift-columns" in (tmp_path / "r.html").read_text()
    result = runner.invoke(app, ["monitor", "report", "api", "--since", "0", "--json", "--store", uri])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["monitors"][0]["windows"]["total"] == 3
    for args, message in (
        (["nope", "--json"], "no monitor is named 'nope'"),
        (["api", "--since", "yesterday", "--json"], "invalid --since"),
        (["api"], "missing --output"),
        (["api", "-o", str(tmp_path / "no" / "r.html")], "no such directory"),
    ):
        result = runner.invoke(app, ["monitor", "report", *args, "--store", uri])
        assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output, result.output
    import modelyard

    modelyard.set_store_uri(uri)
    modelyard.set_artifact_uri(str(tmp_path / "a"))
    try:
        sdk = modelyard.monitoring_report("api", since=0, until=now_millis())
        assert sdk.monitors[0]["windows"]["total"] == 3 and sdk.firing == 2
    finally:
        modelyard.set_store_uri(None)
        modelyard.set_artifact_uri(None)


def test_report_over_http_matches_the_local_one(world: World) -> None:  # noqa: F811
    """Through a modelyard server (HttpMonitoringStore), the report is the same as over the SQL
    store: the pages the client reads (window results, alert history) are within the API's limits."""
    import httpx

    from modelyard.server import ServerConfig, create_app
    from tests.browser.conftest import start_server
    from tests.fixtures.stores import http_store

    _monitored(world)
    local = build_monitoring_report(world.stores.monitoring, "api", start_ms=0, end_ms=4 * MINUTE, now_ms=5 * MINUTE)
    server = start_server(create_app(ServerConfig(), stores=world.stores), None, None)  # type: ignore[arg-type]
    remote = http_store(server.url, transport=httpx.HTTPTransport())
    try:
        over_http = build_monitoring_report(remote.stores.monitoring, "api", start_ms=0, end_ms=4 * MINUTE,
                                            now_ms=5 * MINUTE)  # fmt: skip
        assert over_http.to_dict() == local.to_dict()
    finally:
        remote.close()
        server.stop()


def test_count_windows_are_placed_by_the_times_of_their_requests(world: World) -> None:  # noqa: F811
    service = world.service()
    service.set_reference("m", 1, reference(), actor="t")
    service.create("by-count", "api", window={"by": "count", "size": 20}, signals=["health", "drift"], start=0,
                   actor="ana")  # fmt: skip
    log(world, 0, current(400, 1))  # 40 requests over the first minute
    log(world, 5 * MINUTE, current(400, 2, shift=3.0), prefix="s")  # 40 more in minute 5
    world.clock.now = 10 * MINUTE
    assert [r.window_start for r in service.run().results] == [0, 20, 40, 60]
    store = world.stores.monitoring
    whole = build_monitoring_report(store, "by-count", start_ms=0, end_ms=10 * MINUTE, now_ms=world.clock.now)
    section = whole.monitors[0]
    assert section["windows"]["total"] == 4 and section["window_text"] == "tumbling windows of 20 requests"
    assert section["x"][0] < "1970-01-01T00:01:00" and section["x"][2] >= "1970-01-01T00:05:00"
    assert section["drift"]["column_drifted"][section["drift"]["columns"].index("a")][2:] == [1.0, 1.0]  # shifted
    later = build_monitoring_report(store, "by-count", start_ms=4 * MINUTE, end_ms=10 * MINUTE, now_ms=world.clock.now)
    assert later.monitors[0]["windows"]["total"] == 2 and later.monitors[0]["health"]["requests"] == [20, 20]
