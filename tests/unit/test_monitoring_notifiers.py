"""Notifiers against real local servers: an aiosmtpd SMTP server of the test's own (accepting,
refusing, refusing once), a local HTTP server that returns 500 then 200 or never answers in time.
Deliveries are retried with backoff (the sleeps are recorded, not waited), failures are recorded,
nothing raises, and no secret reaches an error or a log line."""

from __future__ import annotations

import email
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.core.errors import InvalidArgument
from modelyard.monitoring.notifiers import from_config, redact, validate_config
from modelyard.monitoring.notifiers.base import Notification, Notifier, NotifierError, deliver
from modelyard.monitoring.notifiers.slack import SlackConfig, slack_payload

SECRET = "s3cr3t-t0ken-do-not-leak"


def _notification(**kw) -> Notification:
    base = {
        "monitor": "churn-prod", "rule": "accuracy-drop", "status": "firing", "severity": "critical",
        "signal": "performance.accuracy", "value": 0.71, "threshold": 0.8, "window_start_ms": 1_700_000_000_000,
        "window_end_ms": 1_700_003_600_000, "message": "accuracy 0.71 < 0.8 for 3 windows",
        "labels": {"deployment": "churn", "variant": "blue"}, "fingerprint": "abc123",
    }  # fmt: skip
    base.update(kw)
    return Notification(**base)


class _Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


# --- HTTP ------------------------------------------------------------------------------------


class _Script:
    """What the local HTTP server answers, request by request: a status code, or "hang" (answer
    nothing for 2 s, longer than the client's timeout)."""

    def __init__(self, actions: list[int | str]) -> None:
        self.actions = actions
        self.bodies: list[dict] = []
        self.paths: list[str] = []


@pytest.fixture
def http_server() -> Iterator[tuple[str, _Script]]:
    script = _Script([])
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            script.bodies.append(json.loads(body))
            script.paths.append(self.path)
            action = script.actions.pop(0) if script.actions else 200
            try:
                if action == "hang":
                    stop.wait(2.0)
                    return
                self.send_response(int(action))
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the client gave up first

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/{SECRET}", script
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def test_webhook_500_then_200_is_retried_with_backoff(http_server):
    url, script = http_server
    script.actions = [500, 503, 200]
    sleeps = _Sleeps()
    notifier = from_config({"type": "webhook", "url": url})
    delivery = deliver(notifier, _notification(), retries=3, backoff=0.5, sleep=sleeps)
    assert delivery.ok and delivery.attempts == 3 and delivery.error is None
    assert sleeps.calls == [0.5, 1.0]
    body = script.bodies[-1]
    assert body["version"] == 1 and body["status"] == "firing" and body["fingerprint"] == "abc123"
    assert body["labels"] == {"deployment": "churn", "variant": "blue"} and body["value"] == 0.71
    assert script.paths[-1] == f"/hooks/{SECRET}"


def test_webhook_that_times_out_is_recorded_as_a_failure_after_every_attempt(http_server, caplog):
    url, script = http_server
    script.actions = ["hang", "hang", "hang"]
    sleeps = _Sleeps()
    notifier = from_config({"type": "webhook", "url": url, "timeout_s": 0.2, "headers": {"Authorization": SECRET}})
    with caplog.at_level(logging.WARNING):
        delivery = deliver(notifier, _notification(), retries=2, backoff=0.25, sleep=sleeps)
    assert not delivery.ok and delivery.attempts == 3
    assert "timed out" in (delivery.error or "")
    assert sleeps.calls == [0.25, 0.5]
    assert SECRET not in (delivery.error or "") and SECRET not in caplog.text and SECRET not in repr(notifier)


def test_webhook_client_error_is_not_retried(http_server):
    url, script = http_server
    script.actions = [404]
    sleeps = _Sleeps()
    delivery = deliver(from_config({"type": "webhook", "url": url}), _notification(), sleep=sleeps)
    assert not delivery.ok and delivery.attempts == 1 and delivery.error == "HTTP 404" and sleeps.calls == []


def test_unreachable_webhook_fails_without_raising():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}/{SECRET}"
    delivery = deliver(from_config({"type": "webhook", "url": url}), _notification(), retries=1, sleep=_Sleeps())
    assert not delivery.ok and delivery.attempts == 2 and SECRET not in (delivery.error or "")


