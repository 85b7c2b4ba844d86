"""Offline/online parity: what the online store serves against what the offline join returns for
the same entity keys at the same time (``FeatureStoreService.parity``). A value present on one
side only, stale or different beyond a relative tolerance is a mismatch; timestamps compare as
instants (the online store keeps them as ISO 8601 text)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from modelyard.features.serving import OnlineResult

__all__ = ["ParityReport", "compare"]


@dataclass(frozen=True)
class ParityReport:
    """Online values against the offline join for the same entity keys at the same time:
    ``mismatches`` are (entity row, feature, offline value, online value)."""

    rows: int
    features: list[str]
    compared: int
    mismatches: list[tuple[int, str, Any, Any]]

    @property
    def ok(self) -> bool:
        return not self.mismatches


def compare(offline: Any, offline_columns: list[str], online: OnlineResult, tolerance: float) -> ParityReport:
    """Compare ``offline`` (a DataFrame in the entity rows' order, with ``offline_columns`` in
    the order of ``online.features``) with ``online``, row by row."""
    mismatches: list[tuple[int, str, Any, Any]] = []
    compared = 0
    for i, values in enumerate(online.values):
        for j, column in enumerate(offline_columns):
            expected = _comparable(offline[column].iloc[i])
            served = _comparable(values[j])
            compared += 1
            if not _same(expected, served, tolerance):
                mismatches.append((i, online.features[j], expected, served))
    return ParityReport(len(online.values), online.features, compared, mismatches)


def _comparable(value: Any) -> Any:
    if value is None:
        return None
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
            return None
        if isinstance(value, pd.Timestamp | dt.datetime):
            return pd.Timestamp(value).isoformat()
    except (TypeError, ValueError):
        return value
    if hasattr(value, "item"):
        return value.item()
    return value


def _same(a: Any, b: Any, tolerance: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):
        if isinstance(a, str) and isinstance(b, str):
            import pandas as pd

            try:
                return bool(pd.Timestamp(a) == pd.Timestamp(b))
            except (ValueError, TypeError):
                return a == b
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b) and type(a) is type(b)
    return abs(float(a) - float(b)) <= tolerance * max(1.0, abs(float(a)))
