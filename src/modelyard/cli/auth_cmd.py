"""modelyard users / tokens / roles / audit: administration of a server's authentication.

These commands open the metadata store directly (like ``db check``): whoever can run them already
holds the database credentials, which is what makes them the way to create the first admin.
Changes they make are written to the audit trail as ``cli:<operating-system user>``.

``register(app)`` adds this module's commands to the root Typer app; heavy imports stay inside
the commands so that ``modelyard --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelyard.cli._options import JsonOpt, StoreOpt
from modelyard.cli._output import console, errors_as_exit, fail, fmt_time, print_json, table
from modelyard.cli._parsers import count_option

if TYPE_CHECKING:
    from modelyard.auth import AuditLog, AuthService
    from modelyard.store.auth import AuthStore
    from modelyard.store.interfaces import ProjectStore

users_app = typer.Typer(help="Users of a server with auth on: create, list, update.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True)
roles_app = typer.Typer(help="Project roles (viewer < editor < maintainer < admin).", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail: list, verify.", no_args_is_help=True)

ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project name or id, or '*' for every project.")]


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(roles_app, name="roles")
    app.add_typer(audit_app, name="audit")


# --- plumbing --------------------------------------------------------------------------------


class _Ctx:
    """The store and the two services, opened once per command."""

    def __init__(self, store: AuthStore, projects: ProjectStore) -> None:
        from modelyard.auth import AuditLog, AuthService

        self.store = store
        self.projects = projects
        self.auth: AuthService = AuthService(store)
        self.audit: AuditLog = AuditLog(store)

    def record(self, action: str, object_type: str, object_id: str | None, **details: Any) -> None:
        self.audit.record(cli_actor(), action, object_type, object_id, details)


@contextmanager
def _opened(store_uri: str | None, *, create: bool = False) -> Iterator[_Ctx]:
    """The auth and project stores of an existing store (``create``: ``users create`` may start one)."""
    from modelyard.cli._stores import cli_settings
    from modelyard.store.bundle import open_stores

    with errors_as_exit(), open_stores(cli_settings(store_uri), create=create) as stores:
        yield _Ctx(stores.auth, stores.tracking)


def cli_actor() -> str:
    """Who ran the command, for the audit trail (the OS account; no environment variable)."""
    import os

    try:
        import pwd

        return f"cli:{pwd.getpwuid(os.getuid()).pw_name}"
    except (ImportError, KeyError, AttributeError):
        return "cli"


def _project_id(ctx: _Ctx, project: str) -> str:
    """'*', a project id, or a project name -> the id roles are stored under."""
    from modelyard.core.auth import ALL_PROJECTS
    from modelyard.core.errors import NotFound

    if project == ALL_PROJECTS:
        return project
    try:
        return str(ctx.projects.get_project(project).id)
    except NotFound:
        return str(ctx.projects.get_project_by_name(project).id)


def _read_password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        fail("no terminal to ask for a password: use --password-stdin or --no-password")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


# --- users -----------------------------------------------------------------------------------


@users_app.command("create")
def users_create(
    username: str,
    admin: Annotated[bool, typer.Option("--admin", help="Administrator of the whole server.")] = False,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    no_password: Annotated[bool, typer.Option("--no-password", help="Token-only user (no login).")] = False,
    store: StoreOpt = None,
) -> None:
    """Create a user (asks for a password unless --no-password)."""
    password = None if no_password else _read_password(password_stdin)
    with _opened(store, create=True) as ctx, errors_as_exit():
        user = ctx.auth.create_user(username, password=password, is_admin=admin)
        ctx.record("user.create", "user", user.username, is_admin=admin, password=password is not None)
    console.print(f"created user {user.username}{' (admin)' if admin else ''}")


@users_app.command("list")
def users_list(json: JsonOpt = False, store: StoreOpt = None) -> None:
    """List users."""
    with _opened(store) as ctx, errors_as_exit():
        users = ctx.auth.list_users()
    if json:
        print_json([u.model_dump(mode="json") for u in users])
        return
    rows = [
        (
            u.username,
            "yes" if u.is_admin else "",
            "disabled" if u.disabled else "active",
            "yes" if u.has_password else "",
            fmt_time(u.created_at),
        )
        for u in users
    ]
    table(f"Users ({len(users)})", ["username", "admin", "status", "password", "created"], rows)


@users_app.command("update")
def users_update(
    username: str,
    admin: Annotated[bool | None, typer.Option("--admin/--no-admin", help="Grant or drop server admin.")] = None,
    disabled: Annotated[bool | None, typer.Option("--disable/--enable", help="Refuse or allow all access.")] = None,
    password: Annotated[bool, typer.Option("--password", help="Set a new password (asked for).")] = False,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read a new password from stdin.")] = False,
    store: StoreOpt = None,
) -> None:
    """Change a user's admin flag, status or password."""
    if admin is None and disabled is None and not (password or password_stdin):
        fail("nothing to change: give --admin/--no-admin, --disable/--enable or --password")
    secret = _read_password(password_stdin) if (password or password_stdin) else None
    with _opened(store) as ctx, errors_as_exit():
        ctx.auth.get_user(username)
        if secret is not None:
            ctx.auth.set_password(username, secret)
        if admin is not None:
            ctx.auth.set_admin(username, admin)
        if disabled is not None:
            ctx.auth.set_disabled(username, disabled)
        ctx.record("user.update", "user", username, is_admin=admin, disabled=disabled, password=secret is not None)
    console.print(f"updated user {username}")


