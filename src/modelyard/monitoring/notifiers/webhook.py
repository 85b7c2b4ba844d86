"""Webhook notifier: the notification as JSON, POSTed with httpx.

Config: ``{"type": "webhook", "url": "https://...", "headers": {...}, "timeout_s": 10}``. The URL
and header values are secrets (they often carry tokens): they are held as ``SecretStr`` and never
appear in errors, logs or ``describe()``, which shows the scheme and host only. Either can be a
reference to an environment variable (``env:HOOK_URL``, ``${HOOK_TOKEN}``; see ``secrets``).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from modelyard.monitoring.notifiers.base import Notification, Notifier, NotifierError, NotifierSettings
from modelyard.monitoring.notifiers.secrets import is_reference

__all__ = ["WebhookConfig", "WebhookNotifier", "post_json"]


def _check_url(value: SecretStr) -> SecretStr:
    if is_reference(value.get_secret_value()):  # checked once resolved, when a notification is sent
        return value
    parts = urlsplit(value.get_secret_value())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


class WebhookConfig(NotifierSettings):
    type: Literal["webhook"] = "webhook"
    url: SecretStr
    headers: dict[str, SecretStr] = Field(default_factory=dict)

    _url = field_validator("url")(_check_url)


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


def post_json(url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float) -> None:
    """One POST; raises ``NotifierError`` (retryable on timeouts, connection errors, 429 and 5xx)
    whose text names neither the URL nor the headers."""
    import httpx

    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False) as client:
            response = client.post(url, json=payload, headers=headers)
    except httpx.TimeoutException:
        raise NotifierError(f"timed out after {timeout:g} s", retryable=True) from None
    except httpx.HTTPError as exc:
        raise NotifierError(f"request failed ({type(exc).__name__})", retryable=True) from None
    code = response.status_code
    if 200 <= code < 300:
        return
    raise NotifierError(f"HTTP {code}", retryable=code == 429 or code >= 500)


class WebhookNotifier(Notifier[WebhookConfig]):
    """POSTs ``{"version": 1, **notification}`` as JSON."""

    type = "webhook"

    def payload(self, notification: Notification) -> dict[str, Any]:
        return {"version": 1, "title": notification.title, **notification.to_dict()}

    def send(self, notification: Notification, *, timeout: float) -> None:
        headers = {k: v.get_secret_value() for k, v in self.config.headers.items()}
        post_json(self.config.url.get_secret_value(), self.payload(notification), headers, timeout)

    def describe(self) -> str:
        return f"webhook to {_where(self.config.url.get_secret_value())}"
