"""The stat cache: (path, size, mtime_ns, inode) -> content digest, so unchanged files are not re-read.

``status`` on 20,000 files must not read 1 GB: it stats every file and re-hashes only the ones
whose size, modification time or inode changed since they were last hashed. This is that memory.

Storage: one SQLite file (stdlib ``sqlite3``: this is a local cache, not the metadata store) under
``MODELYARD_HOME/cache``, WAL mode, every update one transaction, so a crash or a concurrent
process never leaves it half-written. It is only an optimisation: if it is unreadable or locked
for too long it is skipped (files are hashed) and, if corrupt, recreated.

The racy-entry rule (the problem Git's index has): a file modified again within the timestamp
granularity of its last hash can keep the same mtime and size. An entry is therefore trusted only
if the file's mtime is at least ``RACY_NS`` older than the moment the scan that hashed it started;
otherwise the file is re-hashed next time, and that later hash is trusted.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

__all__ = ["RACY_NS", "CachedStat", "StatCache"]

RACY_NS = 1_000_000_000  # one second: above the mtime granularity of every common local filesystem
_TREES = """
CREATE TABLE IF NOT EXISTS trees (
    root TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    stats BLOB NOT NULL
) WITHOUT ROWID
"""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    digest TEXT NOT NULL,
    hashed_at_ns INTEGER NOT NULL
) WITHOUT ROWID
"""


class CachedStat(NamedTuple):  # a tuple: 20,000 of them are built per status call
    size: int
    mtime_ns: int
    inode: int
    digest: str
    hashed_at_ns: int

    def matches(self, size: int, mtime_ns: int, inode: int) -> bool:
        return (
            self.size == size
            and self.mtime_ns == mtime_ns
            and self.inode == inode
            and mtime_ns + RACY_NS < self.hashed_at_ns
        )


def _tree_range(root: str) -> tuple[str, str]:
    """Keys under directory ``root``: ``root/`` <= key < ``root0`` ('0' sorts right after '/')."""
    base = root.rstrip(os.sep)
    return base + os.sep, base + chr(ord(os.sep) + 1)


class StatCache:
    """A process-safe stat cache at ``path`` (created on first write)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(_SCHEMA)
                conn.execute(_TREES)
            except sqlite3.DatabaseError:
                conn.close()
                self._discard_files()
                conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(_SCHEMA)
                conn.execute(_TREES)
            self._conn = conn
        return self._conn

    def _discard_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")

    def load(self, root: Path, *, tree: bool) -> dict[str, CachedStat]:
        """Entries for the file ``root``, or (``tree=True``) for every file under directory ``root``."""
        key = os.fspath(root)
        with self._lock:
            try:
                conn = self._connect()
                if tree:
                    low, high = _tree_range(key)
                    cursor = conn.execute(
                        "SELECT path, size, mtime_ns, inode, digest, hashed_at_ns FROM entries "
                        "WHERE path >= ? AND path < ?",
                        (low, high),
                    )
                else:
                    cursor = conn.execute(
                        "SELECT path, size, mtime_ns, inode, digest, hashed_at_ns FROM entries WHERE path = ?", (key,)
                    )
                return {row[0]: CachedStat._make(row[1:]) for row in cursor.fetchall()}
            except sqlite3.Error:
                return {}

    def update(
        self,
        entries: Iterable[tuple[str, int, int, int, str, int]],
        *,
        forget: Iterable[str] = (),
    ) -> None:
        """Upsert (path, size, mtime_ns, inode, digest, hashed_at_ns) rows and drop ``forget`` paths,
        in one transaction. Failures are ignored: the next scan simply hashes again."""
        rows = list(entries)
        gone = [(p,) for p in forget]
        if not rows and not gone:
            return
        with self._lock:
            try:
                conn = self._connect()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if gone:
                        conn.executemany("DELETE FROM entries WHERE path = ?", gone)
                    if rows:
                        conn.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?)", rows)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error:
                return

    # --- tree snapshots ------------------------------------------------------------------
    #
    # A snapshot says "the files under root had exactly these (name, size, mtime_ns, inode)
    # and their content was the manifest <digest>". When a new scan yields the same list, the
    # content is that manifest without looking up 20,000 entries or reading the manifest: one
    # list comparison. Written only when no file in it is racy (see the module docstring).

    def load_tree(self, root: str) -> tuple[str, bytes] | None:
        """(manifest digest, encoded stats) of the snapshot of ``root``, if any."""
        with self._lock:
            try:
                row = self._connect().execute("SELECT digest, stats FROM trees WHERE root = ?", (root,)).fetchone()
            except sqlite3.Error:
                return None
        return None if row is None else (str(row[0]), bytes(row[1]))

    def save_tree(self, root: str, digest: str, stats: bytes) -> None:
        with self._lock:
            try:
                self._connect().execute("INSERT OR REPLACE INTO trees VALUES (?, ?, ?)", (root, digest, stats))
            except sqlite3.Error:
                return

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
