"""Profiles: what a dataset version looks like, inferred column by column.

A profile records, per column, the logical type, nullability, ranges, quantiles, distinct counts
and the most frequent categories. It is the starting point of a suite (``suggest_suite``) and
what reports plot; it is plain data (``to_dict``) so it can be stored beside a version.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MAX_CATEGORIES = 20
QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)


@dataclass
class ColumnProfile:
    name: str
    kind: str  # numeric | boolean | datetime | categorical | text
    dtype: str
    count: int
    nulls: int
    distinct: int
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    top: dict[str, int] = field(default_factory=dict)
    histogram: dict[str, list[float]] = field(default_factory=dict)

    @property
    def null_fraction(self) -> float:
        return self.nulls / self.count if self.count else 0.0


@dataclass
class Profile:
    rows: int
    columns: dict[str, ColumnProfile]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "columns": {k: asdict(v) for k, v in self.columns.items()}}


def column_kind(series: pd.Series, distinct: int | None = None) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if distinct is None:
        distinct = int(series.nunique(dropna=True))
    if distinct <= max(MAX_CATEGORIES, int(0.05 * max(len(series), 1))):
        return "categorical"
    return "text"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _distinct(non_null: pd.Series) -> int:
    return int(non_null.nunique()) if len(non_null) else 0


def _numeric(prof: ColumnProfile, values: np.ndarray) -> None:
    """Everything numeric from one sort: quantiles by index, histogram by searchsorted, distinct
    values by counting changes."""
    ordered = np.sort(values[np.isfinite(values)])
    n = ordered.size
    if n == 0:
        return
    prof.distinct = int(1 + np.count_nonzero(ordered[1:] != ordered[:-1]))
    prof.min, prof.max = float(ordered[0]), float(ordered[-1])
    prof.mean, prof.std = float(ordered.mean()), float(ordered.std())
    positions = np.asarray(QUANTILES) * (n - 1)
    low = np.floor(positions).astype(int)
    high = np.minimum(low + 1, n - 1)
    frac = positions - low
    qs = ordered[low] * (1 - frac) + ordered[high] * frac
    prof.quantiles = {f"{q:g}": float(v) for q, v in zip(QUANTILES, qs, strict=True)}
    edges = (
        np.linspace(ordered[0], ordered[-1], 31) if ordered[-1] > ordered[0] else np.array([ordered[0], ordered[0] + 1])
    )
    cuts = np.searchsorted(ordered, edges, side="left")
    cuts[-1] = n
    prof.histogram = {"counts": np.diff(cuts).astype(float).tolist(), "edges": edges.tolist()}


def profile_column(series: pd.Series) -> ColumnProfile:
    non_null = series.dropna()
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    distinct = -1 if numeric else _distinct(non_null)
    kind = "numeric" if numeric else column_kind(series, distinct)
    prof = ColumnProfile(
        name=str(series.name),
        kind=kind,
        dtype=str(series.dtype),
        count=len(series),
        nulls=int(len(series) - len(non_null)),
        distinct=max(distinct, 0),
    )
    if kind == "numeric":
        _numeric(prof, non_null.to_numpy(dtype="float64"))
    elif kind == "datetime" and len(non_null):
        prof.min, prof.max = _jsonable(non_null.min()), _jsonable(non_null.max())
    elif kind in ("categorical", "boolean", "text") and len(non_null):
        if kind == "text":  # mostly distinct values: a sample's top values and lengths say enough
            sample = non_null.sample(min(len(non_null), 100_000), random_state=0).astype(str)
            lengths = sample.str.len()
            prof.min, prof.max = int(lengths.min()), int(lengths.max())
            top = sample.value_counts().head(MAX_CATEGORIES)
        else:
            top = non_null.astype(str).value_counts().head(MAX_CATEGORIES)
        prof.top = {str(k): int(v) for k, v in top.items()}
    return prof


def profile(frame: pd.DataFrame) -> Profile:
    return Profile(rows=len(frame), columns={str(c): profile_column(frame[c]) for c in frame.columns})
