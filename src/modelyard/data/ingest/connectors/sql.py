"""Any database SQLAlchemy can reach (PostgreSQL, SQLite, MySQL...): the rows of a query, fetched
through a server-side cursor in chunks.

This reads a *user's* database; it is not modelyard's metadata store, which is why this one module
may import SQLAlchemy. The watermark filter is pushed into the query (``SELECT * FROM (query)
WHERE col > :value``) so an incremental ingest reads only new rows from the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from modelyard.core.errors import InvalidArgument
from modelyard.data.ingest.connectors.base import DEFAULT_CHUNK_ROWS, MalformedRow, Progress, WatermarkFilter

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["SqlSource", "looks_like_url"]

_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def looks_like_url(source: str) -> bool:
    return bool(_URL_RE.match(source)) and not source.startswith("file://")


class SqlSource:
    format = "sql"

    def __init__(self, url: str, query: str | None, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        if not query or not query.strip():
            raise InvalidArgument("a SQL source needs --query (e.g. 'SELECT * FROM events')")
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise InvalidArgument(f"invalid database URL: {exc}")
        if parsed.drivername in ("postgresql", "postgres"):  # psycopg 3 is the driver modelyard ships
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.url = parsed
        self.query = query.strip().rstrip(";")
        self.description = parsed.render_as_string(hide_password=True)
        self.chunk_rows = chunk_rows
        self.malformed: list[MalformedRow] = []

    def read(self, progress: Progress, newer_than: WatermarkFilter | None = None) -> Iterator[pa.Table]:
        import pyarrow as pa
        import sqlalchemy as sa

        query, params = self.query, {}
        if newer_than is not None:
            if not _IDENT_RE.match(newer_than.column):
                raise InvalidArgument(f"watermark column {newer_than.column!r} must be a plain identifier")
            query = f"SELECT * FROM ({self.query}) AS modelyard_src WHERE {newer_than.column} > :modelyard_watermark"
            params = {"modelyard_watermark": newer_than.value}
        progress.phase(f"querying {self.description}", None)
        try:
            engine = sa.create_engine(self.url)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise InvalidArgument(f"cannot use {self.description}: {exc}")
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True).execute(sa.text(query), params)
                columns = list(result.keys())
                while True:
                    rows = result.fetchmany(self.chunk_rows)
                    if not rows:
                        break
                    progress.advance(len(rows))
                    yield pa.table({name: pa.array([r[i] for r in rows]) for i, name in enumerate(columns)})
        except sa.exc.SQLAlchemyError as exc:
            message = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise InvalidArgument(f"query on {self.description} failed: {message}")
        finally:
            engine.dispose()
