"""``SqlDatabase``: what every SQL aggregate store shares — the engine, transactions, migrations
and the integrity checks.

One ``SqlDatabase`` per URI; the aggregate stores (``SqlTrackingStore``, ``SqlRegistryStore``,
``SqlDatasetStore``, ``SqlAuthStore``, one module each in this package) are built over it by
``modelyard.store.open_stores`` and share its connection pool. The per-database subclasses
(sqlite.py, postgres.py) only build the engine and provide the migration lock.

Transactions: every write runs in ``write(fn)``, one transaction that is retried with backoff when
the database says "try again" (SQLite busy/locked, PostgreSQL deadlock or serialization failure).
That is safe because every write is idempotent: client ids, upserts, and metric points whose
primary key drops a retried duplicate.

Integrity checks are registered explicitly: each aggregate store registers its check (a function
of a connection returning the problems found) when it is built, and ``check()`` runs the
database's own checks, then every registered check in registration order.

Opening modes: ``create=True`` (what writes: the SDK, ``data add``, the server, ``db init``) may
create the schema in a database that has none (SQLite: a new file in an existing directory, or in
the home directory ``home``, created if missing); ``create=False`` (what only reads) requires a
modelyard store to be there already and creates nothing, answering ``NotFound`` naming the URI.
Neither mode turns a database that holds other tables (or a file that is not a SQLite database)
into a store.
"""

from __future__ import annotations

import contextlib
import gc
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from modelyard.core.errors import InvalidArgument, ModelyardError, NotFound, StoreUnavailable
from modelyard.store.sql.migrations import current_revisions, upgrade_to_head
from modelyard.store.sql.schema import SCHEMA_HEADS

T = TypeVar("T")
E = TypeVar("E", bound=BaseModel)
_MAX_ATTEMPTS = 8  # each attempt may already wait out SQLite's busy timeout

#: An integrity check: the problems found on ``conn`` (empty: healthy).
IntegrityCheck = Callable[[Connection], list[str]]


class Transaction(Protocol):
    """``SqlDatabase.read`` / ``.write``: run ``fn`` in one transaction and return its result."""

    def __call__(self, fn: Callable[[Connection], T], /) -> T: ...


