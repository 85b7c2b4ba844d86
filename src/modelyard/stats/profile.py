"""Mergeable column profiles: what drift is computed from, without the rows.

A ``DatasetProfile`` holds the row count and one profile per column:

- ``NumericProfile`` (numbers, datetimes as epoch seconds): a KLL quantile sketch
  (``datasketches.kll_doubles_sketch``; rank error about 0.7 % at the default ``k=400``), the
  moments (count, mean, central sums of powers 2-4, min, max, merged exactly with the pairwise
  formulas of Chan et al. and Pebay), the missing count (None/NaN and +-inf), the exact values while
  the column is small (at most ``EXACT_LIMIT`` values: tests on small samples are then exact) and a
  value table while it has few distinct values (at most ``DISCRETE_LIMIT``).
- ``CategoricalProfile`` (strings, booleans, anything else): a frequency table of at most ``cap``
  categories; the rest are counted in one ``other`` bucket. Merging keeps the ``cap`` most
  frequent and folds the rest into ``other`` (so a category rare in every window but frequent
  overall can land in ``other``: documented, bounded, and exact while a column has fewer than
  ``cap`` categories).

Profiles merge (``a.merge(b)`` is the profile of the rows of both, within the sketch's error), so
a day's profile is the merge of its hours, and serialize compactly (``to_bytes``: zlib-compressed
JSON with the sketches in base64; a 25-column profile of a million rows is tens of KB).

This module sees numpy arrays only; ``modelyard.monitoring.profiles.profile_frame`` builds a
profile from a pandas DataFrame.
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelyard.core.errors import InvalidArgument

__all__ = [
    "CATEGORY_CAP",
    "DISCRETE_LIMIT",
    "EXACT_LIMIT",
    "KLL_K",
    "OTHER",
    "CategoricalProfile",
    "ColumnProfile",
    "DatasetProfile",
    "NumericProfile",
]

#: KLL accuracy parameter: normalized rank error ~0.68 % (single rank), ~10 KB serialized.
KLL_K = 400
#: Exact values are kept while a column holds at most this many finite values.
EXACT_LIMIT = 2000
#: A numeric column keeps a value table while it has at most this many distinct values.
DISCRETE_LIMIT = 20
#: Categories kept per categorical column; the rest are counted in ``OTHER``.
CATEGORY_CAP = 256
#: The key of the bucket that counts categories beyond the cap.
OTHER = "__other__"

_MAGIC = b"MYPROF1\n"
_NUMERIC_KINDS = ("numeric", "datetime")
_CATEGORICAL_KINDS = ("categorical", "boolean", "text")


def _sketch(k: int) -> Any:
    from datasketches import kll_doubles_sketch

    return kll_doubles_sketch(k)


@dataclass
class NumericProfile:
    """A numeric column: sketch, moments, missing count, exact values/value table while small."""

    kind: str = "numeric"
    count: int = 0  # rows, missing included
    missing: int = 0
    n: int = 0  # finite values
    mean: float = 0.0
    m2: float = 0.0
    m3: float = 0.0
    m4: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    k: int = KLL_K
    sketch: Any = None
    exact: np.ndarray | None = field(default=None, repr=False)  # sorted finite values, while small
    values: dict[float, int] | None = field(default_factory=dict)  # value -> count, while few distinct

    @classmethod
    def from_array(cls, values: Any, *, kind: str = "numeric", k: int = KLL_K) -> NumericProfile:
        """The profile of ``values`` (anything numpy turns into float64; NaN/inf are missing)."""
        arr = np.asarray(values, dtype="float64").ravel()
        finite = np.isfinite(arr)
        x = arr if finite.all() else arr[finite]
        prof = cls(kind=kind, count=int(arr.size), missing=int(arr.size - x.size), k=k, sketch=_sketch(k))
        if x.size == 0:
            return prof
        # the binding takes only writable contiguous float64 arrays (pandas hands out read-only views)
        prof.sketch.update(x if x.flags.writeable and x.flags.c_contiguous else np.array(x, order="C"))
        prof.n = int(x.size)
        mean = float(x.mean())
        d = x - mean
        d2 = d * d
        prof.mean = mean
        prof.m2 = float(d2.sum())
        prof.m3 = float((d2 * d).sum())
        prof.m4 = float((d2 * d2).sum())
        prof.min, prof.max = float(x.min()), float(x.max())
        prof.exact = np.sort(x) if x.size <= EXACT_LIMIT else None
        prof.values = _value_table(x)
        return prof

    # ---- derived figures -------------------------------------------------------------------
    @property
    def variance(self) -> float:
        return self.m2 / self.n if self.n else math.nan

    @property
    def std(self) -> float:
        return math.sqrt(self.variance) if self.n else math.nan

    @property
    def skewness(self) -> float:
        if self.n == 0 or self.m2 == 0:
            return math.nan
        return math.sqrt(self.n) * self.m3 / self.m2**1.5

    @property
    def kurtosis(self) -> float:
        """Excess kurtosis (0 for a normal distribution)."""
        if self.n == 0 or self.m2 == 0:
            return math.nan
        return self.n * self.m4 / (self.m2 * self.m2) - 3.0

    @property
    def distinct(self) -> int | None:
        """Distinct finite values when few (at most ``DISCRETE_LIMIT``), else None (many)."""
        return None if self.values is None else len(self.values)

    def cdf(self, points: Any) -> np.ndarray:
        """Share of finite values <= each point (exact while small, else from the sketch)."""
        pts = np.asarray(points, dtype="float64")
        if self.n == 0:
            return np.full(pts.shape, math.nan)
        if self.exact is not None:
            return np.searchsorted(self.exact, pts, side="right") / self.n
        return np.asarray(self.sketch.get_cdf(pts.tolist()), dtype="float64")[:-1]

    def quantiles(self, ranks: Any) -> np.ndarray:
        """Values at normalized ranks in [0, 1] (exact while small, else from the sketch)."""
        rk = np.asarray(ranks, dtype="float64")
        if self.n == 0:
            return np.full(rk.shape, math.nan)
        if self.exact is not None:
            return np.quantile(self.exact, rk, method="inverted_cdf")
        return np.asarray(self.sketch.get_quantiles(rk.tolist()), dtype="float64")

    @property
    def rank_error(self) -> float:
        """The sketch's normalized rank error (0 while the exact values are kept)."""
        if self.exact is not None:
            return 0.0
        from datasketches import kll_doubles_sketch

        return float(kll_doubles_sketch.get_normalized_rank_error(self.k, False))

    # ---- merge / serialization --------------------------------------------------------------
    def merge(self, other: NumericProfile) -> NumericProfile:
        """The profile of the rows of both (a new object; neither side changes)."""
        if not isinstance(other, NumericProfile):
            raise InvalidArgument(f"cannot merge a {other.kind} profile into a {self.kind} one")
        if other.k != self.k:
            raise InvalidArgument(f"cannot merge sketches of different accuracy (k={self.k} and k={other.k})")
        out = NumericProfile(
            kind=self.kind,
            count=self.count + other.count,
            missing=self.missing + other.missing,
            k=self.k,
            sketch=_sketch(self.k),
        )
        for side in (self, other):
            if side.sketch is not None and side.n:
                out.sketch.merge(side.sketch)
        out.n, out.mean, out.m2, out.m3, out.m4 = _merge_moments(self, other)
        out.min, out.max = min(self.min, other.min), max(self.max, other.max)
        if self.exact is not None and other.exact is not None and self.n + other.n <= EXACT_LIMIT:
            out.exact = np.sort(np.concatenate([self.exact, other.exact]))
        elif self.n == 0 or other.n == 0:
            out.exact = other.exact if self.n == 0 else self.exact
        else:
            out.exact = None
        if self.values is None or other.values is None:
            out.values = None
        else:
            merged = dict(self.values)
            for key, c in other.values.items():
                merged[key] = merged.get(key, 0) + c
            out.values = merged if len(merged) <= DISCRETE_LIMIT else None
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "numeric",
            "kind": self.kind,
            "count": self.count,
            "missing": self.missing,
            "n": self.n,
            "mean": self.mean,
            "m2": self.m2,
            "m3": self.m3,
            "m4": self.m4,
            "min": self.min if self.n else None,
            "max": self.max if self.n else None,
            "k": self.k,
            "sketch": base64.b64encode(self.sketch.serialize()).decode() if self.sketch is not None else None,
            "exact": self.exact.tolist() if self.exact is not None else None,
            "values": [[v, c] for v, c in self.values.items()] if self.values is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericProfile:
        from datasketches import kll_doubles_sketch

        raw = data.get("sketch")
        n = int(data["n"])
        return cls(
            kind=str(data.get("kind", "numeric")),
            count=int(data["count"]),
            missing=int(data["missing"]),
            n=n,
            mean=float(data["mean"]),
            m2=float(data["m2"]),
            m3=float(data["m3"]),
            m4=float(data["m4"]),
            min=float(data["min"]) if n else math.inf,
            max=float(data["max"]) if n else -math.inf,
            k=int(data.get("k", KLL_K)),
            sketch=kll_doubles_sketch.deserialize(base64.b64decode(raw)) if raw else _sketch(int(data.get("k", KLL_K))),
            exact=np.asarray(data["exact"], dtype="float64") if data.get("exact") is not None else None,
            values={float(v): int(c) for v, c in data["values"]} if data.get("values") is not None else None,
        )


