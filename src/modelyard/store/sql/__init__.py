"""SQL implementation of the metadata store (SQLite and PostgreSQL), with Alembic migrations.

Import the concrete stores from their modules (``modelyard.store.sql.sqlite``, ``.postgres``) or,
better, open them by URI through ``modelyard.store.open_store``.
"""

from modelyard.store.sql.base import SqlStore

__all__ = ["SqlStore"]
