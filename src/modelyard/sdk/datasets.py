"""``modelyard.datasets``: versioned datasets from Python.

    import modelyard
    v = modelyard.datasets.add("data/train.csv", name="churn-train", message="May export")
    train = modelyard.datasets.get("churn-train@v1")     # or "churn-train", "churn-train@latest"
    df = train.to_pandas()
    clean = modelyard.datasets.add("data/clean", name="churn-clean", parents=[train], params={"dropna": True})

Inside a run, ``get`` records the version as an input of the run (``run.log_input``), so the run
is traceable to the exact bytes it read. The stores are the SDK's (``set_store_uri``,
``set_artifact_uri``, or the environment), so datasets and runs always live side by side.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.core.datasets import DatasetSummary
from modelyard.core.datasets import DatasetVersion as DatasetVersionRecord
from modelyard.core.tracking import RunInput
from modelyard.data.changes import DatasetDiff
from modelyard.data.service import DatasetService
from modelyard.sdk.session import _session

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "DatasetVersion",
    "add",
    "checkout",
    "diff",
    "get",
    "list",
    "remove",
    "service",
    "status",
    "versions",
]


class DatasetVersion:
    """One immutable dataset version, with ways to read it.

    Attributes of the stored record (``name``, ``version``, ``ref``, ``manifest_digest``,
    ``kind``, ``file_count``, ``total_size``, ``message``, ``parents``, ``params``, ...) are
    available directly; ``record`` is the record itself."""

    def __init__(self, record: DatasetVersionRecord, service: DatasetService) -> None:
        self.record = record
        self._service = service

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("record", "_service"):  # copy/pickle probe before __init__
            raise AttributeError(name)
        return getattr(self.record, name)

    def __repr__(self) -> str:
        return (
            f"<DatasetVersion {self.record.ref} {self.record.kind} files={self.record.file_count} "
            f"bytes={self.record.total_size} digest={self.record.manifest_digest[:19]}>"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatasetVersion) and other.record == self.record

    def __hash__(self) -> int:
        return hash(self.record)

    def path(self) -> Path:
        """A local, verified, read-only-by-convention copy (made once, cached under MODELYARD_HOME):
        the file for a file dataset, else the directory."""
        return self._service.materialise(self.record)

    def files(self) -> dict[str, tuple[str, int]]:
        """``{relative path: (digest, size)}`` of the version's files."""
        return self._service.files(self.record)

    def to_arrow(self) -> pa.Table:
        """The version as one Arrow table (CSV, TSV, Parquet or JSON Lines, by file extension)."""
        from modelyard.data.tabular import read_table

        root = self.path()
        if self.record.kind == "file":
            return read_table([root])
        return read_table([root.joinpath(*name.split("/")) for name in self.files()])

    def to_pandas(self) -> pd.DataFrame:
        return self.to_arrow().to_pandas()

    def checkout(self, dest: str | os.PathLike[str], *, clean: bool = False) -> Path:
        return self._service.checkout(self.record, dest, clean=clean)


def _build_service() -> DatasetService:
    stores = _session.stores()
    return DatasetService(stores.datasets, stores.artifacts, _session.settings().home / "cache")


def service() -> DatasetService:
    """The explicit API (``modelyard.data.DatasetService``) over the SDK's stores (built once per session)."""
    return _session.cached("datasets", _build_service)


def _wrap(record: DatasetVersionRecord) -> DatasetVersion:
    return DatasetVersion(record, service())


def add(
    path: str | os.PathLike[str],
    *,
    name: str,
    message: str | None = None,
    parents: Sequence[str | DatasetVersion | DatasetVersionRecord] = (),
    params: Mapping[str, Any] | None = None,
    code: str | None = None,
    source: str | None = None,
) -> DatasetVersion:
    """Version the file or directory at ``path`` as the next version of ``name``.

    ``parents`` (references or versions) are the versions this one was derived from, with the
    ``code`` and ``params`` that derived it; inside a run ``code`` defaults to ``run:<run id>``.
    ``source`` records where the data came from when ``path`` is only a staging copy (a URL, a
    table); by default it is ``path``. Adding content identical to the latest version returns
    that version."""
    runs = _session.runs()
    if code is None and runs:
        code = f"run:{runs[-1].id}"
    resolved = [p.record if isinstance(p, DatasetVersion) else p for p in parents]
    result = service().add(path, name=name, message=message, parents=resolved, params=params, code=code, source=source)
    return _wrap(result.version)


def get(ref: str, *, context: str | None = None, log_input: bool = True) -> DatasetVersion:
    """The version ``ref`` names (``NAME``, ``NAME@v3``, ``NAME@latest``, ``NAME@<hash prefix>``).

    Inside a run (and unless ``log_input=False``) it is recorded as an input of the active run,
    with ``context`` (``"training"``, ``"validation"``...)."""
    record = service().resolve(ref)
    runs = _session.runs()
    if log_input and runs:
        _session.client().log_inputs(
            runs[-1].id,
            [
                RunInput(
                    name=record.name,
                    version=f"v{record.version}",
                    digest=record.manifest_digest,
                    source=record.source,
                    context=context,
                )
            ],
        )
    return _wrap(record)


def list() -> builtins.list[DatasetSummary]:
    """Every dataset with its latest version."""
    return service().list_datasets()


def versions(name: str, *, include_removed: bool = False) -> builtins.list[DatasetVersion]:
    return [_wrap(v) for v in service().versions(name, include_removed=include_removed)]


def diff(old: str, new: str) -> DatasetDiff:
    """Files added, removed and modified from version ``old`` to version ``new``."""
    return service().diff(old, new)


def status(ref: str, path: str | os.PathLike[str] | None = None) -> DatasetDiff:
    """How the files at ``path`` (default: where the version was added from) differ from ``ref``."""
    return service().status(ref, path)


def checkout(ref: str, dest: str | os.PathLike[str], *, clean: bool = False) -> Path:
    return service().checkout(ref, dest, clean=clean)


def remove(ref: str) -> DatasetVersion:
    """Hide a version (its number is never reused; lineage keeps pointing at it)."""
    return _wrap(service().remove(ref))
