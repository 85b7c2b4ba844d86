"""Tables of the auth aggregate, on the shared ``schema.metadata``.

Migration ``a0001_auth.py`` creates them (written out by hand: a migration is a frozen snapshot);
the contract suite compares the migrated database with these definitions.

Secrets are never stored: ``password_hash`` is an scrypt hash with its salt, ``token_hash``,
``session_hash`` and ``csrf_hash`` are sha256 digests of high-entropy random values.
``audit_log.seq`` is assigned by the appender (head + 1, under a lock), not by the database, so
that a gap left by a deleted row is visible to ``verify``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, String, Table, Text

from modelyard.store.sql.schema import ID_LENGTH, metadata

USERNAME_LENGTH = 256
DIGEST_LENGTH = 64

users = Table(
    "users",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("username", String(USERNAME_LENGTH), nullable=False, unique=True),
    Column("password_hash", Text, nullable=True),
    Column("is_admin", Boolean(create_constraint=False), nullable=False),
    Column("disabled", Boolean(create_constraint=False), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(ID_LENGTH), ForeignKey("users.id"), nullable=False),
    Column("name", String(256), nullable=True),
    Column("token_hash", String(DIGEST_LENGTH), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Column("last_used_at", BigInteger, nullable=True),
    Index("ix_api_tokens_user", "user_id"),
)

project_roles = Table(
    "project_roles",
    metadata,
    Column("user_id", String(ID_LENGTH), ForeignKey("users.id"), primary_key=True),
    Column("project_id", String(ID_LENGTH), primary_key=True),
    Column("role", String(16), nullable=False),
)

auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("session_hash", String(DIGEST_LENGTH), primary_key=True),
    Column("user_id", String(ID_LENGTH), ForeignKey("users.id"), nullable=False),
    Column("csrf_hash", String(DIGEST_LENGTH), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_auth_sessions_expires", "expires_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("actor", String(USERNAME_LENGTH), nullable=False),
    Column("action", String(128), nullable=False),
    Column("object_type", String(64), nullable=False),
    Column("object_id", String(512), nullable=True),
    Column("remote_addr", String(64), nullable=True),
    Column("details", Text, nullable=False),
    Column("hash", String(DIGEST_LENGTH), nullable=False),
    Index("ix_audit_log_actor", "actor", "seq"),
    Index("ix_audit_log_object", "object_type", "object_id", "seq"),
    Index("ix_audit_log_timestamp", "timestamp"),
)

#: Failed logins per throttle key ("user:<name>" or "addr:<address>"), for the login backoff
#: (auth/throttle.py). Kept in the store so every server replica sees the same counts; rows of
#: keys quiet for longer than the reset window are deleted as new failures are recorded.
login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(320), primary_key=True),
    Column("failures", BigInteger, nullable=False),
    Column("last_failure_at", BigInteger, nullable=False),
    Index("ix_login_failures_last", "last_failure_at"),
)
