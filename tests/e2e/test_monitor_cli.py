"""``modelyard monitor`` end to end over a local store: a reference registered from a file, a
monitor created from flags, ``monitor run`` (cron-friendly: each window once; exit 3 with
``--fail-on-alert`` while an alert fires), alerts, history, silences, the gate, JSON output, and
one-line errors that change nothing."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

import modelyard
from modelyard.cli.main import app
from modelyard.core.tracking import now_millis
from modelyard.settings import load_settings
from modelyard.store.bundle import open_stores
from tests.integration.test_monitoring_service import MINUTE, Threshold, current, log, reference

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def deployed(modelyard_home: Path, tmp_path: Path) -> int:
    """Model m@1 deployed as "api", with two logged minutes: normal traffic, then shifted traffic
    with errors; returns the start of the first minute."""
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    modelyard.set_project("monitor-cli")
    with modelyard.start_run():
        modelyard.log_model(Threshold(), "m", input_example=pd.DataFrame({"a": [0.1], "b": ["x"]}))
    modelyard.deploy("api", "m@1")
    start = (now_millis() // MINUTE - 10) * MINUTE
    with open_stores(load_settings()) as stores:
        world = SimpleNamespace(stores=stores)
        log(world, start, current(300, 1))  # type: ignore[arg-type]
        log(world, start + MINUTE, current(300, 2, shift=3.0, unseen=True), errors=12)  # type: ignore[arg-type]
    reference().to_csv(tmp_path / "reference.csv", index=False)
    yield start
    modelyard.set_store_uri(None)


def test_monitor_commands(deployed: int, tmp_path: Path) -> None:
    code, out = invoke("monitor", "reference", "m@1", str(tmp_path / "reference.csv"))
    assert code == 0, out
    assert "m@1 training reference: 2,000 rows profiled (a, b, prediction)" in out
    code, out = invoke(
        "monitor", "create", "api-mon", "-d", "api", "--window", "1m", "--delay", "0", "--start", str(deployed),
        "-s", "health", "-s", "quality", "-s", "drift",
        "--rule", "drift: drift.share_drifted > 0.4 critical gate",
        "--rule", "errors: health.error_rate > 0.2",
        "--rule", "unseen: quality.unseen_category_share >= 0.05 for 2",
    )  # fmt: skip
    assert code == 0, out
    assert "api-mon watches api: tumbling windows of 60s" in out and "drift.share_drifted > 0.4" in out
    code, out = invoke("monitor", "run", "--fail-on-alert")
    assert code == 3, out
    assert "window(s) evaluated" in out and "2 alert(s) fired" in out
    assert "firing api-mon/drift (critical)" in out and "firing api-mon/errors (warning)" in out
    assert "api-mon/unseen" not in out  # needs two windows with unseen categories
    code, out = invoke("monitor", "run", "--json")  # nothing new is due: each window once
    assert code == 0, out
    report = json.loads(out)
    assert report["windows"] == [] and {a["rule"] for a in report["firing"]} == {"drift", "errors"}
    code, out = invoke("monitor", "alerts", "--state", "firing", "--json")
    alerts = json.loads(out)
    assert {a["rule"] for a in alerts} == {"drift", "errors"}
    drift = next(a for a in alerts if a["rule"] == "drift")
    code, out = invoke("monitor", "gate", "api")
    assert code == 1 and "gate closed by api-mon/drift" in out
    code, out = invoke("monitor", "history", drift["fingerprint"][:10], "--json")
    assert code == 0, out
    assert [e["kind"] for e in json.loads(out)] == ["firing", "action"]
    code, out = invoke("monitor", "results", "api-mon", "--json")
    results = json.loads(out)
    assert [r["status"] for r in results[-2:]] == ["ok", "ok"]  # newest first: the first two minutes
    assert {r["status"] for r in results[:-2]} == {"no_traffic"}
    assert results[-2]["values"]["quality"]["unseen_category_share"] > 0.1
    code, out = invoke("monitor", "report", "api-mon", "-o", str(tmp_path / "report.html"))
    assert code == 0 and "wrote" in out, out
    html = (tmp_path / "report.html").read_text()
    assert (tmp_path / "plotly.min.js").exists() and "Monitoring report: api-mon" in html and "firing" in html
    assert 'id="windows-0"' in html and html.count('<tr data-status="ok">') == 2  # the windows' table
    code, out = invoke("monitor", "report", "api-mon", "-o", str(tmp_path / "report.json"))
    document = json.loads((tmp_path / "report.json").read_text())
    assert document["summary"]["alerts_fired"] == 2 and {c["group"] for c in document["charts"]} >= {"health", "drift"}
    code, out = invoke("monitor", "report", "api-mon", "-o", str(tmp_path / "nope" / "r.html"))
    assert code == 2 and "no such directory" in out
    code, out = invoke("monitor", "show", "api-mon")
    assert code == 0 and "Windows (newest first)" in out and "drift" in out
    code, out = invoke("monitor", "list", "--json")
    assert [m["name"] for m in json.loads(out)] == ["api-mon"]
    code, out = invoke("monitor", "silence", "-m", "api-mon", "--for", "2h", "-c", "known shift", "--json")
    assert code == 0, out
    silence_id = json.loads(out)["id"]
    code, out = invoke("monitor", "silences", "--active", "--json")
    assert [s["id"] for s in json.loads(out)] == [silence_id]
    code, out = invoke("monitor", "unsilence", silence_id)
    assert code == 0 and f"silence {silence_id} ended" in out
    code, out = invoke("monitor", "update", "api-mon", "--disable", "--rule", "errors: health.error_rate > 0.5")
    assert code == 0 and "(disabled)" in out and "health.error_rate > 0.5" in out and "drift.share" not in out, out
    code, out = invoke("monitor", "update", "api-mon")
    assert code == 2 and "nothing to change" in out
    code, out = invoke("monitor", "update", "api-mon", "--rule", "x: drift.share_drifted > 1 rollback", "--spec",
                       str(tmp_path / "missing.yaml"))  # fmt: skip
    assert code == 2 and "cannot read" in out
    code, out = invoke("monitor", "delete", "api-mon")
    assert code == 0
    code, out = invoke("monitor", "gate", "api")
    assert code == 0 and "gate open" in out  # the monitor is gone: nothing holds the gate


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["monitor", "create", "x", "-d", "api"], 2, "give the window size"),
        (["monitor", "create", "x", "-d", "api", "-w", "1m", "--rule", "oops"], 2, "invalid rule 'oops'"),
        (["monitor", "create", "x", "-d", "nope", "-w", "1m"], 1, "deployment 'nope' not found"),
        (["monitor", "create", "x", "-d", "api", "-w", "ten"], 2, "invalid duration 'ten'"),
        (
            ["monitor", "create", "x", "-d", "api", "--by", "count", "-w", "5", "--step", "9"],
            2,
            "smaller than its size",
        ),
        (["monitor", "run", "nope"], 1, "monitor 'nope' not found"),
        (["monitor", "silence", "--for", "1h"], 2, "at least one of --monitor"),
        (["monitor", "reference", "m", "x.csv"], 2, "MODEL@VERSION"),
        (["monitor", "alerts", "--state", "odd"], 2, "--state is firing or resolved"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(deployed: int, args: list[str], code: int, message: str) -> None:
    got, out = invoke(*args)
    assert got == code, out
    assert message in out and "Traceback" not in out and len(out.strip().splitlines()) == 1
    assert json.loads(invoke("monitor", "list", "--json")[1]) == []


def test_reference_with_a_target_in_one_command(deployed: int, tmp_path: Path) -> None:
    data = reference().drop(columns=["prediction"]).assign(label=lambda f: (f["a"] > 0.4).astype(int))
    data.to_csv(tmp_path / "labelled.csv", index=False)
    code, out = invoke("monitor", "reference", "m@1", str(tmp_path / "labelled.csv"), "--target", "label",
                       "--task", "regression")  # fmt: skip
    assert code == 0, out
    assert "m@1 training reference: 2,000 rows profiled (a, b, prediction)" in out
    assert "m@1 label-free estimator: regression (from 'label')" in out
    code, out = invoke("monitor", "reference", "m@1", str(tmp_path / "labelled.csv"), "--target", "nope", "--json")
    assert code != 0 and "target column 'nope' is not in the reference data" in out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1
    code, out = invoke("monitor", "reference", "m@1", str(tmp_path / "labelled.csv"), "--target", "label",
                       "--task", "classification", "--json")  # fmt: skip
    assert code == 0, out
    saved = json.loads(out)
    assert saved["summary"]["estimator_skipped"].startswith("the classifier gives no class scores")
    # the regression estimator fitted before does not match this reference: it is removed, and said so
    assert saved["summary"]["estimator_removed"] is True
    with open_stores(load_settings()) as stores:
        assert {r.role for r in stores.monitoring.list_references("m")} == {"training"}
    code, out = invoke("monitor", "reference", "m@1", str(tmp_path / "labelled.csv"), "--target", "label",
                       "--task", "classification")  # fmt: skip
    assert code == 0, out  # nothing left to remove this time
    assert "no label-free estimator: the classifier gives no class scores" in out and "removed" not in out


def test_late_labels_over_the_cli(deployed: int) -> None:
    code, out = invoke(
        "monitor", "create", "perf", "-d", "api", "--window", "1m", "--delay", "0", "--start", str(deployed),
        "-s", "performance", "--task", "classification", "--label-horizon", "1d",
    )  # fmt: skip
    assert code == 0, out
    assert "late labels counted for 86400s" in out
    code, out = invoke("monitor", "run", "perf")
    assert code == 0 and "re-evaluated" not in out, out
    from modelyard.core.serving import Feedback

    with open_stores(load_settings()) as stores:  # the first minute's 30 requests are labelled late
        stores.serving.record_feedback(
            [Feedback(request_id=f"r{deployed}-{i}", value=[0] * 10, at=1) for i in range(30)]
        )
    code, out = invoke("monitor", "run", "perf")
    assert code == 0, out
    assert "1 window(s) re-evaluated for late labels" in out
    assert (
        f"perf [{deployed}, {deployed + 60_000}): late labels, performance re-evaluated on 300 labelled row(s)" in out
    )
    code, out = invoke("monitor", "run", "perf", "--json")
    assert json.loads(out)["revised"] == []
    code, out = invoke("monitor", "create", "bad", "-d", "api", "--window", "1m", "--label-horizon", "soon")
    assert code == 2 and "invalid duration" in out and len(out.strip().splitlines()) == 1
    code, out = invoke("monitor", "create", "bad", "-d", "api", "--window", "1m", "--label-horizon", "1d")
    assert code != 0 and "label horizon" in out and "Traceback" not in out


def test_notifier_secrets_by_reference(deployed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    (tmp_path / "spec.yaml").write_text(
        "rules:\n"
        "  - {name: errors, signal: health.error_rate, threshold: 0.2,\n"
        "     notifiers: [{type: slack, url: '${SLACK_WEBHOOK_URL}'},\n"
        "                 {type: webhook, url: 'http://127.0.0.1:9/literal-token'}]}\n"
    )
    code, out = invoke("monitor", "create", "sec", "-d", "api", "--window", "1m", "--delay", "0",
                       "--start", str(deployed), "--spec", str(tmp_path / "spec.yaml"))  # fmt: skip
    assert code == 0, out
    assert "note: notifier secrets stored as given (errors/webhook)" in out  # the literal one only
    code, out = invoke("monitor", "show", "sec", "--json")
    notifiers = json.loads(out)["monitor"]["spec"]["rules"][0]["notifiers"]
    assert notifiers == [{"type": "slack", "url": "${SLACK_WEBHOOK_URL}"}, {"type": "webhook", "url": "<redacted>"}]
    assert "literal-token" not in out
    with open_stores(load_settings()) as stores:  # stored as given: the reference, never its value
        stored = stores.monitoring.get_monitor("sec").spec.rules[0].notifiers
        assert stored[0]["url"] == "${SLACK_WEBHOOK_URL}"
    code, out = invoke("monitor", "run", "sec", "--json")  # the variable is not set here
    assert code == 0, out
    (fired,) = json.loads(out)["fired"]
    code, out = invoke("monitor", "history", fired["fingerprint"], "--json")
    failed = [e for e in json.loads(out) if e["kind"] == "notify_failed" and e["detail"]["notifier"] == "slack"]
    assert failed and "SLACK_WEBHOOK_URL not set" in failed[0]["detail"]["error"]
