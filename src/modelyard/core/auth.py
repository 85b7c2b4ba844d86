"""Entities of the auth aggregate: users, API tokens (never the token itself), role bindings,
audit entries, the credentials authentication reads, and the audit log's query and verification.

The audit chain is defined here, not in a store, because every implementation must compute the
same hash for the same row: ``audit_entry_hash`` is the one definition, used when a row is
appended (inside the write transaction that serialises appends) and when the chain is verified.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from modelyard.core.base import Entity

#: Project roles, weakest first. Each role includes every right of the ones before it.
ROLES: tuple[str, ...] = ("viewer", "editor", "maintainer", "admin")
#: The project id of a binding that applies to every project (and to project-less operations).
ALL_PROJECTS = "*"
#: ``prev_hash`` of the first audit row.
GENESIS_HASH = "0" * 64


def role_rank(role: str) -> int:
    """Position of ``role`` in ROLES; ValueError for an unknown role (callers validate first)."""
    return ROLES.index(role)


class User(Entity):
    id: str
    username: str
    is_admin: bool = False
    disabled: bool = False
    has_password: bool = False
    created_at: int


class ApiToken(Entity):
    """What is kept about a token: never the token itself. ``id`` is the visible prefix."""

    id: str
    username: str
    name: str | None = None
    created_at: int
    expires_at: int | None = None
    revoked_at: int | None = None
    last_used_at: int | None = None


class RoleBinding(Entity):
    username: str
    project_id: str  # ALL_PROJECTS for a binding on every project
    role: str


class AuditEntry(Entity):
    seq: int
    timestamp: int
    actor: str
    action: str
    object_type: str
    object_id: str | None = None
    remote_addr: str | None = None
    details: dict[str, Any]
    hash: str


class TokenCredential(Entity):
    """A token row with its owner and stored digest, for authentication only."""

    token: ApiToken
    user: User
    token_hash: str


class SessionCredential(Entity):
    """A login session with its owner and the digest of its CSRF token."""

    user: User
    csrf_hash: str
    expires_at: int


class AuditQuery(Entity):
    """Filters of ``list_audit``; times are epoch milliseconds, ``since`` inclusive, ``until``
    exclusive. Results are newest first; ``before_seq`` continues a previous page."""

    actor: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    action: str | None = None
    since: int | None = None
    until: int | None = None
    limit: int = 100
    before_seq: int | None = None


class AuditVerification(Entity):
    """Result of walking the chain. ``broken_seq`` is the first row that does not verify (or,
    for a deleted row, the row after the gap); ``head_*`` is the last verified row, which an
    operator can record elsewhere to detect a truncated tail later."""

    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    problem: str | None = None


def canonical_details(details: dict[str, Any]) -> str:
    """The one JSON text of ``details`` that is stored and hashed (sorted keys, no spaces).
    Non-JSON values become strings; NaN and infinities are refused by ``json``."""
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)


def audit_entry_hash(
    prev_hash: str,
    *,
    seq: int,
    timestamp: int,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | None,
    remote_addr: str | None,
    details_json: str,
) -> str:
    """sha256(previous hash + canonical row). The row is a JSON array so that no choice of field
    values can make two different rows serialise to the same text."""
    content = json.dumps(
        [seq, timestamp, actor, action, object_type, object_id, remote_addr, details_json],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()
