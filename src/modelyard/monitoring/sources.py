"""The two sides of a drift comparison, from whatever names them.

A side is a pandas DataFrame, a ``DatasetProfile`` (or a file holding one: ``DatasetProfile.to_bytes``),
a tabular file (CSV, TSV, Parquet, JSON Lines; compressed CSV/JSON by suffix) or a directory of
them, or a dataset version ``NAME@VERSION`` read through the data subsystem. Profiles are never
expanded: drift against a stored profile never rescans the data it was made from.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidArgument
from modelyard.stats.profile import DatasetProfile

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.data.service import DatasetService

__all__ = ["PROFILE_SUFFIX", "load_source", "looks_like_dataset_ref"]

#: The suffix profiles are saved under by ``modelyard profile`` (any name works: the bytes tell).
PROFILE_SUFFIX = ".myprofile"


def looks_like_dataset_ref(text: str) -> bool:
    """``NAME@VERSION`` (or ``NAME``) rather than a path: no path separator and no file suffix."""
    return "/" not in text and os.sep not in text and ("@" in text or "." not in text)


def load_source(
    source: Any,
    *,
    datasets: DatasetService | None = None,
    profile: bool = False,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame | DatasetProfile:
    """A DataFrame or a ``DatasetProfile`` for ``source`` (see the module's docstring). With
    ``profile=True`` files and dataset versions are profiled as they are read (Parquet a batch of
    rows at a time), so memory stays bounded whatever their size; DataFrames stay DataFrames.
    ``columns``: profile only these (a file without one of them is an error)."""
    import pandas as pd

    if isinstance(source, (pd.DataFrame, DatasetProfile)):
        return source
    if isinstance(source, pd.Series):
        return source.to_frame()
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidArgument(
            f"cannot compare a {type(source).__name__}: pass a DataFrame, a profile, a file path or NAME@VERSION"
        )
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.exists():
        return _read_path(path, profile, columns)
    if isinstance(source, str) and looks_like_dataset_ref(text):
        if datasets is None:
            raise InvalidArgument(f"{text!r} is not a file, and no dataset store to look it up in")
        from modelyard.data.ingest.checks import read_version

        version = datasets.resolve(text)
        table = read_version(datasets, version)
        if profile:
            from modelyard.monitoring.profiles import BATCH_ROWS, profile_frame, profile_table

            if table.num_rows == 0:
                return profile_frame(table.to_pandas(), columns)
            return profile_table(table.to_batches(max_chunksize=BATCH_ROWS), columns)
        return table.to_pandas()
    raise InvalidArgument(f"no such file: {text}")


def _read_path(path: Path, profile: bool, columns: Sequence[str] | None) -> pd.DataFrame | DatasetProfile:
    from modelyard.data.tabular import read_table, table_format
    from modelyard.monitoring.profiles import profile_file

    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and table_format(p))
        if not files:
            raise InvalidArgument(f"no tabular files (CSV, TSV, Parquet, JSON Lines) in {path}")
        if profile:
            return DatasetProfile.merge_all(profile_file(f, columns) for f in files)
        return read_table(files).to_pandas()
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror or exc}") from None
    if DatasetProfile.is_profile_bytes(head):
        return DatasetProfile.from_bytes(path.read_bytes())
    if table_format(path) is None:
        raise InvalidArgument(f"cannot read {path.name}: not a profile nor CSV, TSV, Parquet or JSON Lines")
    return profile_file(path, columns) if profile else read_table([path]).to_pandas()
