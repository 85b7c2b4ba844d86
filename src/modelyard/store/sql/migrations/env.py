"""Alembic environment: runs migrations on the connection that ``SqlDatabase.upgrade`` passes in.

There is no alembic.ini and no URL here on purpose: the store decides how to connect and which
lock to hold, so migrations behave the same from the CLI, the server and an installed wheel.
"""

from __future__ import annotations

from alembic import context

from modelyard.store.sql.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("modelyard migrations run through SqlDatabase.upgrade(), which passes a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
