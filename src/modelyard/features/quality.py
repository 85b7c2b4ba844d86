"""Feature statistics: the mergeable profile of the rows a materialisation run writes.

Each run profiles the rows it hands to the online store, feature by feature, as a
``modelyard.stats.profile.DatasetProfile`` (the data subsystem's and monitoring's profile:
sketches and moments, never the rows), built ``FLUSH_ROWS`` rows at a time so memory stays
bounded. The view's declared types choose the column profile: ``int64``/``float64`` numeric,
``timestamp`` numeric in epoch seconds (kind ``datetime``), ``bool`` a boolean frequency table,
``string`` a categorical one; the same kinds ``monitoring.profiles.profile_frame`` gives the
columns of a training set, so the two compare with ``monitoring.drift.compute_drift``.

The profile is stored as a blob in the artifact store and the run records its digest; a view's
current profile is the merge of its runs' profiles (``FeatureStoreService.view_profile``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.core.errors import InvalidArgument
from modelyard.core.features import FeatureView, FeatureViewVersion
from modelyard.features.online.base import OnlineRow
from modelyard.stats.profile import CategoricalProfile, ColumnProfile, DatasetProfile, NumericProfile

if TYPE_CHECKING:
    from modelyard.data.validation.expectations import Expectation

__all__ = [
    "FLUSH_ROWS",
    "FeatureSummary",
    "RowProfiler",
    "profile_arrow",
    "profile_parquet",
    "profile_summary",
    "view_checks",
]

#: The expectations a run can check batch by batch (whole-column ones, ``unique`` included, cannot).
BATCH_CHECKS = ("not_null", "between", "in_set", "regex")
#: Rows buffered before they are profiled and merged into the run's profile.
FLUSH_ROWS = 100_000


def _column(dtype: str, values: list[Any]) -> ColumnProfile:
    if dtype in ("int64", "float64"):
        arr = np.array([np.nan if v is None else v for v in values], dtype="float64")
        return NumericProfile.from_array(arr, kind="numeric")
    if dtype == "timestamp":
        import pandas as pd

        stamps = pd.to_datetime(pd.Series(values, dtype=object), utc=True, errors="coerce", format="ISO8601")
        seconds = stamps.to_numpy(dtype="datetime64[ns]").astype("int64").astype("float64") / 1e9
        seconds[stamps.isna().to_numpy()] = np.nan
        return NumericProfile.from_array(seconds, kind="datetime")
    kind = "boolean" if dtype == "bool" else "categorical"
    return CategoricalProfile.from_array(np.array(values, dtype=object), kind=kind)


class RowProfiler:
    """Wraps the online rows of one view's run: yields them on unchanged and profiles their
    feature values on the way (``profile`` once the rows are consumed)."""

    def __init__(self, view: FeatureViewVersion, *, flush_rows: int = FLUSH_ROWS) -> None:
        self.names = [f.name for f in view.definition.features]
        self.dtypes = [str(f.dtype) for f in view.definition.features]
        self.flush_rows = flush_rows
        self.checks = view_checks(view)
        self._failing = [0] * len(self.checks)
        self._buffer: list[list[Any]] = [[] for _ in self.names]
        self._profile = DatasetProfile()

    def wrap(self, rows: Iterable[OnlineRow]) -> Iterator[OnlineRow]:
        for row in rows:
            for column, value in zip(self._buffer, row[2], strict=True):
                column.append(value)
            if len(self._buffer[0]) >= self.flush_rows:
                self._flush()
            yield row

    def _flush(self) -> None:
        count = len(self._buffer[0]) if self._buffer else 0
        if count == 0:
            return
        part = DatasetProfile(
            rows=count,
            columns={n: _column(t, vals) for n, t, vals in zip(self.names, self.dtypes, self._buffer, strict=True)},
        )
        self._profile = self._profile.merge(part)
        if self.checks:
            import pandas as pd

            frame = pd.DataFrame(dict(zip(self.names, self._buffer, strict=True)))
            for i, check in enumerate(self.checks):
                self._failing[i] += int(check.failing_mask(frame).sum())
        self._buffer = [[] for _ in self.names]

    @property
    def failed_checks(self) -> tuple[str, ...]:
        """The view's expectations the rows yielded so far failed, with how many rows failed."""
        rows = self.profile.rows
        return tuple(
            f"{check.describe()}: {n:,} of {rows:,} rows failed"
            for check, n in zip(self.checks, self._failing, strict=True)
            if n
        )

    @property
    def profile(self) -> DatasetProfile:
        """The profile of every row yielded so far (every feature a column, even with no rows)."""
        self._flush()
        if self._profile.rows == 0:
            return DatasetProfile(
                rows=0, columns={n: _column(t, []) for n, t in zip(self.names, self.dtypes, strict=True)}
            )
        return self._profile


