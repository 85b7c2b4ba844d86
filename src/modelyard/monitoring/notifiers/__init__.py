"""Notifiers: where an alert is told — a webhook (JSON), a Slack-compatible incoming webhook, email
over SMTP. ``from_config(dict)`` builds one from a validated configuration (each backend's config
class sits next to it, ``type`` picks the backend, unknown keys are refused); ``deliver`` (in
``base``) sends with retries and backoff and returns a ``Delivery`` record, never raising. Secret
fields may reference environment variables, resolved by ``from_config`` at send time; ``redact``
hides the secrets given literally, for display (``secrets``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from modelyard.core.errors import InvalidArgument
from modelyard.monitoring.notifiers.base import Delivery, Notification, Notifier, NotifierError, deliver
from modelyard.monitoring.notifiers.email import EmailConfig, EmailNotifier
from modelyard.monitoring.notifiers.secrets import is_reference, redact, resolve
from modelyard.monitoring.notifiers.slack import SlackConfig, SlackNotifier
from modelyard.monitoring.notifiers.webhook import WebhookConfig, WebhookNotifier

__all__ = [
    "NOTIFIER_TYPES",
    "Delivery",
    "EmailConfig",
    "Notification",
    "Notifier",
    "NotifierConfig",
    "NotifierError",
    "SlackConfig",
    "WebhookConfig",
    "deliver",
    "from_config",
    "is_reference",
    "redact",
    "resolve",
    "validate_config",
]

NotifierConfig = Annotated[WebhookConfig | SlackConfig | EmailConfig, Field(discriminator="type")]
NOTIFIER_TYPES: dict[str, type[Notifier]] = {"webhook": WebhookNotifier, "slack": SlackNotifier, "email": EmailNotifier}
_ADAPTER: TypeAdapter[WebhookConfig | SlackConfig | EmailConfig] = TypeAdapter(NotifierConfig)


def validate_config(config: Any) -> WebhookConfig | SlackConfig | EmailConfig:
    """The typed configuration, or ``InvalidArgument`` naming the bad fields — never their values
    (a webhook URL or a password must not end up in an error message)."""
    if not isinstance(config, dict):
        raise InvalidArgument("a notifier is configured by a mapping with a 'type'")
    if config.get("type") not in NOTIFIER_TYPES:
        raise InvalidArgument(f"notifier type must be one of {sorted(NOTIFIER_TYPES)}")
    try:
        return _ADAPTER.validate_python(config)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(p) for p in error["loc"][1:]) or "config"
            problems.append(f"{where}: {error['msg']}")
        raise InvalidArgument(f"invalid {config['type']} notifier: " + "; ".join(problems)) from None


def from_config(config: Any, environ: Mapping[str, str] | None = None) -> Notifier:
    """A notifier from ``{"type": "webhook" | "slack" | "email", ...}`` (see each module), its
    secret fields' references to environment variables resolved now (``secrets.resolve``):
    this is called when a notification is sent, never when a monitor is stored."""
    typed = validate_config(resolve(config, environ) if isinstance(config, Mapping) else config)
    if isinstance(typed, WebhookConfig):
        return WebhookNotifier(typed)
    if isinstance(typed, SlackConfig):
        return SlackNotifier(typed)
    return EmailNotifier(typed)
