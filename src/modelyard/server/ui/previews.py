"""Artifact browsing and previews: directory listing, content types, and what a preview shows.

Previews read as little as they can. Text shows the first 64 KB; CSV/TSV parse the first rows
of the first megabyte; only Parquet, whose row groups are found through a footer at the end of
the file, reads the whole blob, and only up to ``MAX_PARQUET_PREVIEW_BYTES``. A partial read is
not hash-verified (the content-addressed store checks the digest at the end of a full read);
downloads are full reads and are verified.
"""

from __future__ import annotations

import io
import mimetypes
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from modelyard.artifacts.interfaces import ArtifactStore
from modelyard.core.tracking import ArtifactEntry

TEXT_PREVIEW_BYTES = 64 * 1024
TABLE_PREVIEW_ROWS = 50
TABLE_PREVIEW_BYTES = 1024 * 1024
MAX_PARQUET_PREVIEW_BYTES = 64 * 1024 * 1024
MAX_TABLE_COLUMNS = 50

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
TEXT_EXTENSIONS = frozenset(
    {
        ".txt",
        ".log",
        ".md",
        ".rst",
        ".json",
        ".jsonl",
        ".yaml",
        ".yml",
        ".toml",
        ".ini",
        ".cfg",
        ".conf",
        ".py",
        ".sh",
        ".sql",
        ".xml",
        ".html",
        ".js",
        ".css",
        ".ipynb",
        ".r",
        ".scala",
        ".java",
        ".go",
        ".rs",
        ".c",
        ".h",
        ".cpp",
        ".properties",
        ".env",
    }
)
TEXT_NAMES = frozenset({"MLmodel", "Dockerfile", "Makefile", "LICENSE", "README", "requirements.txt"})
TABLE_EXTENSIONS = {".csv": ",", ".tsv": "\t", ".parquet": None}

PreviewKind = Literal["image", "text", "table", "binary", "too_large", "error"]


@dataclass
class DirectoryListing:
    """The immediate children of ``directory`` in a run's flat list of artifact paths."""

    directory: str  # "" for the root, else "a/b" (no trailing slash)
    subdirs: list[tuple[str, int, int]] = field(default_factory=list)  # (path, files under it, total size)
    files: list[ArtifactEntry] = field(default_factory=list)

    @property
    def parents(self) -> list[tuple[str, str]]:
        """Breadcrumbs: (label, directory path) from the root down to ``directory``."""
        crumbs: list[tuple[str, str]] = []
        parts = [p for p in self.directory.split("/") if p]
        for i, part in enumerate(parts):
            crumbs.append((part, "/".join(parts[: i + 1])))
        return crumbs


def list_directory(entries: Sequence[ArtifactEntry], directory: str) -> DirectoryListing:
    directory = directory.strip("/")
    prefix = f"{directory}/" if directory else ""
    listing = DirectoryListing(directory=directory)
    subdirs: dict[str, list[int]] = {}
    for entry in entries:
        if not entry.path.startswith(prefix):
            continue
        rest = entry.path[len(prefix) :]
        head, slash, _ = rest.partition("/")
        if slash:
            stats = subdirs.setdefault(prefix + head, [0, 0])
            stats[0] += 1
            stats[1] += entry.size
        else:
            listing.files.append(entry)
    listing.subdirs = [(path, n, size) for path, (n, size) in sorted(subdirs.items())]
    return listing


def content_type(path: str) -> str:
    ext = posixpath.splitext(path)[1].lower()
    if ext in IMAGE_TYPES:
        return IMAGE_TYPES[ext]
    if ext in TABLE_EXTENSIONS:
        return {".csv": "text/csv", ".tsv": "text/tab-separated-values"}.get(ext, "application/octet-stream")
    if _is_text_name(path):
        return "text/plain; charset=utf-8"
    guessed, _ = mimetypes.guess_type(path)
    if guessed and (guessed.startswith("text/") or guessed in ("application/json",)):
        return "text/plain; charset=utf-8"  # never let a browser render an artifact as HTML or script
    return "application/octet-stream"


