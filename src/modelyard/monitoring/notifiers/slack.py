"""Slack-compatible incoming-webhook notifier (Slack, Mattermost, Rocket.Chat and others accept
the same payload): a ``text`` fallback plus Block Kit ``blocks`` — a header, the facts as fields
and the window as context.

Config: ``{"type": "slack", "url": "https://hooks...", "channel": "#ml-alerts", "username":
"modelyard", "icon_emoji": ":rotating_light:", "timeout_s": 10}``. The URL is a secret.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from modelyard.monitoring.notifiers.base import Notification, Notifier, NotifierSettings
from modelyard.monitoring.notifiers.webhook import _check_url, _where, post_json

__all__ = ["SlackConfig", "SlackNotifier", "slack_payload"]

_EMOJI = {"firing": ":red_circle:", "resolved": ":large_green_circle:"}


class SlackConfig(NotifierSettings):
    type: Literal["slack"] = "slack"
    url: SecretStr
    channel: str | None = Field(default=None, min_length=1, max_length=200)
    username: str | None = Field(default=None, min_length=1, max_length=80)
    icon_emoji: str | None = Field(default=None, pattern=r"^:[a-z0-9_+\-]+:$")

    _url = field_validator("url")(_check_url)


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _mrkdwn(text: str) -> str:
    """Slack's three escapes, so a label cannot open a link or mention a channel."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(notification: Notification, config: SlackConfig | None = None) -> dict[str, Any]:
    n = notification
    emoji = _EMOJI.get(str(n.status), ":large_yellow_circle:")
    fields = [
        ("Status", str(n.status)), ("Severity", n.severity), ("Signal", n.signal),
        ("Value", _number(n.value)), ("Threshold", _number(n.threshold)), ("Monitor", n.monitor),
    ]  # fmt: skip
    fields += [(k, v) for k, v in sorted(n.labels.items())][: 10 - len(fields)]  # Slack allows 10 fields
    context = f"window {_time(n.window_start_ms)} → {_time(n.window_end_ms)} · fingerprint `{n.fingerprint}`"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": n.title[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{emoji} {_mrkdwn(n.message)[:2900]}"}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{_mrkdwn(k)}*\n{_mrkdwn(str(v))[:1900]}"} for k, v in fields],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
    ]
    payload: dict[str, Any] = {"text": f"{n.title}: {n.message}"[:3000], "blocks": blocks}
    if config is not None:
        for key in ("channel", "username", "icon_emoji"):
            value = getattr(config, key)
            if value is not None:
                payload[key] = value
    return payload


class SlackNotifier(Notifier[SlackConfig]):
    type = "slack"

    def send(self, notification: Notification, *, timeout: float) -> None:
        post_json(self.config.url.get_secret_value(), slack_payload(notification, self.config), {}, timeout)

    def describe(self) -> str:
        return f"slack webhook at {_where(self.config.url.get_secret_value())}"
