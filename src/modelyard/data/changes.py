"""What changed between two file sets: the result of ``diff`` (version vs version) and ``status``
(files on disk vs a version), plus the fast manifest reader both use.

Both compare ``{path: (digest, size)}`` maps. Reading a 20,000-entry manifest through the strict
``manifest_from_bytes`` (which validates every path because ``checkout`` joins them to a
directory) costs more than the whole rest of ``status``; comparing needs no such validation,
only the bytes verified against the digest, which ``ArtifactStore.get_bytes`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from modelyard.artifacts.interfaces import ArtifactStore
from modelyard.artifacts.manifest import MANIFEST_FORMAT
from modelyard.core.errors import InvalidArgument

__all__ = ["DatasetDiff", "FileChange", "compare", "read_manifest_entries"]

Entries = Mapping[str, tuple[str, int]]


@dataclass(frozen=True)
class FileChange:
    path: str
    old_size: int | None  # None: the file was added
    new_size: int | None  # None: the file was removed
    old_digest: str | None = None
    new_digest: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "old_size": self.old_size,
            "new_size": self.new_size,
            "old_digest": self.old_digest,
            "new_digest": self.new_digest,
        }


@dataclass(frozen=True)
class DatasetDiff:
    """From ``old`` to ``new``: files added, removed and modified, and how many are unchanged."""

    old: str
    new: str
    added: list[FileChange] = field(default_factory=list)
    removed: list[FileChange] = field(default_factory=list)
    modified: list[FileChange] = field(default_factory=list)
    unchanged: int = 0
    rehashed: int = 0  # status only: files whose bytes had to be read (stat cache misses)

    @property
    def is_clean(self) -> bool:
        return not (self.added or self.removed or self.modified)

    def as_dict(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "clean": self.is_clean,
            "added": [c.as_dict() for c in self.added],
            "removed": [c.as_dict() for c in self.removed],
            "modified": [c.as_dict() for c in self.modified],
            "unchanged": self.unchanged,
            "rehashed": self.rehashed,
        }


def compare(old: Entries, new: Entries, old_label: str, new_label: str, *, rehashed: int = 0) -> DatasetDiff:
    added: list[FileChange] = []
    removed: list[FileChange] = []
    modified: list[FileChange] = []
    unchanged = 0
    for path, (digest, size) in new.items():
        before = old.get(path)
        if before is None:
            added.append(FileChange(path, None, size, None, digest))
        elif before[0] != digest:
            modified.append(FileChange(path, before[1], size, before[0], digest))
        else:
            unchanged += 1
    for path, (digest, size) in old.items():
        if path not in new:
            removed.append(FileChange(path, size, None, digest, None))
    for changes in (added, removed, modified):
        changes.sort(key=lambda c: c.path)
    return DatasetDiff(old_label, new_label, added, removed, modified, unchanged, rehashed)


def read_manifest_entries(artifacts: ArtifactStore, digest: str) -> dict[str, tuple[str, int]]:
    """``{path: (digest, size)}`` of a stored manifest, its bytes verified against ``digest``."""
    data = artifacts.get_bytes(digest)
    try:
        document = orjson.loads(data)
        if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
            raise ValueError("not a manifest")
        entries = document["entries"]
        return dict(zip([e["path"] for e in entries], [(e["digest"], e["size"]) for e in entries], strict=True))
    except (orjson.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument(f"blob {digest} is not a valid manifest: {exc}")
