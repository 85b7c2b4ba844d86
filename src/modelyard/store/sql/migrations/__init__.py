"""Alembic migrations of the SQL metadata store, driven from code (no alembic.ini).

Alembic is imported only when the schema is behind: a store at ``SCHEMA_HEADS`` opens with one
cheap query (see ``SqlDatabase._ensure_schema``), which keeps opening a store in the millisecond range.

Each aggregate has its own branch, rooted on the tracking schema ``0001``: ``d0001_datasets.py``
(revision ``d0001``, ``down_revision = "0001"``, ``branch_labels = ("datasets",)``), then
``d0002_...`` and so on; likewise ``m`` for models and ``a`` for auth. Branches let aggregates
evolve independently; the database holds one ``alembic_version`` row per head.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Connection, inspect, text

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"


_REVISION_RE = re.compile(r"^revision\s*=\s*[\"']([^\"']+)[\"']", re.M)
_DOWN_RE = re.compile(r"^down_revision\s*=\s*(.+)$", re.M)


def schema_heads() -> frozenset[str]:
    """The head revisions of every branch, read from the version files without importing Alembic
    (a test checks Alembic agrees)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        if path.name.startswith("_"):
            continue
        source = path.read_text()
        match = _REVISION_RE.search(source)
        if match is None:
            continue
        revisions.add(match.group(1))
        down = _DOWN_RE.search(source)
        if down is not None:
            parents.update(re.findall(r"[\"']([^\"']+)[\"']", down.group(1)))
    return frozenset(revisions - parents)


def current_revisions(conn: Connection) -> frozenset[str]:
    """The revisions stamped in the database (one per branch head); empty if never migrated."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return frozenset()
    return frozenset(row[0] for row in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")))


def alembic_config(conn: Connection | None = None) -> object:
    """An Alembic ``Config`` pointing at this directory; ``conn`` is handed to env.py."""
    from alembic.config import Config

    config = Config()
    # Config options go through ConfigParser interpolation, where '%' is special.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def upgrade_to_head(conn: Connection) -> None:
    """Run every pending migration on ``conn``, inside the caller's transaction.

    A database stamped with a revision this code does not know was migrated by a newer modelyard;
    that is reported as StoreUnavailable rather than as Alembic's own error."""
    from alembic import command
    from alembic.util import CommandError

    from modelyard.core.errors import StoreUnavailable

    try:
        command.upgrade(alembic_config(conn), "heads")  # type: ignore[arg-type]
    except CommandError as exc:
        raise StoreUnavailable(f"cannot migrate the store schema: {exc} (is it from a newer modelyard?)") from exc


def head_revisions() -> frozenset[str]:
    """The heads as Alembic sees them (a test checks they equal ``schema_heads()``)."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())  # type: ignore[arg-type]