class SqlDatabase:
    """One SQL database: engine, retrying transactions, schema migrations, integrity checks.
    Subclasses implement ``_create_engine``."""

    def __init__(self, uri: str, *, create: bool = True, home: Path | None = None) -> None:
        self.uri = uri
        #: Whether opening may create the store (the schema; SQLite: the file) when there is none.
        self.create = create
        #: The home directory: the one place where a SQLite store's missing directories are created.
        self.home = home
        self._checks: dict[str, IntegrityCheck] = {}
        self._engine = self._create_engine(uri)
        self._write_engine = self._engine.execution_options(modelyard_write=True)
        self.dialect = self._engine.dialect.name
        #: The DBAPI parameter placeholder for raw SQL.
        self.ph = "?" if self.dialect == "sqlite" else "%s"
        try:
            self._ensure_schema()
        except ModelyardError:
            self._engine.dispose()
            raise
        except (DBAPIError, OSError) as exc:
            self._engine.dispose()
            raise StoreUnavailable(f"cannot open store {self.safe_uri()}: {first_line(exc)}") from exc

    # --- hooks for the per-database subclasses -----------------------------------------------

    def _create_engine(self, uri: str) -> Engine:
        raise NotImplementedError

    def _migration_file_lock(self) -> contextlib.AbstractContextManager[None]:
        """A lock held around the migration transaction (SQLite: a file lock)."""
        return contextlib.nullcontext()

    def _lock_schema(self, conn: Connection) -> None:
        """Take a lock inside the migration transaction (PostgreSQL: an advisory lock)."""

    def _backend_problems(self, conn: Connection) -> list[str]:
        """Database-specific integrity checks (SQLite: integrity_check, foreign_key_check)."""
        return []

    def safe_uri(self) -> str:
        """The URI without its password, for messages."""
        return self.uri

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for maintenance tools and tests (not for the services)."""
        return self._engine

    # --- lifecycle ---------------------------------------------------------------------------

    def _ensure_schema(self) -> None:
        """Migrate only when behind: the common case is one query, no Alembic import.

        Several processes opening a brand-new SQLite file at once race on switching it to WAL
        (that pragma fails at once with "database is locked" instead of waiting), so transient
        errors are retried here as they are for every other transaction."""
        delay = 0.005
        for attempt in range(_MAX_ATTEMPTS):
            try:
                with self._engine.connect() as conn:
                    revisions = current_revisions(conn)
                    if revisions == SCHEMA_HEADS:
                        return
                    if not revisions:
                        self._refuse_to_create(conn)
                self.upgrade()
                return
            except DBAPIError as exc:
                if attempt + 1 < _MAX_ATTEMPTS and is_transient(exc):
                    self._engine.dispose()
                    time.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 2, 1.0)
                    continue
                raise

    def _refuse_to_create(self, conn: Connection) -> None:
        """Raise unless a schema may be created here: in create mode, in a database with no tables."""
        if not self.create:
            raise NotFound(
                f"no modelyard store at {self.safe_uri()} (nothing was created: only what writes creates a store)"
            )
        tables = [name for name in inspect(conn).get_table_names() if not name.startswith("sqlite_")]
        if tables:
            raise InvalidArgument(
                f"{self.safe_uri()} is a database but not a modelyard store (it holds other tables, such as "
                f"{sorted(tables)[0]!r}): refusing to add modelyard's tables to it"
            )

    def upgrade(self) -> None:
        """Apply pending migrations, under a lock so concurrent openers migrate once."""
        with self._migration_file_lock(), self._write_engine.begin() as conn:
            self._lock_schema(conn)
            if current_revisions(conn) != SCHEMA_HEADS:
                upgrade_to_head(conn)

    def register_check(self, name: str, check: IntegrityCheck) -> None:
        """Add an aggregate's integrity check to ``check()`` (registering a name again replaces it)."""
        self._checks[name] = check

    def check(self) -> list[str]:
        """The database's own checks, then every registered check; returns the problems found."""
        checks = list(self._checks.values())

        def run_checks(conn: Connection) -> list[str]:
            problems = self._backend_problems(conn)
            for check in checks:
                problems.extend(check(conn))
            return problems

        return self.read(run_checks)

    def close(self) -> None:
        self._engine.dispose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.safe_uri()!r})"

    # --- transactions ------------------------------------------------------------------------

    def write(self, fn: Callable[[Connection], T]) -> T:
        """``fn`` in one write transaction (SQLite: BEGIN IMMEDIATE), retried on transient errors."""
        return self._run(self._write_engine, fn)

    def read(self, fn: Callable[[Connection], T]) -> T:
        """``fn`` in one read transaction, retried on transient errors."""
        return self._run(self._engine, fn)

    def _run(self, engine: Engine, fn: Callable[[Connection], T]) -> T:
        """One transaction; retried while the database reports a transient conflict. Lost or
        unusable connections surface as StoreUnavailable, domain errors pass through."""
        delay = 0.005
        for attempt in range(_MAX_ATTEMPTS):
            try:
                with engine.begin() as conn:
                    return fn(conn)
            except DBAPIError as exc:
                if attempt + 1 < _MAX_ATTEMPTS and is_transient(exc):
                    time.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 2, 1.0)
                    continue
                if isinstance(exc, OperationalError | InterfaceError):
                    raise StoreUnavailable(f"store {self.safe_uri()} failed: {first_line(exc)}") from exc
                raise
        raise AssertionError("unreachable")

    def insert(self, table: Any) -> Any:
        """The dialect's INSERT, which has ``on_conflict_do_nothing/do_update`` on both backends."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)


class SqlAggregateStore:
    """Base of the per-aggregate SQL stores: the shared database's transactions bound once, so
    a store's ``self._write(fn)`` is the database's method itself (no extra call per write)."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        self.uri = db.uri
        self._read: Transaction = db.read
        self._write: Transaction = db.write
        self._insert: Callable[[Any], Any] = db.insert
        self._dialect = db.dialect

    @property
    def engine(self) -> Engine:
        """The shared SQLAlchemy engine, for maintenance tools and tests."""
        return self.db.engine

    def check(self) -> list[str]:
        """The integrity check of the whole database (every aggregate registered on it)."""
        return self.db.check()

    def close(self) -> None:
        """Release the shared database's connections (they reopen on the next use)."""
        self.db.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.db.safe_uri()!r})"


# --- helpers ---------------------------------------------------------------------------------


def validated(cls: type[E], value: object) -> E:
    """``value`` as a ``cls`` (a pydantic model), or InvalidArgument in one line."""
    try:
        return cls.model_validate(value)
    except ValueError as exc:
        raise InvalidArgument(f"invalid {cls.__name__}: {describe(exc)}") from None


@contextlib.contextmanager
def gc_paused(pause: bool) -> Iterator[None]:
    """Disable the cyclic GC while building many objects; respects a GC the caller disabled."""
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def version_number(version: object) -> int:
    """A dataset version number as the lineage lookups take it (InvalidArgument otherwise)."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidArgument(f"a dataset version is an integer, got {version!r}")
    return version


def is_transient(exc: DBAPIError) -> bool:
    """Errors after which the same transaction succeeds if simply tried again."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in ("40001", "40P01"):  # serialization failure, deadlock detected
        return True
    message = str(exc.orig).lower()
    return "database is locked" in message or "database is busy" in message or "database table is locked" in message


def describe(exc: ValueError) -> str:
    """A one-line description of a (pydantic) validation error."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in errors())
    return str(exc)


def first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    return text.splitlines()[0] if text else type(orig).__name__