def test_slack_payload_shape(http_server):
    url, script = http_server
    n = _notification(message="drift on <!channel> & friends", labels={f"k{i}": str(i) for i in range(8)})
    config = SlackConfig(url=url, channel="#ml-alerts", username="modelyard")
    payload = slack_payload(n, config)
    assert payload["text"].startswith("[FIRING critical] churn-prod/accuracy-drop")
    assert payload["channel"] == "#ml-alerts" and payload["username"] == "modelyard"
    kinds = [b["type"] for b in payload["blocks"]]
    assert kinds == ["header", "section", "section", "context"]
    assert payload["blocks"][0]["text"]["type"] == "plain_text"
    assert "&lt;!channel&gt; &amp; friends" in payload["blocks"][1]["text"]["text"]  # no mention, no link
    fields = payload["blocks"][2]["fields"]
    assert 1 <= len(fields) <= 10 and all(f["type"] == "mrkdwn" for f in fields)
    assert "2023-11-14" in payload["blocks"][3]["elements"][0]["text"]
    delivery = deliver(from_config({"type": "slack", "url": url, "channel": "#ml-alerts"}), n, sleep=_Sleeps())
    assert delivery.ok and script.bodies[-1]["blocks"][0]["type"] == "header"


# --- SMTP ------------------------------------------------------------------------------------


class _Mailbox:
    def __init__(self, refuse_rcpt: list[str] | None = None) -> None:
        self.refuse_rcpt = list(refuse_rcpt or [])  # replies to RCPT, consumed one per attempt
        self.messages: list = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_rcpt:
            return self.refuse_rcpt.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Mailbox]]:
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller.port, mailbox
    finally:
        controller.stop()


def _email_config(port: int, **kw) -> dict:
    return {"type": "email", "host": "127.0.0.1", "port": port, "from": "modelyard <alerts@example.org>",
            "to": ["oncall@example.org", "ml@example.org"], "timeout_s": 5, **kw}  # fmt: skip


def test_email_arrives_with_a_text_and_an_html_part(smtp):
    port, mailbox = smtp
    n = _notification(rule="accuracy\r\nBcc: evil@example.org")
    delivery = deliver(from_config(_email_config(port)), n, sleep=_Sleeps())
    assert delivery.ok and delivery.attempts == 1
    (envelope,) = mailbox.messages
    assert envelope.mail_from == "alerts@example.org"
    assert sorted(envelope.rcpt_tos) == ["ml@example.org", "oncall@example.org"]
    msg = email.message_from_bytes(envelope.content)
    assert "Bcc" not in msg and "[FIRING critical] churn-prod/accuracy" in msg["Subject"]
    types = [part.get_content_type() for part in msg.walk()]
    assert "text/plain" in types and "text/html" in types
    plain = next(p for p in msg.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    assert "accuracy 0.71 < 0.8" in plain and "performance.accuracy" in plain and "variant" in plain
    html_part = next(p for p in msg.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()
    assert "<table>" in html_part and "&lt; 0.8" in html_part


def test_smtp_refusal_is_a_recorded_failure_not_retried(smtp):
    port, mailbox = smtp
    mailbox.refuse_rcpt = ["550 5.7.1 relaying denied"] * 2
    sleeps = _Sleeps()
    delivery = deliver(from_config(_email_config(port)), _notification(), sleep=sleeps)
    assert not delivery.ok and delivery.attempts == 1 and "refused" in (delivery.error or "")
    assert sleeps.calls == [] and mailbox.messages == []


def test_smtp_temporary_refusal_is_retried(smtp):
    port, mailbox = smtp
    mailbox.refuse_rcpt = ["451 4.3.0 try again later", "451 4.3.0 try again later"]
    sleeps = _Sleeps()
    delivery = deliver(from_config(_email_config(port, to=["oncall@example.org"])), _notification(), sleep=sleeps)
    assert delivery.ok and delivery.attempts == 3 and sleeps.calls == [0.5, 1.0]
    assert len(mailbox.messages) == 1


def test_smtp_server_that_is_down_fails_after_the_retries_without_leaking_the_password():
    config = _email_config(_free_port(), username="alerts", password=SECRET)
    notifier = from_config(config)
    delivery = deliver(notifier, _notification(), retries=2, sleep=_Sleeps())
    assert not delivery.ok and delivery.attempts == 3
    assert SECRET not in (delivery.error or "") and SECRET not in repr(notifier) and SECRET not in repr(notifier.config)


# --- the delivery policy ---------------------------------------------------------------------


class _Flaky(Notifier):
    type = "flaky"

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or NotifierError("HTTP 503", retryable=True)
        self.timeouts: list[float] = []

    def send(self, notification, *, timeout):
        self.timeouts.append(timeout)
        if self.failures:
            self.failures -= 1
            raise self.error

    def describe(self) -> str:
        return "flaky"


def test_backoff_is_exponential_capped_and_bounded_by_the_deadline():
    now = [0.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    notifier = _Flaky(failures=1000)
    delivery = deliver(notifier, _notification(), retries=100, backoff=1.0, max_backoff=4.0, deadline=20.0,
                       sleep=sleep, clock=lambda: now[0])  # fmt: skip
    assert not delivery.ok
    assert sleeps[:4] == [1.0, 2.0, 4.0, 4.0]
    assert max(sleeps) == 4.0 and sum(sleeps) < 20.0
    assert delivery.attempts == len(sleeps) + 1 < 101
    assert all(t <= notifier.timeout_s for t in notifier.timeouts)


def test_a_notifier_bug_is_caught_and_its_text_not_repeated():
    delivery = deliver(_Flaky(failures=5, error=RuntimeError(f"boom at https://x/{SECRET}")), _notification(),
                       retries=1, sleep=_Sleeps())  # fmt: skip
    assert not delivery.ok and delivery.attempts == 2
    assert SECRET not in (delivery.error or "") and "RuntimeError" in (delivery.error or "")


def test_delivery_record_is_json_ready():
    delivery = deliver(_Flaky(failures=0), _notification(value=float("nan")), sleep=_Sleeps())
    assert delivery.ok and delivery.attempts == 1 and delivery.at_ms > time.time() * 1000 - 60_000
    json.dumps(delivery.to_dict())
    assert _notification(value=float("nan")).to_dict()["value"] is None


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"type": "pager"}, "type must be one of"),
        ("webhook", "mapping"),
        ({"type": "webhook", "url": f"ftp://host/{SECRET}"}, "url: Value error, must be an http"),
        ({"type": "webhook", "url": "https://h/x", "retry": 3}, "retry: Extra inputs are not permitted"),
        ({"type": "webhook", "url": "https://h/x", "timeout_s": 0}, "timeout_s"),
        ({"type": "slack", "url": "https://h/x", "icon_emoji": "bad"}, "icon_emoji"),
        ({"type": "email", "host": "h", "from": "a@b.c"}, "to: Field required"),
        ({"type": "email", "host": "h", "from": "a@b.c", "to": ["nobody"]}, "must be an email address"),
        ({"type": "email", "host": "h", "from": "a@b.c", "to": ["x@y.z"], "ssl": True, "starttls": True}, "not both"),
        ({"type": "email", "host": "h", "from": "a@b.c", "to": ["x@y.z"], "password": SECRET}, "together"),
    ],
)
def test_bad_config_is_a_clear_error_without_the_values(config, message):
    with pytest.raises(InvalidArgument, match=message) as info:
        validate_config(config)
    assert SECRET not in str(info.value)


