"""modelyard models: list, versions, show, transition, approve, alias, history, decommission, policy, purge.

``register(app)`` adds this module's commands to the root Typer app; heavy imports stay inside
the commands so that ``modelyard --help`` stays fast. Every command prints a table, or JSON with
``--json``; errors are one line on stderr and a non-zero exit, and change nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelyard.cli._options import JsonOpt, ReasonOpt, StoreOpt, UserOpt
from modelyard.cli._output import console, errors_as_exit, fail, fmt_time, print_json, table
from modelyard.cli._parsers import OptionalVersionArg, VersionArg
from modelyard.core.validation import INT64_MAX, MAX_VERSION, bounded_int

if TYPE_CHECKING:
    from modelyard.registry.service import RegistryService

models_app = typer.Typer(
    help="The model registry: versions, lifecycle, approvals, aliases, history.", no_args_is_help=True
)



def _registry(store: str | None) -> RegistryService:
    """The registry over an existing store (``cli_stores``: no command here creates one)."""
    from modelyard.cli._stores import cli_stores, feature_service
    from modelyard.sdk.features import release_checks
    from modelyard.sdk.models import RegistryClient

    with errors_as_exit():
        stores = cli_stores(store)
        checks = release_checks(stores, lambda: feature_service(store))
        return RegistryClient(stores=stores, release_checks=checks)


def _user(user: str | None) -> str:
    from modelyard.sdk.models import current_user

    return user or current_user()


def _parse_at(text: str) -> int:
    """Milliseconds since the epoch from an ISO date/time (UTC unless it says otherwise) or an
    integer. A bare date means the end of that day: "in production on 2026-03-01"."""
    if text.isdigit():
        return bounded_int(text, "--at", low=0, high=INT64_MAX)
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC)
        else:
            moment = dt.datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
    except ValueError:
        fail(f"invalid date {text!r}: use YYYY-MM-DD, an ISO date-time, or milliseconds since the epoch", 2)
    return int(moment.timestamp() * 1000)


def _version_row(v: Any) -> tuple[Any, ...]:
    return (
        v.version,
        v.state.value,
        ",".join(v.aliases),
        v.flavor,
        v.run_id or "",
        v.created_by,
        fmt_time(v.created_at),
    )


_VERSION_COLUMNS = ["version", "state", "aliases", "flavor", "run", "by", "created"]


@models_app.command("list")
def models_list(
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only this project's models.")] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """List registered models."""
    registry = _registry(store)
    with errors_as_exit():
        models = registry.list_models(project)
        production = {m.name: registry.list_versions(m.name, ["production"]) for m in models}
    if json:
        print_json([m.model_dump(mode="json") for m in models])
        return
    rows = [
        (m.name, m.latest_version, ",".join(str(v.version) for v in production[m.name]), m.created_by, m.description)
        for m in models
    ]
    table(f"Models ({len(models)})", ["name", "versions", "production", "by", "description"], rows)


@models_app.command("versions")
def models_versions(
    name: str,
    state: Annotated[list[str] | None, typer.Option("--state", "-s", help="Only these states (repeatable).")] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """List the versions of a model, newest first."""
    registry = _registry(store)
    with errors_as_exit():
        versions = registry.list_versions(name, state or None)
    if json:
        print_json([v.model_dump(mode="json") for v in versions])
        return
    table(f"{name}: versions", _VERSION_COLUMNS, [_version_row(v) for v in versions])


@models_app.command("show")
def models_show(
    reference: Annotated[str, typer.Argument(help="NAME, NAME@3, NAME@champion, NAME@latest, NAME@production")],
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show a model, or one version with its signature, approvals and files."""
    registry = _registry(store)
    with errors_as_exit():
        if "@" not in reference:
            model = registry.get_model(reference)
            versions = registry.list_versions(reference)
            if json:
                print_json({**model.model_dump(mode="json"), "versions": [v.model_dump(mode="json") for v in versions]})
                return
            table(
                f"Model {model.name}",
                ["field", "value"],
                [("project_id", model.project_id), ("created", fmt_time(model.created_at)),
                 ("by", model.created_by), ("description", model.description)],
            )  # fmt: skip
            table("Versions", _VERSION_COLUMNS, [_version_row(v) for v in versions])
            return
        version = registry.resolve(reference)
        approvals = registry.approvals(version.model_name, version.version)
        files = registry.store.list_model_files(version.model_name, version.version)
    if json:
        data = version.model_dump(mode="json")
        data["approvals"] = [a.model_dump(mode="json") for a in approvals]
        data["files"] = [f.model_dump(mode="json") for f in files]
        print_json(data)
        return
    table(
        f"{version.model_name} version {version.version}",
        ["field", "value"],
        [
            ("state", version.state.value),
            ("aliases", ", ".join(version.aliases)),
            ("flavor", version.flavor),
            ("run", version.run_id),
            ("package", version.manifest_digest),
            ("size", version.size),
            ("created", f"{fmt_time(version.created_at)} by {version.created_by}"),
            ("description", version.description),
            ("signature", version.signature),
        ],
    )
    if approvals:
        table("Approvals", ["approver", "at", "comment"], [(a.approver, fmt_time(a.at), a.comment) for a in approvals])


