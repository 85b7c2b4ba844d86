"""``SqlAuthStore``: ``modelyard.store.auth.AuthStore`` over the shared ``SqlDatabase``.

Tables live in ``auth_tables.py``; the migration is ``migrations/versions/a0001_auth.py``. Methods
use ``self._read(fn)`` / ``self._write(fn)`` of the shared database (one transaction each,
transient errors retried).

Audit appends must never fork the chain: two writers that both read head N would both write
N + 1. Appends therefore run under a lock taken inside the write transaction before the head is
read: on SQLite, ``BEGIN IMMEDIATE`` (every write transaction of the store) already lets one
writer in at a time; on PostgreSQL a transaction-level advisory lock does, and, unlike
``SELECT ... FOR UPDATE`` on the last row, it also serialises the very first append of an empty
log. The primary key on ``seq`` is the backstop: a forked append fails rather than persists.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.core.auth import (
    GENESIS_HASH,
    ApiToken,
    AuditEntry,
    AuditQuery,
    AuditVerification,
    RoleBinding,
    SessionCredential,
    TokenCredential,
    User,
    audit_entry_hash,
    canonical_details,
)
from modelyard.core.errors import AlreadyExists, InvalidArgument, NotFound
from modelyard.core.ids import new_id
from modelyard.core.tracking import now_millis
from modelyard.store.auth import AuthStore
from modelyard.store.sql.auth_tables import (
    api_tokens,
    audit_log,
    auth_sessions,
    login_failures,
    project_roles,
    users,
)
from modelyard.store.sql.database import SqlAggregateStore, SqlDatabase

#: Key of the PostgreSQL advisory lock that serialises audit appends (any fixed 64-bit int).
AUDIT_LOCK_KEY = 0x6D79_6175_6469_7401
_VERIFY_BATCH = 5_000
_MAX_AUDIT_PAGE = 10_000


def _user_from_row(row: Any) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        is_admin=bool(row["is_admin"]),
        disabled=bool(row["disabled"]),
        has_password=row["password_hash"] is not None,
        created_at=row["created_at"],
    )


def _token_from_row(row: Any) -> ApiToken:
    return ApiToken(
        id=row["id"],
        username=row["username"],
        name=row["name"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


def _audit_from_row(row: Any) -> AuditEntry:
    import json

    return AuditEntry(
        seq=row["seq"],
        timestamp=row["timestamp"],
        actor=row["actor"],
        action=row["action"],
        object_type=row["object_type"],
        object_id=row["object_id"],
        remote_addr=row["remote_addr"],
        details=json.loads(row["details"]),
        hash=row["hash"],
    )


def _row_hash(prev_hash: str, row: Any) -> str:
    return audit_entry_hash(
        prev_hash,
        seq=row.seq,
        timestamp=row.timestamp,
        actor=row.actor,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        remote_addr=row.remote_addr,
        details_json=row.details,
    )


_TOKEN_COLUMNS = (*api_tokens.c, users.c.username)


class SqlAuthStore(SqlAggregateStore, AuthStore):
    """Users, token digests, roles, sessions and the audit chain over SQLAlchemy Core."""

    def __init__(self, db: SqlDatabase) -> None:
        super().__init__(db)
        db.register_check("auth", self._integrity_auth)

    # --- users -------------------------------------------------------------------------------

    @staticmethod
    def _user_row(conn: Connection, username: str) -> Any:
        row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
        if row is None:
            raise NotFound(f"user {username!r} not found")
        return row

    def create_user(self, username: str, *, password_hash: str | None = None, is_admin: bool = False) -> User:
        values = {
            "id": new_id(),
            "username": username,
            "password_hash": password_hash,
            "is_admin": is_admin,
            "disabled": False,
            "created_at": now_millis(),
        }

        def tx(conn: Connection) -> User:
            if conn.execute(select(users.c.id).where(users.c.username == username)).first() is not None:
                raise AlreadyExists(f"user {username!r} already exists")
            conn.execute(users.insert().values(**values))
            return _user_from_row(values)

        try:
            return self._write(tx)
        except IntegrityError:  # a concurrent create of the same name
            raise AlreadyExists(f"user {username!r} already exists") from None

    def get_user(self, username: str) -> User:
        return _user_from_row(self._read(lambda conn: self._user_row(conn, username)))

    def list_users(self) -> list[User]:
        rows = self._read(lambda conn: conn.execute(select(users).order_by(users.c.username)).mappings().all())
        return [_user_from_row(row) for row in rows]

    def update_user(
        self,
        username: str,
        *,
        password_hash: str | None = None,
        is_admin: bool | None = None,
        disabled: bool | None = None,
    ) -> User:
        changes: dict[str, Any] = {}
        if password_hash is not None:
            changes["password_hash"] = password_hash
        if is_admin is not None:
            changes["is_admin"] = is_admin
        if disabled is not None:
            changes["disabled"] = disabled

        def tx(conn: Connection) -> User:
            self._user_row(conn, username)
            if changes:
                conn.execute(update(users).where(users.c.username == username).values(**changes))
            return _user_from_row(self._user_row(conn, username))

        return self._write(tx)

    def get_password_hash(self, username: str) -> tuple[User, str | None]:
        row = self._read(lambda conn: self._user_row(conn, username))
        return _user_from_row(row), row["password_hash"]

    # --- API tokens --------------------------------------------------------------------------

    def create_token(
        self, username: str, *, token_id: str, token_hash: str, name: str | None, expires_at: int | None
    ) -> ApiToken:
        def tx(conn: Connection) -> ApiToken:
            user = self._user_row(conn, username)
            values = {
                "id": token_id,
                "user_id": user["id"],
                "name": name,
                "token_hash": token_hash,
                "created_at": now_millis(),
                "expires_at": expires_at,
                "revoked_at": None,
                "last_used_at": None,
            }
            conn.execute(api_tokens.insert().values(**values))
            return _token_from_row({**values, "username": username})

        try:
            return self._write(tx)
        except IntegrityError:  # 48 random bits collided: vanishingly rare, and the caller may retry
            raise AlreadyExists(f"token id {token_id!r} already exists") from None

    def get_token_credential(self, token_id: str) -> TokenCredential | None:
        stmt = (
            select(
                *_TOKEN_COLUMNS,
                users.c.id.label("uid"),
                users.c.is_admin,
                users.c.disabled,
                users.c.password_hash,
                users.c.created_at.label("user_created_at"),
            )
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(api_tokens.c.id == token_id)
        )
        row = self._read(lambda conn: conn.execute(stmt).mappings().first())
        if row is None:
            return None
        user = User(
            id=row["uid"],
            username=row["username"],
            is_admin=bool(row["is_admin"]),
            disabled=bool(row["disabled"]),
            has_password=row["password_hash"] is not None,
            created_at=row["user_created_at"],
        )
        return TokenCredential(token=_token_from_row(row), user=user, token_hash=row["token_hash"])

    def list_tokens(self, username: str | None = None) -> list[ApiToken]:
        stmt = (
            select(*_TOKEN_COLUMNS)
            .join(users, users.c.id == api_tokens.c.user_id)
            .order_by(api_tokens.c.created_at.desc(), api_tokens.c.id)
        )
        if username is not None:
            stmt = stmt.where(users.c.username == username)

        def tx(conn: Connection) -> list[ApiToken]:
            if username is not None:
                self._user_row(conn, username)
            return [_token_from_row(row) for row in conn.execute(stmt).mappings()]

        return self._read(tx)

    def revoke_token(self, token_id: str, *, revoked_at: int) -> ApiToken:
        def tx(conn: Connection) -> ApiToken:
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=revoked_at)
            )
            stmt = select(*_TOKEN_COLUMNS).join(users, users.c.id == api_tokens.c.user_id)
            row = conn.execute(stmt.where(api_tokens.c.id == token_id)).mappings().first()
            if row is None:
                raise NotFound(f"token {token_id!r} not found")
            return _token_from_row(row)

        return self._write(tx)

    def touch_token(self, token_id: str, *, used_at: int) -> None:
        self._write(
            lambda conn: conn.execute(
                update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=used_at)
            )
        )

    # --- roles -------------------------------------------------------------------------------

    def set_role(self, username: str, project_id: str, role: str) -> RoleBinding:
        def tx(conn: Connection) -> RoleBinding:
            user_id = self._user_row(conn, username)["id"]
            key = and_(project_roles.c.user_id == user_id, project_roles.c.project_id == project_id)
            if conn.execute(select(project_roles.c.role).where(key)).first() is None:
                conn.execute(project_roles.insert().values(user_id=user_id, project_id=project_id, role=role))
            else:
                conn.execute(update(project_roles).where(key).values(role=role))
            return RoleBinding(username=username, project_id=project_id, role=role)

        return self._write(tx)

    def remove_role(self, username: str, project_id: str) -> bool:
        def tx(conn: Connection) -> bool:
            user_id = self._user_row(conn, username)["id"]
            result = conn.execute(
                delete(project_roles).where(
                    project_roles.c.user_id == user_id, project_roles.c.project_id == project_id
                )
            )
            return bool(result.rowcount)

        return self._write(tx)

    def list_roles(self, *, username: str | None = None, project_id: str | None = None) -> list[RoleBinding]:
        stmt = (
            select(users.c.username, project_roles.c.project_id, project_roles.c.role)
            .join(users, users.c.id == project_roles.c.user_id)
            .order_by(users.c.username, project_roles.c.project_id)
        )
        if username is not None:
            stmt = stmt.where(users.c.username == username)
        if project_id is not None:
            stmt = stmt.where(project_roles.c.project_id == project_id)
        rows = self._read(lambda conn: conn.execute(stmt).mappings().all())
        return [RoleBinding(**row) for row in rows]

    # --- login sessions ----------------------------------------------------------------------

    def create_session(self, username: str, *, session_hash: str, csrf_hash: str, expires_at: int) -> None:
        def tx(conn: Connection) -> None:
            user_id = self._user_row(conn, username)["id"]
            conn.execute(
                auth_sessions.insert().values(
                    session_hash=session_hash,
                    user_id=user_id,
                    csrf_hash=csrf_hash,
                    created_at=now_millis(),
                    expires_at=expires_at,
                )
            )

        self._write(tx)

    def get_session(self, session_hash: str, *, now: int) -> SessionCredential | None:
        stmt = (
            select(users, auth_sessions.c.csrf_hash, auth_sessions.c.expires_at)
            .join(users, users.c.id == auth_sessions.c.user_id)
            .where(auth_sessions.c.session_hash == session_hash, auth_sessions.c.expires_at > now)
        )
        row = self._read(lambda conn: conn.execute(stmt).mappings().first())
        if row is None:
            return None
        return SessionCredential(user=_user_from_row(row), csrf_hash=row["csrf_hash"], expires_at=row["expires_at"])

    def delete_session(self, session_hash: str) -> None:
        self._write(
            lambda conn: conn.execute(delete(auth_sessions).where(auth_sessions.c.session_hash == session_hash))
        )

    def delete_expired_sessions(self, *, now: int) -> int:
        result = self._write(lambda conn: conn.execute(delete(auth_sessions).where(auth_sessions.c.expires_at <= now)))
        return int(result.rowcount)

    # --- audit log ---------------------------------------------------------------------------

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
        try:
            details_json = canonical_details(details)
        except ValueError as exc:
            raise InvalidArgument(f"audit details are not JSON: {exc}") from None
        if not actor or not action or not object_type:
            raise InvalidArgument("an audit entry needs an actor, an action and an object type")

        def tx(conn: Connection) -> AuditEntry:
            if self._dialect == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK_KEY,))
            head = conn.execute(
                select(audit_log.c.seq, audit_log.c.timestamp, audit_log.c.hash)
                .order_by(audit_log.c.seq.desc())
                .limit(1)
            ).first()
            prev_seq, prev_ts, prev_hash = head if head is not None else (0, timestamp, GENESIS_HASH)
            seq, at = int(prev_seq) + 1, max(timestamp, int(prev_ts))
            digest = audit_entry_hash(
                str(prev_hash),
                seq=seq,
                timestamp=at,
                actor=actor,
                action=action,
                object_type=object_type,
                object_id=object_id,
                remote_addr=remote_addr,
                details_json=details_json,
            )
            row = {
                "seq": seq,
                "timestamp": at,
                "actor": actor,
                "action": action,
                "object_type": object_type,
                "object_id": object_id,
                "remote_addr": remote_addr,
                "details": details_json,
                "hash": digest,
            }
            conn.execute(audit_log.insert().values(**row))
            return _audit_from_row(row)

        return self._write(tx)

    def list_audit(self, query: AuditQuery) -> list[AuditEntry]:
        if not 0 < query.limit <= _MAX_AUDIT_PAGE:
            raise InvalidArgument(f"limit must be between 1 and {_MAX_AUDIT_PAGE}, got {query.limit}")
        col = audit_log.c
        conditions = []
        for column, value in (
            (col.actor, query.actor),
            (col.object_type, query.object_type),
            (col.object_id, query.object_id),
            (col.action, query.action),
        ):
            if value is not None:
                conditions.append(column == value)
        if query.since is not None:
            conditions.append(col.timestamp >= query.since)
        if query.until is not None:
            conditions.append(col.timestamp < query.until)
        if query.before_seq is not None:
            conditions.append(col.seq < query.before_seq)
        stmt = select(audit_log).where(and_(True, *conditions)).order_by(col.seq.desc()).limit(query.limit)
        rows = self._read(lambda conn: conn.execute(stmt).mappings().all())
        return [_audit_from_row(row) for row in rows]

    def verify_audit(self) -> AuditVerification:
        return self._read(_verify_chain)

    # --- failed logins (the login backoff; see auth/throttle.py) -----------------------------------

    def login_failures(self, keys: list[str]) -> dict[str, tuple[int, int]]:
        if not keys:
            return {}
        t = login_failures.c
        stmt = select(t.key, t.failures, t.last_failure_at).where(t.key.in_(keys))
        return self._read(lambda conn: {row[0]: (row[1], row[2]) for row in conn.execute(stmt)})

    def record_login_failure(self, key: str, *, at: int, reset_before: int) -> int:
        t = login_failures.c

        def tx(conn: Connection) -> int:
            conn.execute(delete(login_failures).where(t.last_failure_at < reset_before, t.key != key))
            from sqlalchemy.dialects import postgresql, sqlite

            insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            stmt = insert(login_failures).values(key=key, failures=1, last_failure_at=at)
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.key],
                set_={
                    "failures": case((t.last_failure_at < reset_before, 1), else_=t.failures + 1),
                    "last_failure_at": func.max(t.last_failure_at, at)
                    if conn.dialect.name == "sqlite"
                    else func.greatest(t.last_failure_at, at),
                },
            )
            conn.execute(stmt)
            return int(conn.execute(select(t.failures).where(t.key == key)).scalar_one())

        return self._write(tx)

    def clear_login_failures(self, key: str) -> None:
        self._write(lambda conn: conn.execute(delete(login_failures).where(login_failures.c.key == key)))

    @staticmethod
    def _integrity_auth(conn: Connection) -> list[str]:
        """``db check``: the audit chain is intact and every role names a known project."""
        problems = []
        result = _verify_chain(conn)
        if not result.ok:
            problems.append(f"audit log: {result.problem}")
        from modelyard.store.sql.schema import projects

        orphans = conn.execute(
            select(func.count())
            .select_from(project_roles)
            .where(project_roles.c.project_id != "*", project_roles.c.project_id.not_in(select(projects.c.id)))
        ).scalar_one()
        if orphans:
            problems.append(f"project_roles: {orphans} role(s) name a project that does not exist")
        return problems


def _verify_chain(conn: Connection) -> AuditVerification:
    """Walk the chain in ``seq`` order, in batches (the log may be large), recomputing each hash
    from the previous row's. Stops at the first row that does not verify."""
    prev_seq, prev_hash, checked = 0, GENESIS_HASH, 0
    columns = select(audit_log).order_by(audit_log.c.seq)
    while True:
        batch = conn.execute(columns.where(audit_log.c.seq > prev_seq).limit(_VERIFY_BATCH)).all()
        if not batch:
            return AuditVerification(ok=True, checked=checked, head_seq=prev_seq, head_hash=prev_hash)
        for row in batch:
            problem = None
            if row.seq != prev_seq + 1:
                missing = f"{prev_seq + 1}" if row.seq == prev_seq + 2 else f"{prev_seq + 1}..{row.seq - 1}"
                problem = f"row {row.seq}: row(s) {missing} before it are missing (deleted)"
            elif _row_hash(prev_hash, row) != row.hash:
                problem = (
                    f"row {row.seq}: its content does not match its hash "
                    "(this row was edited, or the previous row was rewritten)"
                )
            if problem is not None:
                return AuditVerification(
                    ok=False,
                    checked=checked,
                    head_seq=prev_seq,
                    head_hash=prev_hash,
                    broken_seq=row.seq,
                    problem=problem,
                )
            prev_seq, prev_hash, checked = row.seq, row.hash, checked + 1