def test_config_round_trip_and_describe_hide_secrets():
    webhook = from_config({"type": "webhook", "url": f"https://hooks.example.org:8443/{SECRET}"})
    assert webhook.describe() == "webhook to https://hooks.example.org:8443"
    assert SECRET not in repr(webhook.config) and SECRET not in str(webhook.config.model_dump())
    mail = from_config({"type": "email", "host": "smtp.example.org", "from": "a@b.c", "to": ["x@y.z"],
                        "username": "u", "password": SECRET, "starttls": True})  # fmt: skip
    assert mail.describe() == "email via smtp.example.org:587 to 1 recipient(s)"


@pytest.fixture
def smtp_with_login() -> Iterator[tuple[int, _Mailbox]]:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"alerts" and auth_data.password == b"right"
        return AuthResult(success=ok, handled=False)  # not handled: the server answers 535 itself

    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port(), authenticator=authenticator,
                            auth_require_tls=False)  # fmt: skip
    controller.start()
    try:
        yield controller.port, mailbox
    finally:
        controller.stop()


def test_smtp_login_succeeds_with_the_password_and_a_wrong_one_is_final(smtp_with_login):
    port, mailbox = smtp_with_login
    ok = deliver(from_config(_email_config(port, username="alerts", password="right")), _notification(),
                 sleep=_Sleeps())  # fmt: skip
    assert ok.ok and len(mailbox.messages) == 1
    sleeps = _Sleeps()
    wrong = deliver(from_config(_email_config(port, username="alerts", password=SECRET)), _notification(), sleep=sleeps)
    assert not wrong.ok and wrong.attempts == 1 and sleeps.calls == []
    assert "login refused" in (wrong.error or "") and SECRET not in (wrong.error or "")
    assert len(mailbox.messages) == 1


