"""The audit trail: who changed what, when and from where, in a hash-chained append-only log.

Each entry's hash covers the previous entry's hash and its own canonical content (see
``store.auth.audit_entry_hash``), so editing, deleting or reordering any past entry breaks the
chain from that entry on, and ``verify`` names the first broken one. Truncating the newest entries
leaves a valid shorter chain: to catch that, record the head (``verify`` returns it) somewhere
else and compare later (``modelyard audit verify --expect-head SEQ:HASH``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelyard.core.auth import AuditEntry, AuditQuery, AuditVerification
from modelyard.core.errors import InvalidArgument
from modelyard.core.tracking import now_millis
from modelyard.store.auth import AuthStore


class AuditLog:
    """Append, query and verify the audit chain."""

    def __init__(self, store: AuthStore, *, clock: Callable[[], int] = now_millis) -> None:
        self.store = store
        self.clock = clock

    def record(
        self,
        actor: str,
        action: str,
        object_type: str,
        object_id: str | None = None,
        details: dict[str, Any] | None = None,
        remote_addr: str | None = None,
    ) -> AuditEntry:
        return self.store.append_audit(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            remote_addr=remote_addr,
            details=dict(details or {}),
            timestamp=self.clock(),
        )

    def list(self, query: AuditQuery | None = None) -> list[AuditEntry]:
        query = query or AuditQuery()
        if query.since is not None and query.until is not None and query.since >= query.until:
            raise InvalidArgument("the time range is empty: 'since' must be before 'until'")
        return self.store.list_audit(query)

    def verify(self, expect_head: tuple[int, str] | None = None) -> AuditVerification:
        """Walk the chain; with ``expect_head`` (a head recorded earlier) also check that the entry
        is still there with the same hash, which catches a truncated tail."""
        result = self.store.verify_audit()
        if not result.ok or expect_head is None:
            return result
        seq, digest = expect_head
        if result.head_seq < seq:
            problem = f"the log ends at row {result.head_seq} but row {seq} was recorded earlier (rows deleted)"
            return _failed(result, seq, problem)
        found = self.store.list_audit(AuditQuery(before_seq=seq + 1, limit=1))
        if not found or found[0].seq != seq or found[0].hash != digest:
            return _failed(result, seq, f"row {seq}: its hash differs from the one recorded earlier")
        return result


def _failed(result: AuditVerification, seq: int, problem: str) -> AuditVerification:
    return AuditVerification(
        ok=False,
        checked=result.checked,
        head_seq=result.head_seq,
        head_hash=result.head_hash,
        broken_seq=seq,
        problem=problem,
    )


def parse_head(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` as printed by ``audit verify``."""
    seq, sep, digest = text.partition(":")
    if not sep or not seq.isdigit() or len(digest) != 64:
        raise InvalidArgument(f"invalid head {text!r}: expected SEQ:HASH as printed by 'audit verify'")
    return int(seq), digest.lower()
