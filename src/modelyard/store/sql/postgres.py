"""PostgreSQL engine setup for the SQL database (psycopg 3), and its migration lock.

``postgresql://`` and ``postgres://`` URIs are accepted and always driven by psycopg 3. Connecting
times out after a few seconds so that a server that is down is reported promptly as
StoreUnavailable instead of hanging the CLI or a server start.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from modelyard.core.errors import InvalidArgument
from modelyard.core.extras import require_extra
from modelyard.store.sql.database import SqlDatabase

CONNECT_TIMEOUT_SECONDS = 5
#: Key of the transaction-level advisory lock that serialises migrations (any fixed 64-bit int).
MIGRATION_LOCK_KEY = 0x6D6F64656C796172  # "modelyar"


class PostgresDatabase(SqlDatabase):
    """``postgresql://user:password@host:port/database`` (also ``postgres://``)."""

    def _create_engine(self, uri: str) -> Engine:
        scheme, sep, rest = uri.partition("://")
        if not sep or scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
            raise InvalidArgument(f"not a PostgreSQL URI: {self.safe_uri()!r}")
        try:
            url = make_url(f"postgresql+psycopg://{rest}")
        except ArgumentError as exc:
            raise InvalidArgument(f"invalid PostgreSQL URI {self.safe_uri()!r}: {exc}") from None
        require_extra("psycopg", purpose="PostgreSQL stores need psycopg")
        connect_args: dict[str, object] = {}
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)

    def _lock_schema(self, conn: Connection) -> None:
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))

    def safe_uri(self) -> str:
        try:
            scheme, _, rest = self.uri.partition("://")
            return (
                make_url(f"postgresql://{rest}")
                .render_as_string(hide_password=True)
                .replace("postgresql://", f"{scheme}://", 1)
            )
        except ArgumentError:
            return "<invalid PostgreSQL URI>"
