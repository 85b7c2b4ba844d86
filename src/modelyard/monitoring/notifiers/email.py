"""Email notifier over SMTP (the standard library's ``smtplib``): a plain-text body and a small HTML
alternative, STARTTLS or implicit TLS when configured, a login when configured.

Config: ``{"type": "email", "host": "smtp.example.org", "port": 587, "starttls": true,
"username": "alerts", "password": "...", "from": "modelyard <alerts@example.org>",
"to": ["oncall@example.org"], "timeout_s": 10}``. The password is a secret: held as ``SecretStr``,
never in an error or a log line. A refusal (5xx: recipient or sender refused, bad login) is final;
a 4xx or a dropped connection is retried by ``deliver``.
"""

from __future__ import annotations

import datetime as dt
import html
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from modelyard.monitoring.notifiers.base import Notification, Notifier, NotifierError, NotifierSettings

__all__ = ["EmailConfig", "EmailNotifier", "build_message"]


def _address(value: str) -> str:
    _, addr = parseaddr(value)
    if not addr or "@" not in addr or any(c in value for c in "\r\n"):
        raise ValueError("must be an email address")
    return value


class EmailConfig(NotifierSettings):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: Literal["email"] = "email"
    host: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9.\-\[\]:]+$")
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = False
    ssl: bool = False
    username: str | None = Field(default=None, min_length=1)
    password: SecretStr | None = None
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1, max_length=100)
    subject_prefix: str = Field(default="[modelyard]", max_length=50)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _address(value)

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str]) -> list[str]:
        return [_address(v) for v in value]

    @model_validator(mode="after")
    def _together(self) -> EmailConfig:
        if self.starttls and self.ssl:
            raise ValueError("use starttls or ssl, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("give username and password together")
        return self


def _time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def build_message(notification: Notification, config: EmailConfig) -> EmailMessage:
    n = notification
    facts = [
        ("Status", str(n.status)), ("Severity", n.severity), ("Monitor", n.monitor), ("Rule", n.rule),
        ("Signal", n.signal), ("Value", "—" if n.value is None else f"{n.value:.6g}"),
        ("Threshold", "—" if n.threshold is None else f"{n.threshold:.6g}"),
        ("Window", f"{_time(n.window_start_ms)} → {_time(n.window_end_ms)}"), ("Fingerprint", n.fingerprint),
        *sorted(n.labels.items()),
    ]  # fmt: skip
    msg = EmailMessage()
    subject = f"{config.subject_prefix} {n.title}".strip()
    msg["Subject"] = " ".join(subject.split())[:200]  # no header injection through a rule's name
    msg["From"] = config.sender
    msg["To"] = ", ".join(config.to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="modelyard")
    width = max(len(k) for k, _ in facts)
    text = n.message + "\n\n" + "\n".join(f"{k.ljust(width)}  {v}" for k, v in facts) + "\n"
    msg.set_content(text)
    rows = "".join(
        f'<tr><th style="text-align:left;padding:2px 12px 2px 0">{html.escape(k)}</th>'
        f"<td>{html.escape(str(v))}</td></tr>"
        for k, v in facts
    )
    color = "#b00020" if str(n.status) == "firing" else "#1b5e20"
    body = (
        f'<!doctype html><html><body style="font-family:sans-serif">'
        f'<h2 style="color:{color}">{html.escape(n.title)}</h2><p>{html.escape(n.message)}</p>'
        f"<table>{rows}</table></body></html>"
    )
    msg.add_alternative(body, subtype="html")
    return msg


class EmailNotifier(Notifier[EmailConfig]):
    type = "email"

    def send(self, notification: Notification, *, timeout: float) -> None:
        c = self.config
        message = build_message(notification, c)
        try:
            smtp: smtplib.SMTP
            if c.ssl:
                smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(c.host, c.port, timeout=timeout)
            with smtp:
                smtp.ehlo()
                if c.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if c.username is not None and c.password is not None:
                    smtp.login(c.username, c.password.get_secret_value())
                refused = smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifierError(f"SMTP login refused ({exc.smtp_code})", retryable=False) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise NotifierError(f"SMTP server refused every recipient ({codes})", retryable=all(
                400 <= c < 500 for c in codes))  # fmt: skip
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, ...
            code = int(exc.smtp_code)
            raise NotifierError(f"SMTP server refused the message ({code})", retryable=400 <= code < 500) from None
        except (smtplib.SMTPException, OSError) as exc:  # connection refused or dropped, timeout, TLS
            raise NotifierError(f"SMTP failed ({type(exc).__name__})", retryable=True) from None
        if refused:
            raise NotifierError(f"SMTP server refused {len(refused)} of {len(c.to)} recipients", retryable=False)

    def describe(self) -> str:
        return f"email via {self.config.host}:{self.config.port} to {len(self.config.to)} recipient(s)"
