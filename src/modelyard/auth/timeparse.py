"""Times and durations as people type them on a command line or in a query string.

Shared by the CLI and the audit routes so that ``--since 2h`` and ``?since=2026-11-01`` mean the
same thing everywhere.
"""

from __future__ import annotations

import datetime as dt
import re

from modelyard.core.errors import InvalidArgument
from modelyard.core.validation import INT64_MAX, INT64_MIN, bounded_int

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000, "": 86_400_000}
#: The longest duration accepted anywhere (token lifetimes, "since" windows): 100 years.
MAX_DURATION_MS = 100 * 365 * 86_400_000


def parse_duration_ms(text: str) -> int:
    """``90s``, ``15m``, ``12h``, ``30d``, ``2w``; a bare number means days."""
    match = _DURATION_RE.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise InvalidArgument(f"invalid duration {text[:60]!r}: a positive number with s, m, h, d or w (e.g. 30d)")
    millis = float(match.group(1)) * _UNIT_MS[match.group(2)]
    if not millis <= MAX_DURATION_MS:
        raise InvalidArgument(f"invalid duration {text[:60]!r}: longer than 100 years")
    return int(millis)


def parse_time_ms(text: str | None, name: str, *, now_ms: int | None = None) -> int | None:
    """Epoch milliseconds, an ISO-8601 date or time (UTC unless it names a zone), or a duration
    meaning that long ago (``2h``, ``7d``; only where ``now_ms`` is given)."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if text.lstrip("-").isdigit():
        return bounded_int(text, name, low=INT64_MIN, high=INT64_MAX)
    if now_ms is not None and _DURATION_RE.match(text) and text[-1].isalpha():
        return now_ms - parse_duration_ms(text)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        hint = ", or a duration ago such as 2h" if now_ms is not None else ""
        raise InvalidArgument(f"invalid {name} {text[:60]!r}: epoch milliseconds or an ISO-8601 time{hint}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)
