"""Issue 14's "Done when", live: a deployment served over HTTP receives normal traffic, then
shifted traffic whose labels (sent as feedback by request id) show the model decaying. Monitoring
detects the drift, the quality breach (unseen categories, out-of-range values) and the decay; the
alert fires to a webhook (a local HTTP server of the test's own) and to an SMTP server of its own
(aiosmtpd); a rule rolls the deployment back (the server then answers from the earlier version);
when the traffic returns to normal the alerts resolve, and the webhook hears that too."""

from __future__ import annotations

import email
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("aiosmtpd")
from aiosmtpd.controller import Controller

from modelyard.monitoring.service import MonitoringService
from modelyard.registry.service import RegistryService
from modelyard.serving.deployments import DeploymentService
from modelyard.serving.hosting import build_deployment_app
from modelyard.serving.predictions import predictions
from modelyard.settings import Settings
from modelyard.store.bundle import open_stores
from tests.fixtures.live_server import live_server

WINDOW = 30  # requests per window (count windows: deterministic whatever the machine's speed)
ROWS = 20  # rows per request (600 rows a window: enough that noise alone does not drift)


class Threshold:
    """A classifier over a frame: 1 when a > ``cut``."""

    def __init__(self, cut: float) -> None:
        self.cut = cut

    def predict(self, data: Any) -> Any:
        return (np.asarray(data["a"], dtype=float) > self.cut).astype(int)


