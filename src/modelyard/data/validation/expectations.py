"""Expectations: checks a dataset version must pass, in Python or YAML.

Row-level expectations (not_null, between, in_set, regex, unique) know which rows fail
(``failing_rows``), so ingestion can send those rows to a quarantine dataset instead of dropping
them. Table-level ones (row_count, fresh, distribution) judge the whole table. Every check is
vectorised over the column; none loops over rows in Python.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from modelyard import stats
from modelyard.core.errors import InvalidArgument


@dataclass
class ExpectationResult:
    expectation: str  # a one-line description
    kind: str
    column: str | None
    success: bool
    observed: dict[str, Any] = field(default_factory=dict)
    failing_count: int = 0
    failing_examples: list[Any] = field(default_factory=list)


def _need_column(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        raise InvalidArgument(f"column {column!r} is not in the data (columns: {', '.join(map(str, frame.columns))})")
    return frame[column]


@dataclass
class Expectation:
    """Base: ``kind`` names it in YAML; ``row_level`` ones implement ``failing_mask``."""

    kind: ClassVar[str] = ""
    row_level: ClassVar[bool] = False
    column: str | None = None

    def describe(self) -> str:
        return self.kind

    def failing_mask(self, frame: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def evaluate(self, frame: pd.DataFrame, reference: pd.DataFrame | None = None) -> ExpectationResult:
        mask = self.failing_mask(frame)
        failing = int(mask.sum())
        examples: list[Any] = []
        if failing and self.column is not None:
            examples = [_plain(v) for v in frame.loc[mask, self.column].head(5).tolist()]
        return ExpectationResult(
            self.describe(),
            self.kind,
            self.column,
            failing == 0,
            {"rows": len(frame), "failing_fraction": failing / len(frame) if len(frame) else 0.0},
            failing,
            examples,
        )


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return value.isoformat()
    return value


@dataclass
class NotNull(Expectation):
    kind: ClassVar[str] = "not_null"
    row_level: ClassVar[bool] = True

    def describe(self) -> str:
        return f"{self.column} is never null"

    def failing_mask(self, frame: pd.DataFrame) -> np.ndarray:
        return _need_column(frame, self.column or "").isna().to_numpy()


@dataclass
class Between(Expectation):
    kind: ClassVar[str] = "between"
    row_level: ClassVar[bool] = True
    min: float | None = None
    max: float | None = None

    def describe(self) -> str:
        low = "-inf" if self.min is None else self.min
        high = "inf" if self.max is None else self.max
        return f"{low} <= {self.column} <= {high}"

    def failing_mask(self, frame: pd.DataFrame) -> np.ndarray:
        series = _need_column(frame, self.column or "")
        if not pd.api.types.is_numeric_dtype(series):
            series = pd.to_numeric(series, errors="coerce")
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        bad = np.zeros(values.shape, dtype=bool)
        present = ~np.isnan(values)
        if self.min is not None:
            bad |= present & (values < self.min)
        if self.max is not None:
            bad |= present & (values > self.max)
        return bad


@dataclass
class InSet(Expectation):
    kind: ClassVar[str] = "in_set"
    row_level: ClassVar[bool] = True
    values: list[Any] = field(default_factory=list)

    def describe(self) -> str:
        shown = ", ".join(map(str, self.values[:6])) + (", ..." if len(self.values) > 6 else "")
        return f"{self.column} in {{{shown}}}"

    def failing_mask(self, frame: pd.DataFrame) -> np.ndarray:
        series = _need_column(frame, self.column or "")
        # YAML and profiles may spell a value as text ("True", "3"): accept the value or its text.
        allowed = series.isin(self.values) | series.astype(str).isin([str(v) for v in self.values])
        return (series.notna() & ~allowed).to_numpy()


@dataclass
class Unique(Expectation):
    kind: ClassVar[str] = "unique"
    row_level: ClassVar[bool] = True

    def describe(self) -> str:
        return f"{self.column} is unique"

    def failing_mask(self, frame: pd.DataFrame) -> np.ndarray:
        series = _need_column(frame, self.column or "")
        return (series.notna() & series.duplicated(keep=False)).to_numpy()


@dataclass
class Regex(Expectation):
    kind: ClassVar[str] = "regex"
    row_level: ClassVar[bool] = True
    pattern: str = ""

    def __post_init__(self) -> None:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise InvalidArgument(f"invalid regex {self.pattern!r} for column {self.column!r}: {exc}")

    def describe(self) -> str:
        return f"{self.column} matches /{self.pattern}/"

    def failing_mask(self, frame: pd.DataFrame) -> np.ndarray:
        series = _need_column(frame, self.column or "")
        present = series.notna()
        matches = series[present].astype(str).str.fullmatch(self.pattern)
        bad = present.copy()
        bad[present] = ~matches.astype(bool)
        return bad.to_numpy()


@dataclass
class RowCount(Expectation):
    kind: ClassVar[str] = "row_count"
    min: int | None = None
    max: int | None = None

    def describe(self) -> str:
        return (
            f"row count in [{self.min if self.min is not None else 0}, {self.max if self.max is not None else 'inf'}]"
        )

    def evaluate(self, frame: pd.DataFrame, reference: pd.DataFrame | None = None) -> ExpectationResult:
        n = len(frame)
        ok = (self.min is None or n >= self.min) and (self.max is None or n <= self.max)
        return ExpectationResult(self.describe(), self.kind, None, ok, {"rows": n})


_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str | float | int) -> float:
    """``"90s"``, ``"15m"``, ``"6h"``, ``"1d"``, ``"2w"`` or seconds -> seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    match = _AGE_RE.match(text)
    if not match:
        raise InvalidArgument(f"invalid age {text!r}: expected a number and a unit s, m, h, d or w (e.g. '1d')")
    return float(match.group(1)) * _AGE_UNITS[match.group(2)]


