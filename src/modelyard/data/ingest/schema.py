"""Schema differences between two versions: columns added, removed and retyped.

A schema that changed between ingestions is reported, not a crash: a full ingest records the new
schema and shows the diff; an incremental ingest (whose version adds a part beside the old parts)
casts the new rows to the old types when that is lossless and otherwise refuses with the diff.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["SchemaDiff", "schema_diff"]


@dataclass(frozen=True)
class SchemaDiff:
    added: list[tuple[str, str]] = field(default_factory=list)  # (column, type)
    removed: list[tuple[str, str]] = field(default_factory=list)
    retyped: list[tuple[str, str, str]] = field(default_factory=list)  # (column, old type, new type)

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.retyped)

    def lines(self) -> list[str]:
        return (
            [f"+ {name}: {kind}" for name, kind in self.added]
            + [f"- {name}: {kind}" for name, kind in self.removed]
            + [f"~ {name}: {old} -> {new}" for name, old, new in self.retyped]
        )

    def as_dict(self) -> dict[str, list[dict[str, str]]]:
        return {
            "added": [{"column": n, "type": t} for n, t in self.added],
            "removed": [{"column": n, "type": t} for n, t in self.removed],
            "retyped": [{"column": n, "old": o, "new": t} for n, o, t in self.retyped],
        }


def schema_diff(old: pa.Schema, new: pa.Schema) -> SchemaDiff:
    old_types = {f.name: f.type for f in old}
    new_types = {f.name: f.type for f in new}
    return SchemaDiff(
        added=[(n, str(t)) for n, t in new_types.items() if n not in old_types],
        removed=[(n, str(t)) for n, t in old_types.items() if n not in new_types],
        retyped=[
            (n, str(old_types[n]), str(t))
            for n, t in new_types.items()
            if n in old_types and t != old_types[n] and not _null(old_types[n]) and not _null(t)
        ],
    )


def _null(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(kind == pa.null())
