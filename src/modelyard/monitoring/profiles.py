"""Profiles of pandas DataFrames: the pandas side of ``modelyard.stats.profile``.

``profile_frame(df)`` builds a mergeable ``DatasetProfile`` column by column with vectorised
updates (one numpy pass per numeric column into a KLL sketch and the moments; one hashed
``value_counts`` per categorical column). Column kinds are the data subsystem's
(``modelyard.data.validation.profile.column_kind``): numeric, boolean, datetime, categorical,
text. Datetimes are profiled as epoch seconds; booleans and strings as frequency tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from modelyard.core.errors import InvalidArgument
from modelyard.data.validation.profile import column_kind
from modelyard.stats.profile import (
    CATEGORY_CAP,
    KLL_K,
    CategoricalProfile,
    ColumnProfile,
    DatasetProfile,
    NumericProfile,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["BATCH_ROWS", "profile_column", "profile_file", "profile_frame", "profile_table"]

#: Rows profiled at a time from a file: memory stays bounded whatever the file's size.
BATCH_ROWS = 262_144


def profile_column(series: pd.Series, *, cap: int = CATEGORY_CAP, k: int = KLL_K) -> ColumnProfile:
    """The mergeable profile of one column."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        counts = series.value_counts(dropna=True)
        return CategoricalProfile.from_counts(
            zip(counts.index.tolist(), counts.to_numpy().tolist(), strict=True),
            missing=int(series.isna().sum()),
            kind="boolean",
            cap=cap,
        )
    if pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        return NumericProfile.from_array(values, kind="numeric", k=k)
    if pd.api.types.is_datetime64_any_dtype(series):
        stamps = series.to_numpy(dtype="datetime64[ns]")
        seconds = stamps.astype("int64").astype("float64") / 1e9
        seconds[np.isnat(stamps)] = np.nan
        return NumericProfile.from_array(seconds, kind="datetime", k=k)
    counts = series.value_counts(dropna=True)
    kind = column_kind(series, distinct=len(counts))
    return CategoricalProfile.from_counts(
        zip(counts.index.tolist(), counts.to_numpy().tolist(), strict=True),
        missing=int(len(series) - int(counts.sum())),
        kind=kind,
        cap=cap,
    )


def profile_frame(
    df: pd.DataFrame, columns: Sequence[str] | None = None, *, cap: int = CATEGORY_CAP, k: int = KLL_K
) -> DatasetProfile:
    """The mergeable profile of ``df`` (all columns, or ``columns`` in that order)."""
    names = [str(c) for c in df.columns] if columns is None else [str(c) for c in columns]
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise InvalidArgument(f"no column {', '.join(map(repr, missing))} in the data")
    if len(set(names)) != len(names):
        raise InvalidArgument("duplicate column names")
    return DatasetProfile(rows=len(df), columns={c: profile_column(df[c], cap=cap, k=k) for c in names})


def profile_table(batches: Iterable[pa.RecordBatch | pa.Table], columns: Sequence[str] | None = None) -> DatasetProfile:
    """The profile of Arrow batches, one at a time (each turned into pandas, profiled, merged):
    a file of any size is profiled in the memory of one batch."""
    profile = DatasetProfile()
    for batch in batches:
        profile = profile.merge(profile_frame(batch.to_pandas(), columns))
    return profile


def profile_file(path: Path, columns: Sequence[str] | None = None, *, batch_rows: int = BATCH_ROWS) -> DatasetProfile:
    """The profile of a tabular file. Parquet is read one row group at a time and profiled
    ``batch_rows`` rows at a time, so memory holds one row group, whatever the file's size."""
    from modelyard.data.tabular import read_table, table_format

    if table_format(path) == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            handle = pq.ParquetFile(path)
            if columns is not None:
                absent = [c for c in columns if c not in handle.schema_arrow.names]
                if absent:
                    raise InvalidArgument(f"no column {', '.join(map(repr, absent))} in {path.name}")
            if handle.metadata.num_rows == 0:
                return profile_frame(handle.schema_arrow.empty_table().to_pandas(), columns)
            # a row group at a time (iter_batches reads ahead and holds several), in batches
            batches = (
                batch
                for group in range(handle.metadata.num_row_groups)
                for batch in handle.read_row_group(group, columns=columns).to_batches(max_chunksize=batch_rows)
            )
            return profile_table(batches, columns)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidArgument(f"cannot read {path.name} as parquet: {str(exc).splitlines()[0]}") from None
    table = read_table([path])
    if table.num_rows == 0:
        return profile_frame(table.to_pandas(), columns)
    return profile_table(table.to_batches(max_chunksize=batch_rows), columns)
