"""Users, hashed API tokens, project roles, login sessions and the hash-chained audit log.

The interface of this aggregate's metadata store. store/sql/auth.py implements it as a
``SqlAuthStore`` over the shared ``SqlDatabase``; services (``modelyard.auth``) receive it typed as this ABC.

The store never sees a secret: passwords arrive already hashed (scrypt, by the service), API
tokens and session ids as sha256 digests. A database dump therefore grants nobody access.

The audit chain is defined here, not in a backend, because every implementation must compute
the same hash for the same row: ``audit_entry_hash`` is the one definition, used when a row is
appended (inside the write transaction that serialises appends) and when the chain is verified.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

#: Project roles, weakest first. Each role includes every right of the ones before it.
ROLES: tuple[str, ...] = ("viewer", "editor", "maintainer", "admin")
#: The project id of a binding that applies to every project (and to project-less operations).
ALL_PROJECTS = "*"
#: ``prev_hash`` of the first audit row.
GENESIS_HASH = "0" * 64


def role_rank(role: str) -> int:
    """Position of ``role`` in ROLES; ValueError for an unknown role (callers validate first)."""
    return ROLES.index(role)


class _Entity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class User(_Entity):
    id: str
    username: str
    is_admin: bool = False
    disabled: bool = False
    has_password: bool = False
    created_at: int


class ApiToken(_Entity):
    """What is kept about a token: never the token itself. ``id`` is the visible prefix."""

    id: str
    username: str
    name: str | None = None
    created_at: int
    expires_at: int | None = None
    revoked_at: int | None = None
    last_used_at: int | None = None


class RoleBinding(_Entity):
    username: str
    project_id: str  # ALL_PROJECTS for a binding on every project
    role: str


class AuditEntry(_Entity):
    seq: int
    timestamp: int
    actor: str
    action: str
    object_type: str
    object_id: str | None = None
    remote_addr: str | None = None
    details: dict[str, Any]
    hash: str


@dataclass(frozen=True)
class TokenCredential:
    """A token row with its owner and stored digest, for authentication only."""

    token: ApiToken
    user: User
    token_hash: str


@dataclass(frozen=True)
class SessionCredential:
    """A login session with its owner and the digest of its CSRF token."""

    user: User
    csrf_hash: str
    expires_at: int


@dataclass(frozen=True)
class AuditQuery:
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


@dataclass(frozen=True)
class AuditVerification:
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


class AuthStore(ABC):
    """Users, hashed API tokens, project roles, login sessions and the hash-chained audit log."""

    # --- users -------------------------------------------------------------------------------

    @abstractmethod
    def create_user(self, username: str, *, password_hash: str | None = None, is_admin: bool = False) -> User:
        """AlreadyExists if the username is taken."""

    @abstractmethod
    def get_user(self, username: str) -> User:
        """NotFound if there is no such user."""

    @abstractmethod
    def list_users(self) -> list[User]:
        """Every user, ordered by username."""

    @abstractmethod
    def update_user(
        self,
        username: str,
        *,
        password_hash: str | None = None,
        is_admin: bool | None = None,
        disabled: bool | None = None,
    ) -> User:
        """Change the given fields (None leaves one as it is); NotFound for an unknown user."""

    @abstractmethod
    def get_password_hash(self, username: str) -> tuple[User, str | None]:
        """The user and their stored password hash (None: token-only); NotFound if unknown."""

    # --- API tokens --------------------------------------------------------------------------

    @abstractmethod
    def create_token(
        self, username: str, *, token_id: str, token_hash: str, name: str | None, expires_at: int | None
    ) -> ApiToken:
        """Store a token's digest under its visible prefix ``token_id``; NotFound for an unknown user."""

    @abstractmethod
    def get_token_credential(self, token_id: str) -> TokenCredential | None:
        """The token, its owner and its digest; None if no token has this prefix."""

    @abstractmethod
    def list_tokens(self, username: str | None = None) -> list[ApiToken]:
        """Tokens (of one user, or all), newest first."""

    @abstractmethod
    def revoke_token(self, token_id: str, *, revoked_at: int) -> ApiToken:
        """Mark a token revoked (idempotent: the first revocation time is kept); NotFound if unknown."""

    @abstractmethod
    def touch_token(self, token_id: str, *, used_at: int) -> None:
        """Record when a token was last used."""

    # --- roles -------------------------------------------------------------------------------

    @abstractmethod
    def set_role(self, username: str, project_id: str, role: str) -> RoleBinding:
        """Give ``username`` exactly ``role`` on ``project_id`` (replacing a previous one)."""

    @abstractmethod
    def remove_role(self, username: str, project_id: str) -> bool:
        """Remove the binding; False if there was none. NotFound for an unknown user."""

    @abstractmethod
    def list_roles(self, *, username: str | None = None, project_id: str | None = None) -> list[RoleBinding]:
        """Bindings, filtered, ordered by username then project."""

    # --- login sessions ----------------------------------------------------------------------

    @abstractmethod
    def create_session(self, username: str, *, session_hash: str, csrf_hash: str, expires_at: int) -> None:
        """Store a login session by the digest of its cookie value."""

    @abstractmethod
    def get_session(self, session_hash: str, *, now: int) -> SessionCredential | None:
        """The live session with this digest; None if unknown or expired."""

    @abstractmethod
    def delete_session(self, session_hash: str) -> None:
        """End a session (logout); a no-op for an unknown one."""

    @abstractmethod
    def delete_expired_sessions(self, *, now: int) -> int:
        """Remove sessions past their expiry; returns how many."""

    # --- audit log ---------------------------------------------------------------------------

    @abstractmethod
    def append_audit(
        self,
        *,
        actor: str,
        action: str,
        object_type: str,
        object_id: str | None,
        remote_addr: str | None,
        details: dict[str, Any],
        timestamp: int,
    ) -> AuditEntry:
        """Append one row at the head of the chain. Concurrent appends are serialised, so the
        chain never forks; ``timestamp`` is raised to the head's if the clock went backwards."""

    @abstractmethod
    def list_audit(self, query: AuditQuery) -> list[AuditEntry]:
        """Rows matching ``query``, newest first, at most ``query.limit``."""

    @abstractmethod
    def verify_audit(self) -> AuditVerification:
        """Walk the whole chain from the first row and report the first row that breaks it."""

    # --- failed logins (the login backoff) -------------------------------------------------------

    @abstractmethod
    def login_failures(self, keys: list[str]) -> dict[str, tuple[int, int]]:
        """``key -> (failures, last_failure_at)`` for the keys that have failures recorded."""

    @abstractmethod
    def record_login_failure(self, key: str, *, at: int, reset_before: int) -> int:
        """Count one failure of ``key`` at ``at`` and return its count; a key whose last failure
        is older than ``reset_before`` starts again at 1 (and such stale keys are deleted)."""

    @abstractmethod
    def clear_login_failures(self, key: str) -> None:
        """Forget the failures of ``key`` (after a successful login)."""