def view_checks(view: FeatureView | FeatureViewVersion) -> list[Expectation]:
    """The view's expectations as the data subsystem's (``data.validation``); InvalidArgument
    for an unknown kind, one that is not row-level (materialisation checks rows in batches, so a
    whole-column check such as ``unique`` or ``distribution`` cannot be), or a column that is not
    one of the view's features."""
    from modelyard.data.validation.expectations import from_dict

    definition = view.definition if isinstance(view, FeatureViewVersion) else view
    features = [f.name for f in definition.features]
    checks = []
    for spec in definition.expectations:
        check = from_dict(dict(spec))
        if not check.row_level or check.kind not in BATCH_CHECKS:
            raise InvalidArgument(
                f"feature view {definition.name!r}: expectation {check.kind!r} is not row-level "
                f"(materialisation checks rows batch by batch: {', '.join(BATCH_CHECKS)})"
            )
        if check.column not in features:
            raise InvalidArgument(
                f"feature view {definition.name!r}: expectation {check.kind!r} names {check.column!r}, "
                f"not a feature of the view (features: {', '.join(features)})"
            )
        checks.append(check)
    return checks


@dataclass(frozen=True)
class FeatureSummary:
    """One feature in a profile, as the CLI and the UI show it."""

    name: str
    kind: str
    count: int
    missing: int
    missing_share: float
    min: float | None
    max: float | None
    mean: float | None
    distinct: int | None
    top: str | None  # the most frequent category (categorical features)


def profile_summary(profile: DatasetProfile, names: Sequence[str] | None = None) -> list[FeatureSummary]:
    """Rows, missing share and min/max/mean (numeric) or distinct/top (categorical) per feature."""
    out = []
    for name in names if names is not None else list(profile.columns):
        col = profile.columns.get(name)
        if col is None:
            continue
        share = col.missing / col.count if col.count else 0.0
        if isinstance(col, NumericProfile):
            has = col.n > 0
            out.append(
                FeatureSummary(
                    name,
                    col.kind,
                    col.count,
                    col.missing,
                    share,
                    col.min if has else None,
                    col.max if has else None,
                    col.mean if has else None,
                    col.distinct,
                    None,
                )
            )
        else:
            top = max(col.counts.items(), key=lambda kv: kv[1])[0] if col.counts else None
            out.append(
                FeatureSummary(name, col.kind, col.count, col.missing, share, None, None, None, col.distinct, top)
            )
    return out


def profile_arrow(view: FeatureViewVersion, batches: Iterable[Any], columns: Mapping[str, str]) -> DatasetProfile:
    """The profile of Arrow record batches whose column ``columns[feature]`` holds each feature
    of ``view`` (profiled by its declared type, as materialisation profiles it), one batch at a
    time."""
    dtypes = {f.name: str(f.dtype) for f in view.definition.features}
    profile = DatasetProfile()
    for batch in batches:
        if batch.num_rows == 0:
            continue
        part = DatasetProfile(
            rows=batch.num_rows,
            columns={
                name: _column(dtypes[name], _values(dtypes[name], batch.column(batch.schema.get_field_index(col))))
                for name, col in columns.items()
            },
        )
        profile = profile.merge(part)
    if profile.rows == 0:
        return DatasetProfile(rows=0, columns={n: _column(dtypes[n], []) for n in columns})
    return profile


def _values(dtype: str, array: Any) -> list[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if dtype in ("int64", "float64"):
        try:
            return list(pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    if dtype == "timestamp" and pa.types.is_timestamp(array.type):
        return [None if v is None else v.isoformat() for v in array.to_pylist()]
    return list(array.to_pylist())


def profile_parquet(view: FeatureViewVersion, files: Sequence[Path], what: str) -> DatasetProfile:
    """The profile of ``view``'s features in Parquet ``files`` (a training set), read a batch at
    a time. A feature is the column of its name, or ``view__feature`` (full feature names);
    absent features are left out (InvalidArgument when none is there, or the files are not
    Parquet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not files:
        raise InvalidArgument(f"{what} has no Parquet file to profile")
    try:
        names = pq.ParquetFile(files[0]).schema_arrow.names
        columns: dict[str, str] = {}
        for f in view.definition.features:
            for candidate in (f.name, f"{view.name}__{f.name}"):
                if candidate in names:
                    columns[f.name] = candidate
                    break
        if not columns:
            raise InvalidArgument(f"{what} has none of the features of {view.ref}")
        batches = (
            batch
            for path in files
            for batch in pq.ParquetFile(path).iter_batches(batch_size=FLUSH_ROWS, columns=list(columns.values()))
        )
        return profile_arrow(view, batches, columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidArgument(f"cannot read {what} as Parquet: {str(exc).splitlines()[0]}") from None
