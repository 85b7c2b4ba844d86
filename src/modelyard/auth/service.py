"""Users, API tokens, login sessions and project roles: the use cases behind every auth check.

The service is framework-free (the HTTP edge in ``server/auth.py`` and the CLI both use it) and
receives its store typed as the ``AuthStore`` interface. Time comes from an injected clock, so
expiry is tested without waiting.

Roles: a user holds at most one role per project (viewer < editor < maintainer < admin) and may
hold one on ``*``, which applies to every project. The effective role in a project is the higher
of the two. Operations that belong to no project (creating a project, for instance) need the
role on ``*``, except reads: any signed-in user may read project-less resources. A user with the
global admin flag passes every check.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from modelyard.auth.credentials import (
    MIN_PASSWORD_LENGTH,
    generate_token,
    hash_password,
    parse_token,
    random_secret,
    same_digest,
    sha256_hex,
    verify_password,
)
from modelyard.core.auth import ALL_PROJECTS, ROLES, ApiToken, RoleBinding, SessionCredential, User, role_rank
from modelyard.core.errors import AlreadyExists, InvalidArgument, ModelyardError, PermissionDenied, Unauthenticated
from modelyard.core.tracking import now_millis
from modelyard.store.auth import AuthStore

_USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
DEFAULT_SESSION_TTL_MS = 12 * 3600 * 1000
#: last_used_at is written at most this often per token, so authentication stays a read.
TOUCH_INTERVAL_MS = 60_000


@dataclass(frozen=True)
class LoginSession:
    """What a successful login hands to the browser: both values are shown once, stored hashed."""

    session_token: str
    csrf_token: str
    user: User
    expires_at: int


def validate_username(username: str) -> str:
    if not isinstance(username, str) or not _USERNAME_RE.match(username):
        raise InvalidArgument(
            f"invalid username {username!r}: 1-128 characters, letters, digits and . _ @ + - "
            "(starting with a letter or digit)"
        )
    return username


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidArgument(f"invalid role {role!r}: one of {', '.join(ROLES)}")
    return role


def _validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidArgument(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
    return password


class AuthService:
    """Everything about who someone is and what they may do."""

    def __init__(
        self,
        store: AuthStore,
        *,
        clock: Callable[[], int] = now_millis,
        session_ttl_ms: int = DEFAULT_SESSION_TTL_MS,
    ) -> None:
        if session_ttl_ms <= 0:
            raise InvalidArgument("session lifetime must be positive")
        self.store = store
        self.clock = clock
        self.session_ttl_ms = session_ttl_ms

    # --- users -------------------------------------------------------------------------------

    def create_user(self, username: str, *, password: str | None = None, is_admin: bool = False) -> User:
        validate_username(username)
        password_hash = hash_password(_validate_password(password)) if password is not None else None
        return self.store.create_user(username, password_hash=password_hash, is_admin=is_admin)

    def set_password(self, username: str, password: str) -> User:
        return self.store.update_user(username, password_hash=hash_password(_validate_password(password)))

    def set_admin(self, username: str, is_admin: bool) -> User:
        return self.store.update_user(username, is_admin=is_admin)

    def set_disabled(self, username: str, disabled: bool) -> User:
        return self.store.update_user(username, disabled=disabled)

    def get_user(self, username: str) -> User:
        return self.store.get_user(username)

    def list_users(self) -> list[User]:
        return self.store.list_users()

    # --- API tokens --------------------------------------------------------------------------

    def create_token(
        self, username: str, *, name: str | None = None, expires_in_ms: int | None = None
    ) -> tuple[str, ApiToken]:
        """A new token for ``username``: returns the secret (shown once) and what is stored."""
        if expires_in_ms is not None and expires_in_ms <= 0:
            raise InvalidArgument("a token's lifetime must be positive")
        if name is not None and len(name) > 256:
            raise InvalidArgument("token name longer than 256 characters")
        expires_at = None if expires_in_ms is None else self.clock() + expires_in_ms
        for _ in range(3):  # a prefix collision is astronomically rare; a new draw fixes it
            new = generate_token()
            try:
                stored = self.store.create_token(
                    username, token_id=new.token_id, token_hash=new.token_hash, name=name, expires_at=expires_at
                )
            except AlreadyExists:
                continue
            return new.secret, stored
        raise AlreadyExists("could not draw an unused token id")

    def revoke_token(self, token: str) -> ApiToken:
        """Revoke by id (the visible prefix) or by the full secret."""
        parsed = parse_token(token)
        return self.store.revoke_token(parsed[0] if parsed else token, revoked_at=self.clock())

    def list_tokens(self, username: str | None = None) -> list[ApiToken]:
        return self.store.list_tokens(username)

    def authenticate_token(self, secret: str) -> User:
        parsed = parse_token(secret)
        if parsed is None:
            raise Unauthenticated("malformed API token")
        token_id, digest = parsed
        found = self.store.get_token_credential(token_id)
        if found is None or not same_digest(found.token_hash, digest):
            raise Unauthenticated("unknown API token")
        now = self.clock()
        if found.token.revoked_at is not None:
            raise Unauthenticated(f"API token {token_id} was revoked")
        if found.token.expires_at is not None and found.token.expires_at <= now:
            raise Unauthenticated(f"API token {token_id} has expired")
        if found.user.disabled:
            raise Unauthenticated(f"user {found.user.username!r} is disabled")
        last = found.token.last_used_at
        if last is None or now - last >= TOUCH_INTERVAL_MS:
            self.store.touch_token(token_id, used_at=now)
        return found.user

    # --- login sessions ----------------------------------------------------------------------

    def login(self, username: str, password: str) -> LoginSession:
        """Check the password and open a session; one message for every failure, so a login form
        does not reveal which usernames exist."""
        failure = Unauthenticated("invalid username or password")
        try:
            user, stored = self.store.get_password_hash(username)
        except ModelyardError:
            verify_password(password, None)  # same cost as a real check
            raise failure from None
        if not verify_password(password, stored) or user.disabled:
            raise failure
        now = self.clock()
        self.store.delete_expired_sessions(now=now)
        session_token, csrf_token = random_secret(), random_secret()
        expires_at = now + self.session_ttl_ms
        self.store.create_session(
            username, session_hash=sha256_hex(session_token), csrf_hash=sha256_hex(csrf_token), expires_at=expires_at
        )
        return LoginSession(session_token=session_token, csrf_token=csrf_token, user=user, expires_at=expires_at)

    def session(self, session_token: str) -> SessionCredential:
        found = self.store.get_session(sha256_hex(session_token), now=self.clock())
        if found is None:
            raise Unauthenticated("session expired or unknown: log in again")
        if found.user.disabled:
            raise Unauthenticated(f"user {found.user.username!r} is disabled")
        return found

    @staticmethod
    def csrf_matches(session: SessionCredential, csrf_token: str | None) -> bool:
        return bool(csrf_token) and same_digest(session.csrf_hash, sha256_hex(csrf_token or ""))

    def logout(self, session_token: str) -> None:
        self.store.delete_session(sha256_hex(session_token))

    # --- roles -------------------------------------------------------------------------------

    def grant_role(self, username: str, project_id: str, role: str) -> RoleBinding:
        return self.store.set_role(username, project_id, validate_role(role))

    def revoke_role(self, username: str, project_id: str) -> bool:
        return self.store.remove_role(username, project_id)

    def list_roles(self, *, username: str | None = None, project_id: str | None = None) -> list[RoleBinding]:
        return self.store.list_roles(username=username, project_id=project_id)

    def effective_role(self, username: str, project_id: str | None) -> str | None:
        """The strongest role ``username`` holds on ``project_id`` (or on every project)."""
        wanted = {ALL_PROJECTS} if project_id is None else {ALL_PROJECTS, project_id}
        held = [b.role for b in self.store.list_roles(username=username) if b.project_id in wanted and b.role in ROLES]
        return max(held, key=role_rank) if held else None

    def visible_project_ids(self, user: User) -> set[str] | None:
        """Projects ``user`` may read; None means all of them (admins, holders of a role on ``*``)."""
        if user.is_admin:
            return None
        bindings = self.store.list_roles(username=user.username)
        if any(b.project_id == ALL_PROJECTS for b in bindings):
            return None
        return {b.project_id for b in bindings}

    def require_role(self, username: str, project_id: str | None, role: str, *, is_admin: bool = False) -> None:
        """PermissionDenied unless ``username`` holds at least ``role`` on ``project_id``.
        ``is_admin`` is the caller's already-known global admin flag (it passes every check)."""
        validate_role(role)
        if is_admin or (project_id is None and role == "viewer"):
            return
        held = self.effective_role(username, project_id)
        if held is None or role_rank(held) < role_rank(role):
            where = "every project" if project_id is None else f"project {project_id}"
            has = f"has {held}" if held else "has no role"
            raise PermissionDenied(f"user {username!r} {has} on {where}; this needs {role}")