@settings(max_examples=60, deadline=None)
@given(
    outcomes=st.lists(st.sampled_from(["ok", "retry", "final", "bug"]), min_size=1, max_size=12),
    retries=st.integers(0, 6),
    backoff=st.floats(0.01, 5.0),
    max_backoff=st.floats(0.01, 10.0),
    deadline=st.floats(0.1, 60.0),
)
def test_deliver_never_raises_and_respects_its_bounds(outcomes, retries, backoff, max_backoff, deadline):
    """Any sequence of attempt outcomes: at most 1 + retries attempts, every pause within the cap,
    no attempt started after the deadline, a final failure never retried, and a Delivery back."""
    now = [0.0]
    sleeps: list[float] = []

    class Scripted(Notifier):
        type = "scripted"

        def __init__(self) -> None:
            self.started: list[float] = []

        def send(self, notification, *, timeout):
            self.started.append(now[0])
            now[0] += min(timeout, 0.3)  # each attempt takes some time
            outcome = outcomes[min(len(self.started) - 1, len(outcomes) - 1)]
            if outcome == "retry":
                raise NotifierError("HTTP 503", retryable=True)
            if outcome == "final":
                raise NotifierError("HTTP 400", retryable=False)
            if outcome == "bug":
                raise ValueError(SECRET)

        def describe(self) -> str:
            return "scripted"

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    notifier = Scripted()
    delivery = deliver(notifier, _notification(), retries=retries, backoff=backoff, max_backoff=max_backoff,
                       deadline=deadline, sleep=sleep, clock=lambda: now[0])  # fmt: skip
    assert 1 <= delivery.attempts == len(notifier.started) <= retries + 1
    assert all(start < deadline for start in notifier.started)
    assert all(0 < s <= max_backoff for s in sleeps)
    assert len(sleeps) == delivery.attempts - 1
    last = outcomes[min(delivery.attempts - 1, len(outcomes) - 1)]
    assert delivery.ok == (last == "ok")
    if "final" in outcomes[: delivery.attempts - 1]:
        raise AssertionError("a final failure was retried")
    assert SECRET not in (delivery.error or "")


# --- secrets by reference --------------------------------------------------------------------


def test_secrets_can_reference_environment_variables_resolved_when_sent(http_server):
    url, script = http_server
    base, _, token = url.rpartition("/")
    config = {"type": "webhook", "url": "${HOOK_BASE}/${HOOK_TOKEN}", "headers": {"Authorization": "env:HOOK_AUTH"}}
    validate_config(config)  # a reference is not checked as a URL until it is resolved
    environ = {"HOOK_BASE": base, "HOOK_TOKEN": token, "HOOK_AUTH": SECRET}
    delivery = deliver(from_config(config, environ), _notification(), retries=0)
    assert delivery.ok and script.paths[-1] == f"/hooks/{SECRET}"
    assert config["url"] == "${HOOK_BASE}/${HOOK_TOKEN}" and config["headers"] == {"Authorization": "env:HOOK_AUTH"}
    # what it resolves to is checked then: a variable holding no URL is refused without its value
    with pytest.raises(InvalidArgument, match="url: Value error, must be an http") as info:
        from_config({"type": "slack", "url": "env:HOOK"}, {"HOOK": f"ftp://x/{SECRET}"})
    assert SECRET not in str(info.value)


def test_a_variable_that_is_not_set_is_named_never_a_value():
    with pytest.raises(NotifierError, match="HOOK_TOKEN not set") as info:
        from_config({"type": "webhook", "url": "https://hooks.example.org/${HOOK_TOKEN}"}, {"OTHER": SECRET})
    assert not info.value.retryable and SECRET not in str(info.value)
    mail = {"type": "email", "host": "h", "from": "a@b.c", "to": ["x@y.z"], "username": "env:U", "password": "env:P"}
    with pytest.raises(NotifierError, match="P not set"):
        from_config(mail, {"U": "alerts"})
    assert from_config(mail, {"U": "alerts", "P": SECRET}).config.password.get_secret_value() == SECRET  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", ["env:1BAD", "${}", "env:", "$HOOK", "{HOOK}"])
def test_what_is_not_a_reference_is_a_literal(text):
    with pytest.raises(InvalidArgument, match="url: Value error"):  # a literal must be a URL
        validate_config({"type": "webhook", "url": text})


def test_redact_hides_literal_secrets_and_shows_references():
    hook = {"type": "webhook", "url": f"https://h/{SECRET}", "headers": {"A": SECRET, "B": "env:B"}, "timeout_s": 3}
    assert redact(hook) == {"type": "webhook", "url": "<redacted>", "headers": {"A": "<redacted>", "B": "env:B"},
                            "timeout_s": 3}  # fmt: skip
    slack = {"type": "slack", "url": "${SLACK_WEBHOOK_URL}", "channel": "#ml"}
    assert redact(slack) == slack
    assert redact(slack, hidden="?", everything=True) == {
        "type": "slack",
        "url": "${SLACK_WEBHOOK_URL}",
        "channel": "?",
    }
    mail = {"type": "email", "host": "h", "from": "a@b.c", "to": ["x@y.z"], "username": "alerts", "password": SECRET}
    assert redact(mail) == {**mail, "username": "<redacted>", "password": "<redacted>"}
