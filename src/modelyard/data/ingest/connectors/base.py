"""What every batch connector provides: a source read as a stream of Arrow tables.

A connector never writes anything: it reads, reports progress and collects the rows it could not
parse (``malformed``, each with its line number), so the ingestor decides whether they fail the
ingest or go to quarantine. A watermark filter (``newer_than``) lets a connector skip old rows at
the source when it can (SQL pushes it into the query); the ingestor filters again in any case.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelyard.core.errors import InvalidArgument

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DEFAULT_CHUNK_ROWS", "MalformedRow", "Progress", "Source", "WatermarkFilter", "source_files"]

DEFAULT_CHUNK_ROWS = 100_000


class Progress(Protocol):
    """The same protocol as ``DatasetService``'s: the CLI draws a rich bar, the SDK nothing."""

    def phase(self, description: str, total: int | None) -> None: ...
    def advance(self, amount: int) -> None: ...


@dataclass(frozen=True)
class MalformedRow:
    """A row the connector could not parse: where it is and why."""

    file: str
    line: int | None  # 1-based, counting the header line; None when the reader cannot tell
    reason: str
    text: str

    def describe(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class WatermarkFilter:
    """Take only rows whose ``column`` is greater than ``value`` (a Python value)."""

    column: str
    value: Any


class Source(Protocol):
    format: str
    description: str  # where the rows come from, safe to record (passwords hidden)
    malformed: list[MalformedRow]

    @property
    def query(self) -> str | None:
        """The query a database source runs (recorded on the version); None for files."""
        ...

    def read(self, progress: Progress, newer_than: WatermarkFilter | None = None) -> Iterator[pa.Table]:
        """Chunks of rows; the connector may already apply ``newer_than``."""
        ...


def source_files(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """The file itself, or the matching files of a directory (sorted, recursively): a one-line
    ``InvalidArgument`` when the path cannot be read, before anything is written."""
    if not path.exists():
        raise InvalidArgument(f"cannot read {path}: no such file or directory")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes))
        if not files:
            raise InvalidArgument(f"no {'/'.join(suffixes)} files under {path}")
    else:
        files = [path]
    for f in files:
        try:
            with open(f, "rb"):
                pass
        except OSError as exc:
            raise InvalidArgument(f"cannot read {f}: {exc.strerror or exc}")
    return files