@dataclass
class CategoricalProfile:
    """A categorical column: counts of at most ``cap`` categories, the rest in ``other``."""

    kind: str = "categorical"
    count: int = 0  # rows, missing included
    missing: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    other: int = 0  # values of categories beyond the cap
    other_categories: int = 0  # how many distinct categories went to ``other`` (a lower bound after merges)
    cap: int = CATEGORY_CAP

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[Any, int] | Iterable[tuple[Any, int]],
        *,
        missing: int = 0,
        kind: str = "categorical",
        cap: int = CATEGORY_CAP,
    ) -> CategoricalProfile:
        """From value counts (any keys, turned into strings; missing values counted apart)."""
        items = counts.items() if isinstance(counts, Mapping) else counts
        table: dict[str, int] = {}
        for key, c in items:
            name = str(key)
            table[name] = table.get(name, 0) + int(c)
        prof = cls(kind=kind, missing=int(missing), cap=cap)
        prof.count = sum(table.values()) + prof.missing
        prof.counts, prof.other, prof.other_categories = _cap(table, cap)
        return prof

    @classmethod
    def from_array(cls, values: Any, *, kind: str = "categorical", cap: int = CATEGORY_CAP) -> CategoricalProfile:
        arr = np.asarray(values, dtype=object).ravel()
        missing = np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in arr], dtype=bool)
        keys, counts = np.unique(arr[~missing].astype(str), return_counts=True)
        return cls.from_counts(
            zip(keys.tolist(), counts.tolist(), strict=True), missing=int(missing.sum()), kind=kind, cap=cap
        )

    @property
    def n(self) -> int:
        """Non-missing values."""
        return self.count - self.missing

    @property
    def distinct(self) -> int:
        """Distinct categories seen (those beyond the cap included, as far as known)."""
        return len(self.counts) + self.other_categories

    def table(self) -> dict[str, int]:
        """The counts with the ``other`` bucket as a key when it is not empty."""
        return {**self.counts, OTHER: self.other} if self.other else dict(self.counts)

    def merge(self, other: CategoricalProfile) -> CategoricalProfile:
        if not isinstance(other, CategoricalProfile):
            raise InvalidArgument(f"cannot merge a {other.kind} profile into a {self.kind} one")
        table = dict(self.counts)
        for key, c in other.counts.items():
            table[key] = table.get(key, 0) + c
        cap = max(self.cap, other.cap)
        counts, extra, extra_categories = _cap(table, cap)
        return CategoricalProfile(
            kind=self.kind,
            count=self.count + other.count,
            missing=self.missing + other.missing,
            counts=counts,
            other=self.other + other.other + extra,
            other_categories=max(self.other_categories, other.other_categories) + extra_categories,
            cap=cap,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "categorical",
            "kind": self.kind,
            "count": self.count,
            "missing": self.missing,
            "counts": self.counts,
            "other": self.other,
            "other_categories": self.other_categories,
            "cap": self.cap,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalProfile:
        return cls(
            kind=str(data.get("kind", "categorical")),
            count=int(data["count"]),
            missing=int(data["missing"]),
            counts={str(k): int(v) for k, v in data["counts"].items()},
            other=int(data.get("other", 0)),
            other_categories=int(data.get("other_categories", 0)),
            cap=int(data.get("cap", CATEGORY_CAP)),
        )


ColumnProfile = NumericProfile | CategoricalProfile


@dataclass
class DatasetProfile:
    """Row count and one mergeable profile per column (in column order)."""

    rows: int = 0
    columns: dict[str, ColumnProfile] = field(default_factory=dict)

    def merge(self, other: DatasetProfile) -> DatasetProfile:
        """The profile of the rows of both. A column present on one side only is kept, its
        other side counted as missing (the rows existed, the column did not)."""
        columns: dict[str, ColumnProfile] = {}
        for name in [*self.columns, *(c for c in other.columns if c not in self.columns)]:
            a, b = self.columns.get(name), other.columns.get(name)
            if a is not None and b is not None:
                columns[name] = a.merge(b)  # type: ignore[arg-type]
            else:
                only = a if a is not None else b
                absent_rows = other.rows if a is not None else self.rows
                assert only is not None
                columns[name] = _with_missing(only, absent_rows)
        return DatasetProfile(rows=self.rows + other.rows, columns=columns)

    @classmethod
    def merge_all(cls, profiles: Iterable[DatasetProfile]) -> DatasetProfile:
        out = cls()
        for prof in profiles:
            out = out.merge(prof)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"format": 1, "rows": self.rows, "columns": {k: v.to_dict() for k, v in self.columns.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetProfile:
        try:
            columns: dict[str, ColumnProfile] = {}
            for name, col in data["columns"].items():
                columns[str(name)] = (
                    NumericProfile.from_dict(col) if col.get("type") == "numeric" else CategoricalProfile.from_dict(col)
                )
            return cls(rows=int(data["rows"]), columns=columns)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise InvalidArgument(f"not a dataset profile: {type(exc).__name__}: {exc}") from None

    def to_bytes(self) -> bytes:
        """Compact bytes: a magic line, then zlib-compressed JSON."""
        return _MAGIC + zlib.compress(json.dumps(self.to_dict(), separators=(",", ":")).encode(), 6)

    @classmethod
    def from_bytes(cls, data: bytes) -> DatasetProfile:
        if not data.startswith(_MAGIC):
            raise InvalidArgument("not a dataset profile (bad magic bytes)")
        try:
            payload = json.loads(zlib.decompress(data[len(_MAGIC) :]))
        except (zlib.error, ValueError) as exc:
            raise InvalidArgument(f"not a dataset profile: {exc}") from None
        return cls.from_dict(payload)

    @staticmethod
    def is_profile_bytes(head: bytes) -> bool:
        return head.startswith(_MAGIC)


# ---- helpers ----------------------------------------------------------------------------------


def _value_table(x: np.ndarray) -> dict[float, int] | None:
    """value -> count when ``x`` has at most ``DISCRETE_LIMIT`` distinct values, else None.
    A sample decides cheaply for continuous columns; only a likely-discrete column is counted."""
    if np.unique(x[:4096]).size > DISCRETE_LIMIT:
        return None
    keys, counts = np.unique(x, return_counts=True)
    if keys.size > DISCRETE_LIMIT:
        return None
    return {float(k): int(c) for k, c in zip(keys, counts, strict=True)}


def _cap(table: dict[str, int], cap: int) -> tuple[dict[str, int], int, int]:
    if len(table) <= cap:
        return dict(sorted(table.items(), key=lambda kv: (-kv[1], kv[0]))), 0, 0
    ordered = sorted(table.items(), key=lambda kv: (-kv[1], kv[0]))
    kept, rest = ordered[:cap], ordered[cap:]
    return dict(kept), sum(c for _, c in rest), len(rest)


def _merge_moments(a: NumericProfile, b: NumericProfile) -> tuple[int, float, float, float, float]:
    """Pairwise merge of count, mean and central sums M2..M4 (Chan et al.; Pebay 2008)."""
    if a.n == 0:
        return b.n, b.mean, b.m2, b.m3, b.m4
    if b.n == 0:
        return a.n, a.mean, a.m2, a.m3, a.m4
    na, nb = float(a.n), float(b.n)
    n = na + nb
    delta = b.mean - a.mean
    d_n = delta / n
    mean = a.mean + nb * d_n
    m2 = a.m2 + b.m2 + delta * d_n * na * nb
    m3 = a.m3 + b.m3 + delta * d_n * d_n * na * nb * (na - nb) + 3.0 * d_n * (na * b.m2 - nb * a.m2)
    m4 = (
        a.m4
        + b.m4
        + delta * d_n**3 * na * nb * (na * na - na * nb + nb * nb)
        + 6.0 * d_n * d_n * (na * na * b.m2 + nb * nb * a.m2)
        + 4.0 * d_n * (na * b.m3 - nb * a.m3)
    )
    return int(n), mean, m2, m3, m4


def _with_missing(prof: ColumnProfile, rows: int) -> ColumnProfile:
    if isinstance(prof, NumericProfile):
        empty: ColumnProfile = NumericProfile(
            kind=prof.kind, count=rows, missing=rows, k=prof.k, sketch=_sketch(prof.k)
        )
    else:
        empty = CategoricalProfile(kind=prof.kind, count=rows, missing=rows, cap=prof.cap)
    return prof.merge(empty)  # type: ignore[arg-type]