@dataclass
class Fresh(Expectation):
    kind: ClassVar[str] = "fresh"
    max_age: str | float = "1d"
    now: dt.datetime | None = None

    def describe(self) -> str:
        return f"newest {self.column} is at most {self.max_age} old"

    def evaluate(self, frame: pd.DataFrame, reference: pd.DataFrame | None = None) -> ExpectationResult:
        series = pd.to_datetime(_need_column(frame, self.column or ""), utc=True, errors="coerce")
        newest = series.max()
        now = pd.Timestamp(self.now or dt.datetime.now(dt.UTC))
        if now.tzinfo is None:
            now = now.tz_localize("UTC")
        if pd.isna(newest):
            return ExpectationResult(self.describe(), self.kind, self.column, False, {"newest": None})
        age = (now - newest).total_seconds()
        return ExpectationResult(
            self.describe(),
            self.kind,
            self.column,
            age <= parse_age(self.max_age),
            {"newest": newest.isoformat(), "age_seconds": age},
        )


@dataclass
class Distribution(Expectation):
    """The column's distribution stays close to the reference version's (PSI and KS for numbers,
    Jensen-Shannon distance for categories)."""

    kind: ClassVar[str] = "distribution"
    max_psi: float | None = 0.2
    min_ks_pvalue: float | None = None
    max_js: float | None = 0.1
    reference: str | None = None  # a dataset reference (NAME@v) resolved by the caller

    def describe(self) -> str:
        return f"{self.column} distribution close to {self.reference or 'the reference'}"

    def evaluate(self, frame: pd.DataFrame, reference: pd.DataFrame | None = None) -> ExpectationResult:
        if reference is None:
            raise InvalidArgument(f"expectation '{self.describe()}' needs a reference dataset")
        cur = _need_column(frame, self.column or "")
        ref = _need_column(reference, self.column or "")
        observed: dict[str, Any] = {}
        ok = True
        if pd.api.types.is_numeric_dtype(cur) and pd.api.types.is_numeric_dtype(ref):
            observed["psi"] = stats.psi(
                ref.to_numpy(dtype="float64", na_value=np.nan), cur.to_numpy(dtype="float64", na_value=np.nan)
            )
            observed["ks"], observed["ks_pvalue"] = stats.ks(
                ref.to_numpy(dtype="float64", na_value=np.nan), cur.to_numpy(dtype="float64", na_value=np.nan)
            )
            if self.max_psi is not None:
                ok &= bool(observed["psi"] <= self.max_psi)
            if self.min_ks_pvalue is not None:
                ok &= bool(observed["ks_pvalue"] >= self.min_ks_pvalue)
        else:
            observed["js"] = stats.jensen_shannon(
                ref.astype(str).value_counts().to_dict(), cur.astype(str).value_counts().to_dict()
            )
            if self.max_js is not None:
                ok &= bool(observed["js"] <= self.max_js)
        return ExpectationResult(self.describe(), self.kind, self.column, ok, observed)


EXPECTATIONS: dict[str, type[Expectation]] = {
    cls.kind: cls for cls in (NotNull, Between, InSet, Unique, Regex, RowCount, Fresh, Distribution)
}


def from_dict(spec: dict[str, Any]) -> Expectation:
    """``{"expect": "between", "column": "age", "min": 0, "max": 120}`` -> an Expectation."""
    if not isinstance(spec, dict) or "expect" not in spec:
        raise InvalidArgument(f"an expectation must be a mapping with an 'expect' key, not {spec!r}")
    kind = spec["expect"]
    cls = EXPECTATIONS.get(kind)
    if cls is None:
        raise InvalidArgument(f"unknown expectation {kind!r}; expected one of {', '.join(sorted(EXPECTATIONS))}")
    args = {k: v for k, v in spec.items() if k != "expect"}
    try:
        expectation = cls(**args)
    except TypeError as exc:
        raise InvalidArgument(f"expectation {kind!r}: {exc}".replace("__init__() ", ""))
    if expectation.column is None and kind not in ("row_count",):
        raise InvalidArgument(f"expectation {kind!r} needs a 'column'")
    return expectation