class Hooks(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        Hooks.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def webhook() -> Iterator[str]:
    Hooks.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def smtp() -> Iterator[tuple[int, Mailbox]]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller.port, mailbox
    finally:
        controller.stop()


def frame(n: int, rng: np.random.Generator, *, shift: float = 0.0, unseen: bool = False) -> pd.DataFrame:
    return pd.DataFrame({"a": rng.normal(shift, 1.0, n), "b": rng.choice(["x", "y", "z"] if unseen else ["x", "y"], n)})


def wait(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_shifted_traffic_is_detected_alerted_rolled_back_and_resolved(
    tmp_path: Path, webhook: str, smtp: tuple[int, Mailbox]
) -> None:
    smtp_port, mailbox = smtp
    rng = np.random.default_rng(7)
    settings = Settings(home=tmp_path, store_uri=f"sqlite:///{tmp_path / 'm.db'}", artifact_uri=str(tmp_path / "a"))
    with open_stores(settings) as stores:
        registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
        example = pd.DataFrame({"a": [0.1, 0.9], "b": ["x", "y"]})
        registry.log_model(Threshold(0.5), "churn", actor="ana", project="mon", input_example=example)  # v1
        registry.log_model(Threshold(0.6), "churn", actor="ana", project="mon", input_example=example)  # v2
        deployments = DeploymentService(stores.serving, registry)
        deployments.create("churn-api", ["main=churn@1"], actor="ana")
        deployments.update("churn-api", variants=["main=churn@2"], actor="ana", reason="v2")  # revision 2
        training = frame(3000, rng)
        training["prediction"] = (training["a"] > 0.5).astype(int)
        monitoring = MonitoringService(stores)
        for version in (1, 2):
            monitoring.set_reference("churn", version, training, actor="ana")
        notifiers = [
            {"type": "webhook", "url": webhook, "timeout_s": 5},
            {"type": "email", "host": "127.0.0.1", "port": smtp_port, "from": "modelyard <alerts@example.org>",
             "to": ["oncall@example.org"], "timeout_s": 5},
        ]  # fmt: skip
        monitoring.create(
            "churn-mon", "churn-api", window={"by": "count", "size": WINDOW}, start=0, actor="ana",
            signals=["health", "quality", "drift", "performance"],
            options={"performance": {"task": "classification", "metrics": ["accuracy"]}},
            rules=[
                {"name": "drift", "signal": "drift.share_drifted", "threshold": 0.4, "severity": "critical",
                 "notifiers": notifiers, "actions": [{"type": "rollback"}]},
                {"name": "quality", "signal": "quality.unseen_category_share", "threshold": 0.05,
                 "notifiers": notifiers[:1]},
                {"name": "decay", "signal": "performance.accuracy", "comparator": "<", "threshold": 0.8,
                 "notifiers": notifiers[:1]},
            ],
        )  # fmt: skip

        server = build_deployment_app(stores, ("churn-api",), poll_s=0.05, logger_options={"flush_interval_s": 0.05})
        with live_server(server) as url, httpx.Client(base_url=url, timeout=30) as client:
            server.start()
            sent = 0

            def traffic(requests: int, *, shift: float = 0.0, unseen: bool = False, concept: bool = False) -> None:
                """Requests of ROWS rows, then their labels as feedback (wrong-way labels when
                ``concept``: the world changed, the model did not)."""
                nonlocal sent
                labels = []
                for _ in range(requests):
                    rows = frame(ROWS, rng, shift=shift, unseen=unseen)
                    answer = client.post("/v1/models/churn-api/predict", json=rows.to_dict(orient="records"))
                    assert answer.status_code == 200, answer.text
                    truth = (rows["a"] > 0.5).astype(int)
                    labels.append({"request_id": answer.headers["x-request-id"],
                                   "value": (1 - truth if concept else truth).tolist()})  # fmt: skip
                sent += requests
                wait(lambda: len(predictions(stores, "churn-api")) >= sent)  # logged and indexed
                assert client.post("/v1/feedback", json=labels).status_code == 200

            traffic(WINDOW)  # window 0: normal
            first = monitoring.run()
            assert [r.status for r in first.results] == ["ok"] and first.fired == []
            assert first.results[0].values["performance"]["accuracy"] > 0.9

            traffic(WINDOW, shift=3.0, unseen=True, concept=True)  # window 1: shifted, unseen, decayed
            shifted = monitoring.run()
            (result,) = shifted.results
            assert result.values["drift"]["columns"]["a"]["drifted"] is True
            assert result.values["quality"]["unseen_category_share"] > 0.1
            assert result.values["quality"]["out_of_range_share"] > 0.0
            assert result.values["performance"]["accuracy"] < 0.5
            assert {a.rule for a in shifted.fired} == {"drift", "quality", "decay"}

            # the alert reached the webhook (JSON) and the SMTP server
            assert {(h["rule"], h["status"]) for h in Hooks.received} >= {("drift", "firing"), ("quality", "firing"),
                                                                         ("decay", "firing")}  # fmt: skip
            drift_hook = next(h for h in Hooks.received if h["rule"] == "drift")
            assert drift_hook["monitor"] == "churn-mon" and drift_hook["severity"] == "critical"
            (envelope,) = mailbox.messages
            message = email.message_from_bytes(envelope.content)
            assert "churn-mon/drift" in message["Subject"] and envelope.rcpt_tos == ["oncall@example.org"]

            # the rule rolled the deployment back: revision 3 restores churn@1, and the server follows
            current = deployments.get("churn-api")
            assert current.revision == 3 and current.spec.variants[0].version == 1
            event = deployments.history("churn-api")[-1]
            assert (event.action, event.actor) == ("rollback", "system:monitor")
            wait(lambda: client.post("/v1/models/churn-api/predict",
                                     json=frame(1, rng).to_dict(orient="records")).json()["version"] == 1)  # fmt: skip
            drift_alert = next(a for a in shifted.fired if a.rule == "drift")
            kinds = [e.kind for e in monitoring.history(fingerprint=drift_alert.fingerprint)]
            assert kinds[0] == "firing" and kinds.count("notified") == 2 and "action" in kinds

            # traffic returns to normal: every alert resolves, and the webhook is told (the probes
            # above were logged too: the next windows are filled up to their boundary)
            probes = len(predictions(stores, "churn-api")) - sent
            sent += probes
            traffic(2 * WINDOW - probes % WINDOW)
            back = monitoring.run()
            assert {a.rule for a in back.resolved} == {"drift", "quality", "decay"}
            assert monitoring.alerts(state="firing") == []
            assert ("drift", "resolved") in {(h["rule"], h["status"]) for h in Hooks.received}
            assert deployments.get("churn-api").revision == 3  # resolving rolls nothing forward
        asyncio_close(server)


def asyncio_close(server: Any) -> None:
    import asyncio

    asyncio.run(server.close())