@models_app.command("transition")
def models_transition(
    name: str,
    version: VersionArg,
    state: Annotated[str, typer.Argument(help="draft, staging, production, archived or decommissioned")],
    reason: ReasonOpt = None,
    user: UserOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Move a version to another lifecycle state (the state machine and approval policy apply)."""
    registry = _registry(store)
    with errors_as_exit():
        moved = registry.transition(name, version, state, actor=_user(user), reason=reason)
    if json:
        print_json(moved.model_dump(mode="json"))
        return
    console.print(f"{name} version {version} is now {moved.state.value}")


@models_app.command("approve")
def models_approve(
    name: str,
    version: VersionArg,
    comment: Annotated[str | None, typer.Option("--comment", "-c", help="Recorded with the approval.")] = None,
    user: UserOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Approve a version for production (as a maintainer of its project)."""
    registry = _registry(store)
    with errors_as_exit():
        approval = registry.approve(name, version, approver=_user(user), comment=comment)
    if json:
        print_json(approval.model_dump(mode="json"))
        return
    console.print(f"{approval.approver} approved {name} version {version}")


@models_app.command("alias")
def models_alias(
    name: str,
    alias: str,
    version: OptionalVersionArg = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
    reason: ReasonOpt = None,
    user: UserOpt = None,
    store: StoreOpt = None,
) -> None:
    """Point an alias (champion, challenger, ...) at a version, or remove it with --delete."""
    if delete == (version is not None):
        fail("give either a VERSION to point the alias at, or --delete", 2)
    registry = _registry(store)
    with errors_as_exit():
        if delete:
            registry.delete_alias(name, alias, actor=_user(user), reason=reason)
            console.print(f"removed alias {alias} of {name}")
            return
        assert version is not None
        registry.set_alias(name, alias, version, actor=_user(user), reason=reason)
    console.print(f"{name}@{alias} -> version {version}")


@models_app.command("history")
def models_history(
    name: str,
    version: Annotated[
        int | None, typer.Option("--version", "-v", min=1, max=MAX_VERSION, help="Only this version's events.")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Instead: which versions were in --state at this date/time.")
    ] = None,
    state: Annotated[str, typer.Option("--state", "-s", help="The state asked about with --at.")] = "production",
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """The audit trail (who, when, why), or with --at, what was in production (or --state) then."""
    registry = _registry(store)
    if at is not None:
        moment = _parse_at(at)
        with errors_as_exit():
            versions = registry.in_state_at(name, state, moment)
        if json:
            print_json([v.model_dump(mode="json") for v in versions])
            return
        table(f"{name}: in {state} at {fmt_time(moment)} UTC", _VERSION_COLUMNS, [_version_row(v) for v in versions])
        return
    with errors_as_exit():
        events = registry.history(name, version)
    if json:
        print_json([e.model_dump(mode="json") for e in events])
        return
    rows = [
        (
            fmt_time(e.at),
            e.version,
            e.kind.value,
            _change(e),
            e.actor,
            e.reason,
        )
        for e in events
    ]
    table(f"{name}: history", ["at (UTC)", "version", "event", "change", "by", "reason"], rows)


def _change(event: Any) -> str:
    """One readable cell: 'staging -> production', 'champion: v1 -> v2', 'champion removed'."""
    if event.to_state is not None:
        return f"{event.from_state.value if event.from_state else ''} -> {event.to_state.value}".strip()
    if event.alias is not None and event.kind.value == "alias_set":
        before = f"v{event.from_version} " if event.from_version is not None else ""
        return f"{event.alias}: {before}-> v{event.version}"
    if event.alias is not None:
        return f"{event.alias} removed (was v{event.from_version})"
    return ""


@models_app.command("decommission")
def models_decommission(
    name: str,
    version: VersionArg,
    reason: ReasonOpt = None,
    user: UserOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Retire a version: aliases removed, artifacts deleted after the project's retention period."""
    registry = _registry(store)
    with errors_as_exit():
        done = registry.decommission(name, version, actor=_user(user), reason=reason)
    if json:
        print_json(done.model_dump(mode="json"))
        return
    keep = f"until {fmt_time(done.purge_after)} UTC" if done.purge_after is not None else "forever"
    console.print(f"{name} version {version} is decommissioned; its artifacts are kept {keep}")


@models_app.command("policy")
def models_policy(
    project: str,
    approvals: Annotated[
        int | None, typer.Option("--approvals", min=0, max=100, help="Approvals needed before production.")
    ] = None,
    retention_days: Annotated[
        int | None,
        typer.Option(
            "--retention-days", min=0, max=1_000_000, help="Days to keep a decommissioned version's artifacts."
        ),
    ] = None,
    keep_forever: Annotated[bool, typer.Option("--keep-forever", help="Never purge artifacts.")] = False,
    user: UserOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show a project's registry policy, or change it with the options."""
    registry = _registry(store)
    with errors_as_exit():
        if approvals is None and retention_days is None and not keep_forever:
            policy = registry.get_policy(project)
        else:
            retention: int | str | None = (
                None if keep_forever else ("keep" if retention_days is None else retention_days)
            )
            policy = registry.set_policy(
                project, actor=_user(user), required_approvals=approvals, retention_days=retention
            )
    if json:
        print_json(policy.model_dump(mode="json"))
        return
    keep = "forever" if policy.retention_days is None else f"{policy.retention_days} day(s)"
    console.print(f"{project}: {policy.required_approvals} approval(s) before production; artifacts kept {keep}")


@models_app.command("purge")
def models_purge(json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Delete the artifacts of decommissioned versions whose retention period has ended."""
    registry = _registry(store)
    with errors_as_exit():
        purged = registry.purge_expired()
    if json:
        print_json([v.model_dump(mode="json") for v in purged])
        return
    console.print(f"purged the artifacts of {len(purged)} version(s)")


def register(app: typer.Typer) -> None:
    """Add ``modelyard models ...`` to the root app."""
    app.add_typer(models_app, name="models")
