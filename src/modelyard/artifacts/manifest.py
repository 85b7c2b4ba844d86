"""Manifest (de)serialisation: one canonical byte string per directory content.

A stored directory is addressed by the digest of its manifest, so the manifest's bytes must be a
pure function of the directory's content: entries sorted by path, keys sorted, no whitespace,
UTF-8, no timestamps, no host names. Then the same directory gives the same manifest digest on
every machine and in every store, which is what makes directory dedup and "did this dataset
change?" checks a string comparison.

Reading is strict: a manifest is untrusted input whose paths are later joined to a destination
directory, so every path goes through ``safe_relpath`` and must already be in normal form, and a
path may not be both a file and a parent directory of another file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from modelyard.artifacts.interfaces import Manifest, ManifestEntry
from modelyard.artifacts.paths import parse_digest, safe_relpath
from modelyard.core.errors import InvalidArgument, ModelyardError

__all__ = ["MANIFEST_FORMAT", "build_manifest", "manifest_from_bytes", "manifest_to_bytes"]

#: Written into every manifest so a reader can tell a manifest from any other JSON blob and so the
#: format can evolve without guessing.
MANIFEST_FORMAT = "modelyard.manifest/v1"


def build_manifest(entries: Iterable[ManifestEntry], digest: str | None = None) -> Manifest:
    """A Manifest with entries sorted by path, after checking paths, digests and sizes."""
    ordered = sorted(entries, key=lambda e: e.path)
    files: set[str] = set()
    for entry in ordered:
        if safe_relpath(entry.path) != entry.path:
            raise InvalidArgument(f"manifest path {entry.path!r} is not in normal form")
        parse_digest(entry.digest)
        if not isinstance(entry.size, int) or isinstance(entry.size, bool) or entry.size < 0:
            raise InvalidArgument(f"manifest entry {entry.path!r} has an invalid size {entry.size!r}")
        if entry.path in files:
            raise InvalidArgument(f"manifest lists {entry.path!r} twice")
        files.add(entry.path)
    for path in files:
        # 'a' and 'a/b' cannot both be files; materialising such a manifest would fail half-way.
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in files:
                raise InvalidArgument(f"manifest lists {parent!r} both as a file and as a directory")
    return Manifest(entries=tuple(ordered), digest=digest)


def manifest_to_bytes(manifest: Manifest) -> bytes:
    """The canonical JSON bytes of a manifest (its ``digest`` field is not part of them)."""
    checked = build_manifest(manifest.entries)
    document = {
        "format": MANIFEST_FORMAT,
        "entries": [{"path": e.path, "digest": e.digest, "size": e.size} for e in checked.entries],
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def manifest_from_bytes(data: bytes, digest: str | None = None) -> Manifest:
    """Parse and validate manifest bytes; ``InvalidArgument`` if they are not a valid manifest."""
    label = digest or "manifest"
    try:
        document: Any = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(f"blob {label} is not a manifest: {exc}")
    if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
        raise InvalidArgument(f"blob {label} is not a manifest (no format {MANIFEST_FORMAT!r})")
    raw_entries = document.get("entries")
    if not isinstance(raw_entries, list):
        raise InvalidArgument(f"blob {label} is not a manifest: 'entries' must be a list")
    entries: list[ManifestEntry] = []
    for raw in raw_entries:
        if not isinstance(raw, dict) or set(raw) != {"path", "digest", "size"}:
            raise InvalidArgument(f"blob {label} has a malformed manifest entry: {raw!r:.200}")
        entries.append(ManifestEntry(path=raw["path"], digest=raw["digest"], size=raw["size"]))
    try:
        return build_manifest(entries, digest=digest)
    except ModelyardError as exc:
        raise InvalidArgument(f"blob {label} is not a valid manifest: {exc.message}")
