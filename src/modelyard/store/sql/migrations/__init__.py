"""Alembic migrations of the SQL metadata store, driven from code (no alembic.ini).

Alembic is imported only when the schema is behind: a store at ``SCHEMA_REVISION`` opens with one
cheap query (see ``SqlStore._ensure_schema``), which keeps opening a store in the millisecond range.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, inspect, text

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"


def current_revision(conn: Connection) -> str | None:
    """The revision stamped in the database, None for an empty (never migrated) database."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


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
        command.upgrade(alembic_config(conn), "head")  # type: ignore[arg-type]
    except CommandError as exc:
        raise StoreUnavailable(f"cannot migrate the store schema: {exc} (is it from a newer modelyard?)") from exc


def head_revision() -> str:
    """The newest revision in ``versions/`` (a test checks it equals ``SCHEMA_REVISION``)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()  # type: ignore[arg-type]
    assert head is not None
    return head
