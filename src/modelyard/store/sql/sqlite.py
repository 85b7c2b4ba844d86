"""SQLite engine setup for the SQL database: WAL, busy timeout, BEGIN IMMEDIATE, a migration file lock.

Why BEGIN IMMEDIATE: pysqlite starts transactions as DEFERRED, so a transaction that reads then
writes must upgrade its lock; when two processes do that at once one of them fails at once with
"database is locked" whatever the busy timeout (a deadlock SQLite refuses to wait on). Taking the
write lock at BEGIN makes writers queue on the busy timeout instead. Reads begin DEFERRED, and WAL
lets them run alongside the one writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from modelyard.core.errors import InvalidArgument, NotFound, StoreUnavailable
from modelyard.store.sql.database import SqlDatabase
from modelyard.store.sql.filters import SQLITE_TO_FLOAT_FUNCTION

BUSY_TIMEOUT_SECONDS = 30
#: The first bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"


def _to_float(text: object) -> float | None:
    """SQL function behind ``SafeFloat`` on SQLite: a number, or NULL for text that is not one."""
    if text is None:
        return None
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Stop pysqlite from emitting its own BEGIN; the "begin" listener below does it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA case_sensitive_like = ON")  # LIKE behaves as on PostgreSQL
    finally:
        cursor.close()
    dbapi_connection.create_function(SQLITE_TO_FLOAT_FUNCTION, 1, _to_float, deterministic=True)


def _on_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get("modelyard_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _create_database_file(uri: str, path: Path) -> None:
    """Make ``path`` an empty SQLite database, atomically: it is built beside it under a temporary
    name (header written: WAL mode) and linked into place, so a concurrent opener never sees the
    empty file SQLite itself would leave between creating and first writing it (which, for any
    opener, is a file that is not a store). Another opener that linked first wins; fine."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
    except OSError as exc:
        raise StoreUnavailable(f"cannot create store {uri}: {exc.strerror}: {path.parent}") from None
    os.close(fd)
    try:
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode = WAL")  # writes the header
        finally:
            conn.close()
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links: plain (non-atomic) creation
            if not path.exists():
                os.replace(tmp, path)
    finally:
        for leftover in (tmp, f"{tmp}-wal", f"{tmp}-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)


class SqliteDatabase(SqlDatabase):
    """``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or ``sqlite://`` (memory)."""

    _path: Path | None = None

    def _create_engine(self, uri: str) -> Engine:
        try:
            url = make_url(uri)
        except ArgumentError as exc:
            raise InvalidArgument(f"invalid SQLite URI {uri!r}: {exc}") from None
        if url.get_backend_name() != "sqlite":
            raise InvalidArgument(f"not a SQLite URI: {uri!r}")
        database = url.database or ""
        url = url.set(drivername="sqlite+pysqlite")
        connect_args = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_SECONDS}
        if database in ("", ":memory:"):
            engine = create_engine(url, poolclass=StaticPool, connect_args=connect_args)
        else:
            path = Path(database).expanduser()
            self._check_file(uri, path)
            self._path = path
            engine = create_engine(url.set(database=str(path)), connect_args=connect_args)
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
        return engine

    def _check_file(self, uri: str, path: Path) -> None:
        """What opening ``path`` may do: read an existing SQLite file; in create mode, make a new
        one in an existing directory (or under the home, whose missing directories are made).
        A file that is not a SQLite database (an empty or a text file) is never turned into one."""
        if path.is_dir():
            raise StoreUnavailable(f"cannot open store {uri}: {path} is a directory")
        if path.exists():
            try:
                with open(path, "rb") as handle:
                    header = handle.read(len(SQLITE_HEADER))
            except OSError as exc:
                raise StoreUnavailable(f"cannot open store {uri}: {exc.strerror}: {path}") from None
            if header != SQLITE_HEADER:
                what = "an empty file" if not header else "not a SQLite database"
                raise InvalidArgument(f"{path} is {what}, not a modelyard store: refusing to open {uri}")
            return
        if not self.create:
            raise NotFound(f"no modelyard store at {uri}: no such file (nothing was created)")
        parent = path.parent
        if parent.is_dir():
            _create_database_file(uri, path)
            return
        home = self.home.expanduser().resolve() if self.home is not None else None
        if home is not None and (parent.resolve() == home or home in parent.resolve().parents):
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(f"cannot open store {uri}: cannot create {parent}: {exc.strerror}") from None
            _create_database_file(uri, path)
            return
        raise InvalidArgument(
            f"cannot create store {uri}: directory {parent} does not exist (only the home directory "
            f"{home or 'MODELYARD_HOME'} is created; create it first if that is the place you meant)"
        )

    @contextlib.contextmanager
    def _migration_file_lock(self) -> Iterator[None]:
        if self._path is None:
            yield
            return
        lock_path = self._path.with_name(self._path.name + ".migrate.lock")
        with open(lock_path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _backend_problems(self, conn: Connection) -> list[str]:
        problems = [
            f"sqlite integrity_check: {row[0]}"
            for row in conn.exec_driver_sql("PRAGMA integrity_check").all()
            if row[0] != "ok"
        ]
        for table, rowid, parent, _fk in conn.exec_driver_sql("PRAGMA foreign_key_check").all():
            where = f" (rowid {rowid})" if rowid is not None else ""
            problems.append(f"sqlite foreign_key_check: a row of {table}{where} references a missing {parent} row")
        return problems
