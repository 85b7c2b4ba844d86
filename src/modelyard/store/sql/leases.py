"""The expiring lease the SQL stores share: serving's maintenance and SLO-judge claims
(``SqlServingStore.claim_prediction_log`` / ``claim_slo_judge``) and monitoring's window claims
(``SqlMonitoringStore.claim_window``).

A lease is a row with ``owner``, ``claimed_at`` and ``expires_at`` under a unique key. Claiming
INSERTs the row with ON CONFLICT DO NOTHING: the claimer whose INSERT inserted it holds the lease
(PostgreSQL and SQLite both decide that atomically under the key, so of any number of concurrent
claimers exactly one wins). A row already there is taken over once its lease expired (or at once
by its own owner when ``renew``) by one UPDATE guarded by the owner and expiry just read, which
again only one claimer can match. ``guard`` narrows both the read and the UPDATE (monitoring's
``done`` flag), so a row outside it is never taken.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Column, ColumnElement, Connection, String, Table, select, update

from modelyard.core.errors import InvalidArgument

__all__ = ["Lease", "LeaseClaim", "lease_columns"]


def lease_columns(name_length: int) -> list[Column[Any]]:
    """The lease's columns, as every claims table has them."""
    return [
        Column("owner", String(name_length), nullable=False),
        Column("claimed_at", BigInteger, nullable=False),
        Column("expires_at", BigInteger, nullable=False),
    ]


@dataclass(frozen=True)
class Lease:
    """Who claims, from when, until when (epoch milliseconds)."""

    owner: str
    claimed_at: int
    expires_at: int

    @classmethod
    def starting(cls, owner: str, at: int, lease_ms: int) -> Lease:
        if lease_ms < 1:
            raise InvalidArgument("a lease lasts at least 1 ms")
        return cls(owner=owner, claimed_at=int(at), expires_at=int(at) + int(lease_ms))

    def values(self) -> dict[str, Any]:
        return {"owner": self.owner, "claimed_at": self.claimed_at, "expires_at": self.expires_at}


@dataclass(frozen=True)
class LeaseClaim:
    """A claim of the row under ``key`` of ``table`` for ``lease``. ``renew``: its owner may take
    it again before it expires; ``guard``: conditions the row must meet (read and UPDATE);
    ``values``: the row's other columns, inserted and set again on a takeover."""

    table: Table
    key: Mapping[str, Any]
    lease: Lease
    renew: bool = False
    guard: Sequence[ColumnElement[bool]] = ()
    values: Mapping[str, Any] = field(default_factory=dict)

    def take_over(self, conn: Connection) -> Any | None:
        """Take the existing row once its lease expired (at once when ``renew`` and the lease's
        owner holds it). Returns the row as it was, or None when there is none, it is held, or
        another taker won."""
        table, lease = self.table, self.lease
        where = [*(table.c[name] == value for name, value in self.key.items()), *self.guard]
        row = conn.execute(select(table).where(*where)).first()
        if row is None:
            return None
        if int(row.expires_at) > lease.claimed_at and not (self.renew and row.owner == lease.owner):
            return None
        taken = conn.execute(
            update(table)
            .where(*where, table.c.owner == row.owner, table.c.expires_at == row.expires_at)
            .values(**lease.values(), **self.values)
        )
        return row if taken.rowcount == 1 else None

    def claim(self, conn: Connection, insert: Callable[[Any], Any]) -> bool:
        """Insert the row, else take it over; ``insert`` is the store's dialect INSERT."""
        row = {**self.key, **self.lease.values(), **self.values}
        inserted = conn.execute(insert(self.table).values(**row).on_conflict_do_nothing().returning(self.table.c.owner))
        return inserted.first() is not None or self.take_over(conn) is not None
