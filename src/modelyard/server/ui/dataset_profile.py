"""Profiles of tabular dataset versions for the UI: read a bounded sample, profile it with
``data/validation/profile.py``, and turn each column into a plotly chart.

A page must answer in about a second whatever the dataset weighs, so the work is capped: files are
taken in path order while their total stays under ``MAX_READ_BYTES`` and ``MAX_READ_FILES`` (each
fetched verified from the artifact store and read by ``data/tabular.py``, the reader the SDK uses);
a first file larger than that is read from its head when it is CSV, TSV or JSON Lines (the head
of a Parquet file is not a table, so a huge Parquet file is not profiled here); then at most
``MAX_PROFILE_ROWS`` rows, chosen at random with a fixed seed, are profiled. The page says what
was read.

Versions are immutable, so a profile is cached per manifest digest (a small LRU per app): the
second look at a version costs nothing, and every replica computes the same answer.
"""

from __future__ import annotations

import itertools
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.artifacts.interfaces import ArtifactStore
from modelyard.core.datasets import DatasetVersion
from modelyard.core.errors import InvalidArgument
from modelyard.data.tabular import table_format
from modelyard.data.validation.profile import ColumnProfile, Profile, profile
from modelyard.server.ui._common import fmt_size, json_safe

if TYPE_CHECKING:
    import pyarrow as pa

MAX_READ_BYTES = 64 * 1024 * 1024
MAX_READ_FILES = 200  # thousands of tiny parts cost a blob read each: a few hundred say enough
MAX_PROFILE_ROWS = 200_000
_HEAD_FORMATS = ("csv", "tsv", "jsonl")
_COMPRESSED = (".gz", ".bz2", ".zst", ".lz4")
_CACHE_SIZE = 16


@dataclass
class VersionProfile:
    """What the profile section shows; ``profile`` is None when the version could not be read."""

    profile: Profile | None
    schema: list[tuple[str, str]] = field(default_factory=list)
    arrow_schema: Any = None  # the pyarrow schema of what was read (for schema diffs)
    tabular_files: int = 0
    files_read: int = 0
    bytes_read: int = 0
    rows_read: int = 0
    head_only: bool = False  # one file, read from its head
    message: str | None = None  # why there is no profile

    @property
    def sampled(self) -> bool:
        return self.profile is not None and self.profile.rows < self.rows_read


def _tabular(entries: Mapping[str, tuple[str, int]]) -> tuple[list[tuple[str, str, int]], str | None]:
    """(path, digest, size) of the tabular files, and an error when formats are mixed."""
    found = sorted((p, d, s) for p, (d, s) in entries.items() if table_format(p) is not None)
    formats = {table_format(p) for p, _, _ in found}
    if len(formats) > 1:
        return found, f"the version mixes formats ({', '.join(sorted(str(f) for f in formats))})"
    return found, None


def _read(artifacts: ArtifactStore, files: list[tuple[str, str, int]], head: bool, workdir: Path) -> pa.Table:
    from modelyard.data.tabular import read_table

    paths = []
    for index, (path, digest, _size) in enumerate(files):
        target = workdir / str(index) / Path(path).name  # the name keeps the format and compression
        target.parent.mkdir(parents=True)
        if head:
            with artifacts.open(digest) as stream:
                data = stream.read(MAX_READ_BYTES)
            target.write_bytes(data[: data.rfind(b"\n") + 1])  # whole lines only
        else:
            artifacts.get_file(digest, target)  # verified against the digest
        paths.append(target)
    return read_table(paths)


def compute_profile(
    artifacts: ArtifactStore, version: DatasetVersion, entries: Mapping[str, tuple[str, int]]
) -> VersionProfile:
    """The capped profile of a version (see the module doc)."""
    import numpy as np

    files, mixed = _tabular(entries)
    if not files:
        return VersionProfile(None, message="no tabular file (CSV, TSV, Parquet, JSON Lines) in this version")
    if mixed:
        return VersionProfile(None, tabular_files=len(files), message=mixed)
    chosen: list[tuple[str, str, int]] = []
    total = 0
    for item in files:
        if total + item[2] > MAX_READ_BYTES or len(chosen) >= MAX_READ_FILES:
            break
        chosen.append(item)
        total += item[2]
    head = False
    if not chosen:
        first = files[0]
        fmt = table_format(first[0])
        if fmt not in _HEAD_FORMATS or first[0].lower().endswith(_COMPRESSED):
            return VersionProfile(
                None,
                tabular_files=len(files),
                message=f"{first[0]} is larger than {fmt_size(MAX_READ_BYTES)} and its head "
                "cannot be read as a table; profile it with the SDK",
            )
        chosen, head, total = [first], True, min(first[2], MAX_READ_BYTES)
    with tempfile.TemporaryDirectory(prefix="modelyard-ui-profile-") as tmp:
        try:
            table = _read(artifacts, chosen, head, Path(tmp))
        except InvalidArgument as exc:
            return VersionProfile(None, tabular_files=len(files), message=str(exc))
    rows = table.num_rows
    sample = table
    if rows > MAX_PROFILE_ROWS:
        picks = np.sort(np.random.default_rng(0).choice(rows, MAX_PROFILE_ROWS, replace=False))
        sample = table.take(picks)
    return VersionProfile(
        profile(sample.to_pandas()),
        schema=[(f.name, str(f.type)) for f in table.schema],
        arrow_schema=table.schema,
        tabular_files=len(files),
        files_read=len(chosen),
        bytes_read=total,
        rows_read=rows,
        head_only=head,
    )