# --- tokens ----------------------------------------------------------------------------------


@tokens_app.command("create")
def tokens_create(
    username: str,
    name: Annotated[str | None, typer.Option("--name", help="What the token is for.")] = None,
    expires_in: Annotated[str | None, typer.Option("--expires-in", help="e.g. 12h, 30d (default: never).")] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Create an API token for a user. The token is printed once: it is not stored anywhere."""
    from modelyard.auth.timeparse import parse_duration_ms

    with _opened(store) as ctx, errors_as_exit():
        lifetime = parse_duration_ms(expires_in) if expires_in else None
        secret, token = ctx.auth.create_token(username, name=name, expires_in_ms=lifetime)
        ctx.record("token.create", "token", token.id, owner=username, name=name, expires_at=token.expires_at)
    if json:
        print_json({"token": secret, **token.model_dump(mode="json")})
        return
    console.print(
        f"token {token.id} for {username}{f', expires {fmt_time(token.expires_at)} UTC' if token.expires_at else ''}"
    )
    console.print("store it now, it cannot be shown again:")
    sys.stdout.write(secret + "\n")


@tokens_app.command("list")
def tokens_list(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's tokens.")] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """List tokens (ids only: secrets are never stored)."""
    with _opened(store) as ctx, errors_as_exit():
        tokens = ctx.auth.list_tokens(user)
        now = ctx.auth.clock()
    if json:
        print_json([t.model_dump(mode="json") for t in tokens])
        return

    def status(t: Any) -> str:
        if t.revoked_at is not None:
            return "revoked"
        return "expired" if t.expires_at is not None and t.expires_at <= now else "active"

    rows = [
        (
            t.id,
            t.username,
            t.name or "",
            status(t),
            fmt_time(t.created_at),
            fmt_time(t.expires_at),
            fmt_time(t.last_used_at),
        )
        for t in tokens
    ]
    table(f"Tokens ({len(tokens)})", ["id", "user", "name", "status", "created", "expires", "last used"], rows)


@tokens_app.command("revoke")
def tokens_revoke(
    token: Annotated[str, typer.Argument(help="Token id (or the token itself).")], store: StoreOpt = None
) -> None:
    """Revoke a token: every request with it is refused from now on."""
    with _opened(store) as ctx, errors_as_exit():
        revoked = ctx.auth.revoke_token(token)
        ctx.record("token.revoke", "token", revoked.id, owner=revoked.username)
    console.print(f"revoked token {revoked.id} of {revoked.username}")


# --- roles -----------------------------------------------------------------------------------


@roles_app.command("grant")
def roles_grant(
    username: str,
    role: Annotated[str, typer.Argument(help="viewer, editor, maintainer or admin")],
    project: ProjectOpt,
    store: StoreOpt = None,
) -> None:
    """Give a user a role on a project (replacing the role they had there)."""
    with _opened(store) as ctx, errors_as_exit():
        project_id = _project_id(ctx, project)
        binding = ctx.auth.grant_role(username, project_id, role)
        ctx.record("role.grant", "user", username, project_id=project_id, role=role)
    console.print(f"{binding.username} is {binding.role} on {project}")


@roles_app.command("revoke")
def roles_revoke(username: str, project: ProjectOpt, store: StoreOpt = None) -> None:
    """Remove a user's role on a project."""
    with _opened(store) as ctx, errors_as_exit():
        project_id = _project_id(ctx, project)
        removed = ctx.auth.revoke_role(username, project_id)
        if removed:
            ctx.record("role.revoke", "user", username, project_id=project_id)
    if not removed:
        fail(f"{username} has no role on {project}")
    console.print(f"{username} has no role on {project} any more")


@roles_app.command("list")
def roles_list(
    user: Annotated[str | None, typer.Option("--user", "-u")] = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Project name or id, or '*'.")] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """List role bindings."""
    with _opened(store) as ctx, errors_as_exit():
        project_id = _project_id(ctx, project) if project else None
        bindings = ctx.auth.list_roles(username=user, project_id=project_id)
        names = {p.id: p.name for p in ctx.projects.list_projects(include_deleted=True)}
    if json:
        print_json([b.model_dump(mode="json") for b in bindings])
        return
    rows = [(b.username, b.role, names.get(b.project_id, b.project_id), b.project_id) for b in bindings]
    table(f"Roles ({len(bindings)})", ["user", "role", "project", "project_id"], rows)


# --- audit -----------------------------------------------------------------------------------


@audit_app.command("list")
def audit_list(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only entries by this user.")] = None,
    object_type: Annotated[str | None, typer.Option("--object-type", "-t", help="e.g. run, project, token.")] = None,
    object_id: Annotated[str | None, typer.Option("--object", "-o", help="Only entries about this object id.")] = None,
    action: Annotated[str | None, typer.Option("--action", "-a")] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO-8601, epoch ms, or ago: 2h, 7d.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="ISO-8601, epoch ms, or ago (exclusive).")] = None,
    limit: Annotated[int, count_option("--limit", "-n", maximum=1000)] = 100,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """List audit entries, newest first."""
    from modelyard.auth.timeparse import parse_time_ms
    from modelyard.core.auth import AuditQuery

    with _opened(store) as ctx, errors_as_exit():
        now = ctx.auth.clock()
        query = AuditQuery(
            actor=user,
            object_type=object_type,
            object_id=object_id,
            action=action,
            since=parse_time_ms(since, "--since", now_ms=now),
            until=parse_time_ms(until, "--until", now_ms=now),
            limit=limit,
        )
        entries = ctx.audit.list(query)
    if json:
        print_json([e.model_dump(mode="json") for e in entries])
        return
    rows = [
        (
            e.seq,
            fmt_time(e.timestamp),
            e.actor,
            e.action,
            e.object_type,
            e.object_id or "",
            e.remote_addr or "",
            _short_details(e.details),
        )
        for e in entries
    ]
    table(f"Audit ({len(entries)})", ["seq", "time (UTC)", "user", "action", "type", "object", "from", "details"], rows)


def _short_details(details: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in details.items())
    return text if len(text) <= 60 else text[:57] + "..."


@audit_app.command("verify")
def audit_verify(
    expect_head: Annotated[
        str | None, typer.Option("--expect-head", help="SEQ:HASH printed by an earlier verify (detects truncation).")
    ] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Walk the hash chain; exit 1 and name the first broken row if any entry was edited or deleted."""
    from modelyard.auth import parse_head

    with _opened(store) as ctx, errors_as_exit():
        head = parse_head(expect_head) if expect_head else None
        result = ctx.audit.verify(head)
    if json:
        print_json(
            {
                "ok": result.ok,
                "checked": result.checked,
                "head_seq": result.head_seq,
                "head_hash": result.head_hash,
                "broken_seq": result.broken_seq,
                "problem": result.problem,
            }
        )
    elif result.ok:
        console.print(
            f"[green]ok[/]: {result.checked} audit entries verified; head {result.head_seq}:{result.head_hash}"
        )
    if not result.ok:
        if not json:
            fail(f"audit log tampered: {result.problem}; the {result.checked} row(s) before it verify")
        raise typer.Exit(1)
