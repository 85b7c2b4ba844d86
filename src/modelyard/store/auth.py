"""Users, hashed API tokens, project roles, login sessions and the hash-chained audit log.

The interface of this aggregate's metadata store. store/sql/auth.py implements it as a
``SqlAuthStore`` over the shared ``SqlDatabase``; services (``modelyard.auth``) receive it typed as this ABC.

The store never sees a secret: passwords arrive already hashed (scrypt, by the service), API
tokens and session ids as sha256 digests. A database dump therefore grants nobody access.

The entities, and the one definition of the audit chain's hash, are in ``modelyard.core.auth``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from modelyard.core.auth import (
    ApiToken,
    AuditEntry,
    AuditQuery,
    AuditVerification,
    RoleBinding,
    SessionCredential,
    TokenCredential,
    User,
)


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
