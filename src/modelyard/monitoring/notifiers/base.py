"""What a notifier is and how a notification is delivered: retried with capped exponential backoff,
bounded in total time, never raising.

A ``Notifier`` sends one ``Notification`` in one attempt (``send``) and raises ``NotifierError``
when that attempt failed, saying whether another attempt could succeed (a timeout, an HTTP 5xx or
429, an SMTP 4xx) or not (an HTTP 4xx, an SMTP 5xx refusal, a bad login). ``deliver`` owns the
policy: up to ``1 + retries`` attempts, sleeping ``backoff · 2^k`` seconds (at most
``max_backoff``) between them, never starting an attempt past ``deadline`` seconds, and giving each
attempt at most the time that remains — so an unreachable webhook costs a monitor a bounded,
known time and never an exception. The ``Delivery`` it returns is the record a monitor keeps.

Error texts are written by the notifiers themselves and never contain a URL, a header, a password
or a server's reply that could echo one: webhook URLs and SMTP passwords are secrets.
"""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Delivery", "Notification", "Notifier", "NotifierError", "NotifierSettings", "deliver"]

logger = logging.getLogger("modelyard.monitoring.notifiers")


@dataclass(frozen=True)
class Notification:
    """One alert state change to tell people about."""

    monitor: str
    rule: str
    status: Literal["firing", "resolved"] | str
    severity: str
    signal: str
    value: float | None
    threshold: float | None
    window_start_ms: int
    window_end_ms: int
    message: str
    labels: dict[str, str] = field(default_factory=dict)
    fingerprint: str = ""

    @property
    def title(self) -> str:
        """A one-line summary: ``[FIRING critical] monitor/rule``."""
        return f"[{str(self.status).upper()} {self.severity}] {self.monitor}/{self.rule}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("value", "threshold"):
            v = out[key]
            if isinstance(v, float) and not math.isfinite(v):
                out[key] = None  # JSON has no NaN
        return out


class NotifierError(Exception):
    """One failed attempt; ``retryable`` says whether trying again could help. The message must
    hold no secret (no URL, header, password)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class NotifierSettings(BaseModel):
    """What every notifier's config has: strict (unknown keys refused), frozen, a per-attempt timeout."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float = Field(default=10.0, gt=0, le=120)


C = TypeVar("C", bound=NotifierSettings)


class Notifier(ABC, Generic[C]):
    """Sends a notification somewhere, one attempt per ``send`` call, as its config says."""

    type: ClassVar[str]
    timeout_s: float = 10.0

    def __init__(self, config: C) -> None:
        self.config = config
        self.timeout_s = config.timeout_s

    @abstractmethod
    def send(self, notification: Notification, *, timeout: float) -> None:
        """Deliver once within ``timeout`` seconds; raise ``NotifierError`` on failure."""

    @abstractmethod
    def describe(self) -> str:
        """Where it sends to, without secrets (for logs and the UI)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


@dataclass(frozen=True)
class Delivery:
    """The record of one delivery: whether it arrived, after how many attempts, the last error
    (None when it arrived) and when it finished (epoch ms)."""

    ok: bool
    attempts: int
    error: str | None
    at_ms: int
    notifier: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def deliver(
    notifier: Notifier[Any],
    notification: Notification,
    *,
    retries: int = 3,
    backoff: float = 0.5,
    max_backoff: float = 8.0,
    deadline: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Delivery:
    """Send ``notification`` through ``notifier``: at most ``1 + retries`` attempts with capped
    exponential backoff, none started after ``deadline`` seconds, each limited to the notifier's
    timeout and the time left. Never raises; returns the ``Delivery`` record."""
    retries = max(0, int(retries))
    start = clock()
    attempts = 0
    error: str | None = None
    kind = getattr(notifier, "type", type(notifier).__name__)
    while True:
        remaining = deadline - (clock() - start)
        if remaining <= 0:
            error = error or f"no time left for an attempt within {deadline:g} s"
            break
        attempts += 1
        try:
            notifier.send(notification, timeout=max(0.05, min(float(notifier.timeout_s), remaining)))
        except NotifierError as exc:
            error, retryable = str(exc), exc.retryable
        except Exception as exc:  # a notifier bug must not stop monitoring; its text may hold secrets
            error, retryable = f"{type(exc).__name__} in the {kind} notifier", True
        else:
            return Delivery(True, attempts, None, _now_ms(), kind)
        logger.warning("notification %s via %s failed (attempt %d): %s", notification.fingerprint, kind, attempts,
                       error)  # fmt: skip
        if not retryable or attempts > retries:
            break
        pause = min(max_backoff, backoff * 2 ** (attempts - 1))
        if clock() - start + pause >= deadline:
            break
        sleep(pause)
    return Delivery(False, attempts, error, _now_ms(), kind)


def _now_ms() -> int:
    return int(time.time() * 1000)
