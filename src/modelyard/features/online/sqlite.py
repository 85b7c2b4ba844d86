"""The default online store: one SQLite file, one table per view version.

A table ``fv_<hash of view@vN>`` has the encoded entity key as its primary key, the event time,
and one column per feature (``c0``, ``c1``, ... in the view's order, declared without a type so
SQLite keeps each value's own type). A lookup is one prepared ``SELECT ... WHERE k IN (...)`` on
a connection of the calling thread (sqlite3 connections are per thread); writes upsert in one
transaction, keeping the newest event time per key. WAL mode, so readers never wait on a
materialisation in progress.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from modelyard.core.errors import InvalidArgument
from modelyard.core.features import FeatureViewVersion
from modelyard.features.online.base import Lookup, OnlineRow, OnlineStore

__all__ = ["SqliteOnlineStore"]

_BATCH = 10_000


def _table(view: FeatureViewVersion) -> str:
    return "fv_" + hashlib.sha256(f"{view.name}@v{view.version}".encode()).hexdigest()[:24]


class SqliteOnlineStore(OnlineStore):
    name = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._created: set[str] = set()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._conn().execute("PRAGMA journal_mode=WAL")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _ensure(self, conn: sqlite3.Connection, view: FeatureViewVersion) -> str:
        table = _table(view)
        if table not in self._created:
            columns = ", ".join(f"c{i}" for i in range(len(view.definition.features)))
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (k TEXT PRIMARY KEY, ts INTEGER NOT NULL, {columns})")
            self._created.add(table)
        return table

    def write(self, view: FeatureViewVersion, rows: Iterable[OnlineRow]) -> int:
        conn = self._conn()
        table = self._ensure(conn, view)
        n = len(view.definition.features)
        columns = ", ".join(f"c{i}" for i in range(n))
        marks = ", ".join("?" for _ in range(n + 2))
        updates = ", ".join(["ts = excluded.ts", *(f"c{i} = excluded.c{i}" for i in range(n))])
        sql = (
            f"INSERT INTO {table} (k, ts, {columns}) VALUES ({marks}) "
            f"ON CONFLICT(k) DO UPDATE SET {updates} WHERE excluded.ts >= {table}.ts"
        )
        written = 0
        batch: list[tuple[Any, ...]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for key, event_ms, values in rows:
                if len(values) != n:
                    raise InvalidArgument(f"{view.ref}: a row has {len(values)} values for {n} features")
                batch.append((key, int(event_ms), *values))
                if len(batch) >= _BATCH:
                    conn.executemany(sql, batch)
                    written += len(batch)
                    batch.clear()
            if batch:
                conn.executemany(sql, batch)
                written += len(batch)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return written

    def reader(self, view: FeatureViewVersion, features: Sequence[str]) -> Lookup:
        names = [f.name for f in view.definition.features]
        index = [names.index(f) for f in features]
        columns = ", ".join(["ts", *(f"c{i}" for i in index)])
        table = _table(view)
        one = f"SELECT {columns} FROM {table} WHERE k = ?"
        local = self._local
        connect = self._conn
        ensure = self._ensure

        def lookup(keys: Sequence[str]) -> list[tuple[int, tuple[Any, ...]] | None]:
            conn = getattr(local, "conn", None) or connect()
            try:
                if len(keys) == 1:
                    row = conn.execute(one, (keys[0],)).fetchone()
                    return [None if row is None else (row[0], row[1:])]
                marks = ",".join("?" * len(keys))
                found = {
                    r[0]: (r[1], r[2:])
                    for r in conn.execute(f"SELECT k, {columns} FROM {table} WHERE k IN ({marks})", list(keys))
                }
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                ensure(conn, view)  # nothing materialised yet: every key is unknown
                return [None] * len(keys)
            return [found.get(k) for k in keys]

        return lookup

    def drop(self, view: FeatureViewVersion) -> None:
        table = _table(view)
        self._conn().execute(f"DROP TABLE IF EXISTS {table}")
        self._created.discard(table)

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SqliteOnlineStore({str(self.path)!r})"
