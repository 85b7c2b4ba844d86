"""Notifier secrets by reference: a webhook URL, a header value, an SMTP login can name an
environment variable instead of holding the secret.

A secret field (``SECRET_FIELDS``: webhook ``url`` and ``headers`` values, slack ``url``, email
``username`` and ``password``) holds either the secret itself or a *reference*: ``env:NAME`` (the
whole value is the variable's) or text with ``${NAME}`` placeholders
(``https://hooks.slack.com/services/${SLACK_TOKEN}``). References are what the monitor's spec
stores, what the API and ``modelyard monitor show`` display, and are resolved only when a
notification is sent (``resolve``), in the environment of the process that sends it (the cron job,
the server in continuous mode), so the secret is never in the metadata store. A variable that is
not set is a failed delivery naming the variable, never a value. ``redact`` replaces the secrets
that were given literally, leaving references, for display.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from modelyard.monitoring.notifiers.base import NotifierError

__all__ = ["REDACTED", "SECRET_FIELDS", "is_reference", "redact", "resolve"]

#: The fields of each notifier type that hold secrets (a dict field: each of its values).
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "webhook": ("url", "headers"),
    "slack": ("url",),
    "email": ("username", "password"),
}
REDACTED = "<redacted>"
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PLACEHOLDER = re.compile(r"\$\{(" + _NAME + r")\}")
_WHOLE = re.compile(r"^env:(" + _NAME + r")$")


def is_reference(value: Any) -> bool:
    """``env:NAME``, or text with at least one ``${NAME}`` placeholder."""
    return isinstance(value, str) and bool(_WHOLE.match(value) or _PLACEHOLDER.search(value))


def _resolve_text(value: str, environ: Mapping[str, str]) -> str:
    names = [m.group(1)] if (m := _WHOLE.match(value)) else _PLACEHOLDER.findall(value)
    missing = [n for n in dict.fromkeys(names) if n not in environ]
    if missing:
        raise NotifierError(
            f"environment variable(s) {', '.join(missing)} not set for the notifier's secret", retryable=False
        )
    if m:
        return environ[m.group(1)]
    return _PLACEHOLDER.sub(lambda found: environ[found.group(1)], value)


def _secret_values(config: Mapping[str, Any], apply: Any) -> dict[str, Any]:
    out = dict(config)
    for name in SECRET_FIELDS.get(str(config.get("type")), ()):
        value = out.get(name)
        if isinstance(value, Mapping):
            out[name] = {k: apply(v) for k, v in value.items()}
        elif value is not None:
            out[name] = apply(value)
    return out


def resolve(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The configuration with its secret fields' references replaced by the variables' values
    (this process's environment by default); ``NotifierError`` (not retryable) naming a variable that is not set."""
    from modelyard.settings import environment_variables

    env = environment_variables() if environ is None else environ
    return _secret_values(config, lambda v: _resolve_text(v, env) if is_reference(v) else v)


def redact(config: Mapping[str, Any], *, hidden: str = REDACTED, everything: bool = False) -> dict[str, Any]:
    """For display: the secret fields given literally become ``hidden``, references stay.
    ``everything``: every field but ``type`` and the references becomes ``hidden``."""
    if everything:
        keep = _secret_values(config, lambda v: v if is_reference(v) else hidden)
        return {k: (v if k == "type" or k in SECRET_FIELDS.get(str(config.get("type")), ()) else hidden)
                for k, v in keep.items()}  # fmt: skip
    return _secret_values(config, lambda v: v if is_reference(v) else hidden)