class ProfileCache:
    """Profiles by manifest digest (versions never change), the newest ``size`` kept."""

    def __init__(self, size: int = _CACHE_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[str, VersionProfile] = OrderedDict()

    def get(
        self, artifacts: ArtifactStore, version: DatasetVersion, entries: Mapping[str, tuple[str, int]]
    ) -> VersionProfile:
        key = version.manifest_digest
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        result = compute_profile(artifacts, version, entries)  # outside the lock: may take a second
        with self._lock:
            self._items[key] = result
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return result


# --- charts ------------------------------------------------------------------------------------

_BAR = "#2563eb"


def column_figure(col: ColumnProfile) -> dict[str, Any] | None:
    """A histogram (numbers) or a bar chart of the most frequent values (categories, text)."""
    if col.histogram and col.histogram.get("counts"):
        edges, counts = col.histogram["edges"], col.histogram["counts"]
        centres = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
        widths = [b - a for a, b in itertools.pairwise(edges)]
        data = [
            {
                "type": "bar",
                "x": centres,
                "y": counts,
                "width": widths,
                "marker": {"color": _BAR},
                "hovertemplate": "%{x}: %{y} rows<extra></extra>",
            }
        ]
        xaxis: dict[str, Any] = {"title": {"text": col.name}}
    elif col.top:
        labels = list(col.top)
        data = [
            {
                "type": "bar",
                "x": labels,
                "y": [col.top[k] for k in labels],
                "marker": {"color": _BAR},
                "hovertemplate": "%{x}: %{y} rows<extra></extra>",
            }
        ]
        xaxis = {"title": {"text": col.name}, "type": "category"}
    else:
        return None
    title = f"{col.name} ({col.kind})"
    return json_safe(
        {
            "data": data,
            "layout": {"title": {"text": title}, "xaxis": xaxis, "yaxis": {"title": {"text": "rows"}}, "bargap": 0.05},
        }
    )


def nulls_figure(prof: Profile) -> dict[str, Any] | None:
    """Missing values per column, as a share of rows: the first thing to look at in new data."""
    if not prof.columns:
        return None
    names = list(prof.columns)
    shares = [prof.columns[n].null_fraction for n in names]
    return json_safe(
        {
            "data": [
                {
                    "type": "bar",
                    "x": names,
                    "y": shares,
                    "marker": {"color": "#d97706"},
                    "hovertemplate": "%{x}: %{y:.1%} missing<extra></extra>",
                }
            ],
            "layout": {
                "title": {"text": "Missing values by column"},
                "xaxis": {"type": "category"},
                "yaxis": {"title": {"text": "share of rows"}, "tickformat": ".0%", "rangemode": "tozero"},
            },
        }
    )


def profile_rows(prof: Profile) -> list[dict[str, Any]]:
    """One table row per column: the facts a reader scans before the charts."""
    rows = []
    for col in prof.columns.values():
        q = col.quantiles
        rows.append(
            {
                "name": col.name,
                "kind": col.kind,
                "dtype": col.dtype,
                "nulls": col.nulls,
                "null_fraction": col.null_fraction,
                "distinct": col.distinct,
                "min": col.min,
                "max": col.max,
                "mean": col.mean,
                "std": col.std,
                "quantiles": [
                    (label, q.get(key))
                    for label, key in (
                        ("p1", "0.01"),
                        ("p25", "0.25"),
                        ("p50", "0.5"),
                        ("p75", "0.75"),
                        ("p99", "0.99"),
                    )
                    if key in q
                ],
                "top": list(col.top.items())[:5],
            }
        )
    return rows