def _is_text_name(path: str) -> bool:
    name = posixpath.basename(path)
    return name in TEXT_NAMES or posixpath.splitext(name)[1].lower() in TEXT_EXTENSIONS


@dataclass
class Preview:
    kind: PreviewKind
    entry: ArtifactEntry
    text: str = ""
    truncated: bool = False
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    total_rows: int | None = None  # when known (Parquet metadata)
    message: str = ""


def _read_head(artifacts: ArtifactStore, entry: ArtifactEntry, limit: int) -> bytes:
    with artifacts.open(entry.digest) as stream:
        return stream.read(limit)


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head[:8192]:
        return True
    try:
        head[:8192].decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the 8 KB window is not a sign of binary data.
        return exc.start < min(len(head), 8192) - 4
    return False


def build_preview(artifacts: ArtifactStore, entry: ArtifactEntry) -> Preview:
    ext = posixpath.splitext(entry.path)[1].lower()
    try:
        if ext in IMAGE_TYPES:
            return Preview("image", entry)
        if ext in TABLE_EXTENSIONS:
            return _table_preview(artifacts, entry, ext)
        head = _read_head(artifacts, entry, TEXT_PREVIEW_BYTES)
        if not _is_text_name(entry.path) and _looks_binary(head):
            return Preview("binary", entry, message="binary file: no preview")
        return Preview(
            "text",
            entry,
            text=head.decode("utf-8", errors="replace"),
            truncated=entry.size > TEXT_PREVIEW_BYTES,
        )
    except Exception as exc:  # a preview never breaks the run page
        return Preview("error", entry, message=f"cannot preview {entry.path}: {type(exc).__name__}: {exc}")


def _table_preview(artifacts: ArtifactStore, entry: ArtifactEntry, ext: str) -> Preview:
    if ext == ".parquet":
        if entry.size > MAX_PARQUET_PREVIEW_BYTES:
            return Preview("too_large", entry, message="Parquet file too large to preview; download it instead")
        import pyarrow.parquet as pq

        with artifacts.open(entry.digest) as stream:
            data = stream.read()
        parquet = pq.ParquetFile(io.BytesIO(data))
        total = parquet.metadata.num_rows
        names = parquet.schema_arrow.names[:MAX_TABLE_COLUMNS]
        batches = parquet.iter_batches(batch_size=TABLE_PREVIEW_ROWS, columns=names)
        batch = next(batches, None)
        table_rows: list[list[Any]] = []
        if batch is not None:
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            table_rows = [list(row) for row in zip(*columns, strict=True)]
        return Preview(
            "table",
            entry,
            columns=list(names),
            rows=[[_cell(v) for v in r] for r in table_rows],
            total_rows=total,
            truncated=total > len(table_rows),
        )
    import csv

    head = _read_head(artifacts, entry, TABLE_PREVIEW_BYTES)
    text = head.decode("utf-8", errors="replace")
    if len(head) == TABLE_PREVIEW_BYTES and "\n" in text:
        text = text[: text.rindex("\n")]  # drop the cut-off last line
    reader = csv.reader(io.StringIO(text), delimiter=TABLE_EXTENSIONS[ext] or ",")
    rows = []
    for row in reader:
        rows.append(row)
        if len(rows) > TABLE_PREVIEW_ROWS + 1:  # the header, the shown rows, and one to know there are more
            break
    if not rows:
        return Preview("table", entry, columns=[], rows=[])
    header, body = rows[0][:MAX_TABLE_COLUMNS], rows[1 : TABLE_PREVIEW_ROWS + 1]
    truncated = len(rows) > TABLE_PREVIEW_ROWS + 1 or len(head) == TABLE_PREVIEW_BYTES
    return Preview("table", entry, columns=header, rows=[r[:MAX_TABLE_COLUMNS] for r in body], truncated=truncated)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."
